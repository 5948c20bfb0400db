//! Ingest API keys: created by platform admins (the key is shown once; only its SHA-256 is
//! kept), listed with a prefix to tell them apart and when each was last used, revoked at once.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Deserialize;

use super::model::IngestKey;
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::schema::ingest_keys as ik;
use crate::db::{DbConn, now_micros, write_tx};
use crate::error::AppResult;
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};

/// Every key starts with this, so a leaked one is easy to recognise.
pub const PREFIX: &str = "keel_ik_";

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/usage/keys", web::get().to(page))
        .route("/admin/usage/keys", web::post().to(create))
        .route("/admin/usage/keys/{id}/revoke", web::post().to(revoke));
}

/// Creates a key; returns its id and the key itself (shown once).
pub fn insert(c: &mut DbConn, actor: &Actor, name: &str, now: NaiveDateTime) -> QueryResult<(i64, String)> {
    let key = format!("{PREFIX}{}", crate::web::token::random_token());
    let id = diesel::insert_into(ik::table)
        .values((
            ik::name.eq(name),
            ik::prefix.eq(&key[..PREFIX.len() + 6]),
            ik::key_hash.eq(crate::web::token::sha256_hex(key.as_bytes())),
            ik::created_by.eq(actor.user_id),
            ik::created_at.eq(now),
        ))
        .returning(ik::id)
        .get_result(c)?;
    audit::record(
        c,
        actor,
        Event::new("usage.ingest_key_create", "ingest_key", id).details(serde_json::json!({"name": name})),
        now,
    )?;
    Ok((id, key))
}

/// Notes that a key was used (at most once a minute, to keep ingest writes few).
pub fn touch(c: &mut DbConn, k: &IngestKey, now: NaiveDateTime) -> QueryResult<()> {
    if k.last_used_at.is_none_or(|t| now - t > Duration::minutes(1)) {
        diesel::update(ik::table.find(k.id)).set(ik::last_used_at.eq(Some(now))).execute(c)?;
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "usage/keys.html")]
struct KeysPage {
    ctx: PageCtx,
    keys: Vec<IngestKey>,
    key_name: String,
    errors: FormErrors,
    new_key: Option<String>,
    can_manage: bool,
    base_url: String,
}

async fn load(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    name: String,
    errors: FormErrors,
    new_key: Option<String>,
) -> AppResult<KeysPage> {
    let keys = state.db(|c| Ok(super::store::keys(c)?)).await?;
    Ok(KeysPage {
        ctx: PageCtx::new(req, "Ingest keys"),
        keys,
        key_name: name,
        errors,
        new_key,
        can_manage: p.can(Action::ManageMetering),
        base_url: state.config().base_url.clone(),
    })
}

async fn page(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::ViewMetering)?;
    render(&load(&req, &p, &state, String::new(), FormErrors::new(), None).await?)
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<CreateForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageMetering)?;
    let mut e = FormErrors::new();
    let name = form::required_text(&mut e, "name", "a name", &f.name, 80);
    if !e.is_empty() {
        let page = load(&req, &p, &state, f.name, e, None).await?;
        return render_status(&page, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let (_, key) = state.db(move |c| Ok(write_tx(c, |c| insert(c, &actor, &name, now))?)).await?;
    // Shown once, on this response only (never stored, never in a redirect or a log).
    let page = load(&req, &p, &state, String::new(), FormErrors::new(), Some(key)).await?;
    let mut resp = render(&page)?;
    resp.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<crate::web::form::NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageMetering)?;
    let id = id.into_inner();
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let n = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let n = diesel::update(ik::table.find(id).filter(ik::revoked_at.is_null()))
                    .set(ik::revoked_at.eq(Some(now)))
                    .execute(c)?;
                if n > 0 {
                    audit::record(c, &actor, Event::new("usage.ingest_key_revoke", "ingest_key", id), now)?;
                }
                Ok::<_, diesel::result::Error>(n)
            })?)
        })
        .await?;
    state.usage().clear_keys();
    Ok(if n > 0 {
        flash::redirect_with(
            &req,
            "/admin/usage/keys",
            "success",
            "The key was revoked. Requests with it now get 401.",
        )
    } else {
        flash::redirect_with(&req, "/admin/usage/keys", "warning", "That key was already revoked.")
    })
}
