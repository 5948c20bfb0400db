//! The one application error type.
//!
//! Handlers and services return [`AppError`]. Each variant carries a plain message that is
//! safe to show; causes (`Internal`, `Unavailable`) are logged with the request id by the
//! error-rendering middleware (`web::middleware::render_errors`) and never shown. HTML routes
//! get a styled error page, `/api/` routes get `{"error": {"code", "message"}}`.
//!
//! Form validation is not an error path: a bad form re-renders itself with messages beside
//! the fields (see `web::form`). `Invalid` is for APIs, which answer 422 with field details.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// One field's problem, for API validation errors.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// The field name as sent.
    pub field: String,
    /// What is wrong, in plain words.
    pub message: String,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The thing does not exist, or is outside the caller's scope (never 403 for tenant data).
    #[error("not found")]
    NotFound,
    /// Signed in, but this action is not allowed (CSRF failures and internal-only pages).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Not signed in or no valid API key.
    #[error("unauthorized")]
    Unauthorized,
    /// The request is malformed; the message says how.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// API input failed validation.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The request conflicts with the current state (e.g. editing an issued invoice).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too many attempts; try again after the given seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until a retry may succeed.
        retry_after: u64,
        /// Shown to the user.
        message: String,
    },
    /// The database (or another dependency) is down or saturated; the cause is logged.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; the cause is logged, the user sees a generic message.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Seconds clients are told to wait after a 503.
pub const RETRY_AFTER_UNAVAILABLE: u64 = 5;

impl AppError {
    /// An internal error from anything displayable.
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        AppError::Internal(anyhow::anyhow!("{msg}"))
    }

    /// A stable machine-readable code for the JSON rendering.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotFound => "not_found",
            AppError::Forbidden(_) => "forbidden",
            AppError::Unauthorized => "unauthorized",
            AppError::BadRequest(_) => "bad_request",
            AppError::Invalid(_) => "invalid",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    /// The message safe to show to the user.
    pub fn public_message(&self) -> String {
        match self {
            AppError::NotFound => "We couldn't find that page. It may have moved, or you may not have access to it.".into(),
            AppError::Forbidden(m) | AppError::BadRequest(m) | AppError::Conflict(m) => m.clone(),
            AppError::Unauthorized => "Please sign in to continue.".into(),
            AppError::Invalid(_) => "Some fields need attention.".into(),
            AppError::TooManyRequests { message, .. } => message.clone(),
            AppError::Unavailable(_) => {
                "Keel can't reach its database right now. Please try again in a few seconds.".into()
            }
            AppError::Internal(_) => {
                "Something went wrong on our side. It has been logged; please try again, and quote the request ID if you contact support.".into()
            }
        }
    }

    /// Whether the cause must be logged (it is never shown).
    pub fn should_log(&self) -> bool {
        matches!(self, AppError::Internal(_) | AppError::Unavailable(_))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A plain fallback; `web::middleware::render_errors` replaces the body with a page or JSON.
    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status_code());
        match self {
            AppError::Unavailable(_) => {
                b.insert_header(("Retry-After", RETRY_AFTER_UNAVAILABLE.to_string()));
            }
            AppError::TooManyRequests { retry_after, .. } => {
                b.insert_header(("Retry-After", retry_after.to_string()));
            }
            _ => {}
        }
        b.content_type("text/plain; charset=utf-8").body(self.public_message())
    }
}

impl AppError {
    /// True when the database could not be reached at all (pool timeout, closed connection),
    /// as opposed to a momentarily busy SQLite file.
    pub fn is_database_down(&self) -> bool {
        matches!(self, AppError::Unavailable(m) if !is_busy(m))
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &e {
            Error::NotFound => AppError::NotFound,
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => AppError::Unavailable(e.to_string()),
            Error::DatabaseError(_, info) if is_busy(info.message()) => AppError::Unavailable(e.to_string()),
            _ => AppError::Internal(anyhow::Error::new(e)),
        }
    }
}

/// SQLite reports a lock it could not get within `busy_timeout` as "database is locked";
/// a full or read-only disk also means "try later", never a 500.
fn is_busy(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("database is locked")
        || m.contains("database table is locked")
        || m.contains("disk is full")
        || m.contains("readonly database")
        || m.contains("disk i/o error")
}

impl From<r2d2::Error> for AppError {
    fn from(e: r2d2::Error) -> Self {
        AppError::Unavailable(format!("database pool: {e}"))
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Query(q) => q.into(),
            other => AppError::Unavailable(other.to_string()),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(anyhow::anyhow!("template: {e}"))
    }
}

/// Result alias for handlers and services.
pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        assert_eq!(AppError::NotFound.status_code(), StatusCode::NOT_FOUND);
        assert_eq!(AppError::Unavailable("x".into()).status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let r = AppError::Unavailable("pool".into()).error_response();
        assert_eq!(r.headers().get("Retry-After").and_then(|v| v.to_str().ok()), Some("5"));
    }

    #[test]
    fn internal_causes_are_not_shown() {
        let e = AppError::internal("secret table name xyz");
        assert!(!e.public_message().contains("xyz"));
        assert!(e.should_log());
    }

    #[test]
    fn locked_database_is_unavailable() {
        assert!(is_busy("database is locked"));
        assert!(!is_busy("UNIQUE constraint failed"));
    }
}
