//! Support stays reachable for a suspended district: its users can't sign in, but a correct
//! password on the sign-in page earns a short-lived, signed "support pass" (shown as a link
//! beside the refusal) that lets them file one request for their suspended tenant without a
//! session. The pass names the user and its expiry and is signed with Keel's secret key.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use super::requests::{self, Mailing, NewRequest};
use super::tiers::{CATEGORIES, SEVERITIES};
use crate::AppState;
use crate::audit::Actor;
use crate::auth::extract;
use crate::db::schema::tenants;
use crate::db::{DbConn, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::form::FormErrors;
use crate::web::layout::{PageCtx, render_status};
use crate::web::token;
use actix_web::HttpMessage;

/// How long a pass is good for.
pub const PASS_MINUTES: i64 = 30;
const COOKIE: &str = "keel_support_pass";

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/support/suspended", web::get().to(page)).route("/support/suspended", web::post().to(submit));
}

fn signature(secret: &[u8], user: i64, expires: i64) -> String {
    token::hmac_hex(secret, format!("support-pass:{user}:{expires}").as_bytes())
}

/// A pass for `user`, good for [`PASS_MINUTES`].
pub fn pass_for(secret: &[u8], user: i64, now: DateTime<Utc>) -> String {
    let expires = (now + Duration::minutes(PASS_MINUTES)).timestamp();
    format!("{user}.{expires}.{}", signature(secret, user, expires))
}

/// The user a pass names, if it is genuine and not expired.
pub fn verify(secret: &[u8], pass: &str, now: DateTime<Utc>) -> Option<i64> {
    let mut parts = pass.trim().splitn(3, '.');
    let user: i64 = parts.next()?.parse().ok()?;
    let expires: i64 = parts.next()?.parse().ok()?;
    let sig = parts.next()?;
    if expires < now.timestamp()
        || !token::constant_time_eq(sig.as_bytes(), signature(secret, user, expires).as_bytes())
    {
        return None;
    }
    Some(user)
}

/// The suspended tenant (or the suspended district of a school) a user belongs to.
pub fn suspended_tenant(c: &mut DbConn, user: i64) -> QueryResult<Option<(i64, String)>> {
    for m in crate::auth::store::memberships_of(c, user)? {
        if m.tenant_status == "suspended" {
            return Ok(Some((m.membership.tenant_id, m.tenant_name)));
        }
        if let Some(parent) = m.parent_id {
            let status: String = tenants::table.find(parent).select(tenants::status).first(c)?;
            if status == "suspended" {
                return Ok(Some((m.membership.tenant_id, m.tenant_name)));
            }
        }
    }
    Ok(None)
}

#[derive(Template)]
#[template(path = "support/suspended.html")]
struct Page {
    ctx: PageCtx,
    pass: String,
    /// (tenant name, user name) when the pass is good.
    who: Option<(String, String)>,
    category: String,
    severity: String,
    subject: String,
    description: String,
    errors: FormErrors,
    categories: [(&'static str, &'static str); 5],
    severities: [&'static str; 4],
    /// Set once the request was filed: (number, promise).
    filed: Option<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
struct PassQuery {
    #[serde(default)]
    pass: String,
}

async fn holder(state: &AppState, pass: &str) -> AppResult<Option<(i64, i64, String, String, String)>> {
    let Some(user) = verify(&state.config().secret_key, pass, state.now()) else { return Ok(None) };
    state
        .db(move |c| {
            let Some((tenant, tenant_name)) = suspended_tenant(c, user)? else { return Ok(None) };
            let u = crate::auth::store::user_by_id(c, user)?;
            if u.status != "active" {
                return Ok(None);
            }
            Ok(Some((user, tenant, tenant_name, u.display_name, u.email)))
        })
        .await
}

fn with_cookie(state: &AppState, page: &Page, status: StatusCode) -> AppResult<HttpResponse> {
    let mut resp = render_status(page, status)?;
    let cookie = Cookie::build(COOKIE, page.ctx.csrf_token.clone())
        .path("/support/suspended")
        .http_only(true)
        .secure(state.config().is_https())
        .same_site(SameSite::Strict)
        .finish();
    let _ = resp.add_cookie(&cookie);
    Ok(resp)
}

fn blank(req: &HttpRequest, pass: String, who: Option<(String, String)>) -> Page {
    let mut ctx = PageCtx::new(req, "Contact support");
    ctx.csrf_token = req
        .cookie(COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 64)
        .unwrap_or_else(token::random_token);
    Page {
        ctx,
        pass,
        who,
        category: String::new(),
        severity: "P2".into(),
        subject: String::new(),
        description: String::new(),
        errors: FormErrors::new(),
        categories: CATEGORIES,
        severities: SEVERITIES,
        filed: None,
    }
}

async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<PassQuery>,
) -> AppResult<HttpResponse> {
    let who = holder(&state, &q.pass).await?.map(|(_, _, t, n, _)| (t, n));
    with_cookie(&state, &blank(&req, q.pass.clone(), who), StatusCode::OK)
}

#[derive(Debug, Default, Deserialize)]
struct SubmitForm {
    #[serde(default)]
    pass: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    description: String,
}

async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SubmitForm>,
) -> AppResult<HttpResponse> {
    let f = form.into_inner();
    let cookie = req.cookie(COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    if cookie.is_empty()
        || !token::constant_time_eq(cookie.as_bytes(), f.csrf_token.as_bytes())
        || !extract::same_origin(&req, &state.config().base_url)
    {
        return Err(AppError::Forbidden(extract::CSRF_MESSAGE.into()));
    }
    let Some((user, tenant, tenant_name, name, email)) = holder(&state, &f.pass).await? else {
        return with_cookie(&state, &blank(&req, String::new(), None), StatusCode::UNPROCESSABLE_ENTITY);
    };
    let strip = crate::web::form::strip_bidi;
    let (subject, description) = (strip(f.subject.trim()), strip(f.description.trim()));
    let mut e = FormErrors::new();
    super::pages::check_fields(&mut e, &f.category, &f.severity, &subject, &description);
    if !e.is_empty() {
        let mut p = blank(&req, f.pass.clone(), Some((tenant_name, name)));
        p.category = f.category;
        p.severity = f.severity;
        p.subject = f.subject;
        p.description = f.description;
        p.errors = e;
        return with_cookie(&state, &p, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let metadata = serde_json::json!({
        "tenant_id": tenant,
        "tenant": tenant_name,
        "user_id": user,
        "user_email": email,
        "user_agent": super::pages::user_agent(&req),
        "page": "/login (tenant suspended: filed without signing in)",
        "app_version": crate::VERSION,
        "time_zone": "",
        "request_id": req.extensions().get::<crate::web::middleware::RequestId>().map(|r| r.0.clone()).unwrap_or_default(),
        "recent_requests": [],
    });
    let new = NewRequest {
        tenant_id: tenant,
        requester_id: user,
        category: f.category.clone(),
        severity: f.severity.clone(),
        subject,
        description,
        metadata,
        attachment: None,
    };
    let mail = Mailing {
        base_url: state.config().base_url.clone(),
        fallback_routing: state.config().mail_from.clone(),
    };
    let actor = Actor::from_request(&req, Some(user), &email);
    let now = state.now();
    let (number, promise) = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let (r, promise) = requests::create(c, &actor, &new, &mail, now)?;
                Ok::<_, diesel::result::Error>((r.number(), promise))
            })?)
        })
        .await?;
    let mut p = blank(&req, String::new(), Some((tenant_name, name)));
    p.filed = Some((number, promise));
    with_cookie(&state, &p, StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn passes() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).single().unwrap_or_default();
        let p = pass_for(b"secret", 42, now);
        assert_eq!(verify(b"secret", &p, now), Some(42));
        assert_eq!(verify(b"secret", &p, now + Duration::minutes(PASS_MINUTES + 1)), None, "expired");
        assert_eq!(verify(b"other", &p, now), None, "another key");
        assert_eq!(verify(b"secret", &p.replacen("42", "43", 1), now), None, "another user");
        assert_eq!(verify(b"secret", "garbage", now), None);
        assert_eq!(verify(b"secret", "", now), None);
    }
}
