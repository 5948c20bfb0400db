//! `/healthz` (the process is up; never touches the database) and `/readyz` (the database
//! answers and its migrations are current).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;

/// `GET /healthz`
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 with the backend and migration count, or 503 with the reason.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.config().backend.name();
    let result = state.db(|conn| crate::db::migration_status(conn).map_err(Into::into)).await;
    match result {
        Ok((applied, false)) => {
            HttpResponse::Ok().json(json!({"status": "ok", "database": backend, "migrations": applied}))
        }
        Ok((applied, true)) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(json!({"status": "migrations_pending", "database": backend, "migrations": applied})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({"status": "database_unavailable", "database": backend}))
        }
    }
}
