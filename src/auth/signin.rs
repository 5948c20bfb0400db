//! Signing in (password, then a second factor when the account has one), and signing out.
//! Internal staff must have two-factor authentication: their first sign-in leads straight to
//! setting it up. Failed attempts are throttled per account and per address, and audited.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;

use super::model::{Session, User};
use super::{CsrfForm, MaybePrincipal, extract, password, session, store, throttle, totp};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::FormErrors;
use crate::web::layout::{PageCtx, Viewer, redirect, render_status};
use crate::web::token;

/// Cookie holding the sign-in form's CSRF token (there is no session yet).
const PRE_COOKIE: &str = "keel_signin";

/// The one message for unknown email and wrong password alike.
pub const BAD_CREDENTIALS: &str = "That email and password don't match an account. Check both and try again.";

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    ctx: PageCtx,
    email: String,
    next: String,
    errors: FormErrors,
    /// For a user of a suspended tenant whose password was right: a link to contact support.
    support_pass: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// Only local paths are followed after sign-in (no open redirect). Control characters are
/// refused too: a browser drops tabs and newlines from a URL, so `/\t/evil.example` would take
/// the user to `//evil.example`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
                && n.len() < 512 =>
        {
            n.to_string()
        }
        _ => String::new(),
    }
}

fn pre_cookie(req: &HttpRequest, value: &str) -> Cookie<'static> {
    Cookie::build(PRE_COOKIE, value.to_string())
        .path("/login")
        .http_only(true)
        .secure(req.app_data::<web::Data<AppState>>().is_some_and(|s| s.config().is_https()))
        .same_site(SameSite::Strict)
        .finish()
}

fn login_response(req: &HttpRequest, page: LoginPage, status: StatusCode) -> AppResult<HttpResponse> {
    let mut resp = render_status(&page, status)?;
    let _ = resp.add_cookie(&pre_cookie(req, &page.ctx.csrf_token));
    Ok(resp)
}

fn pre_token(req: &HttpRequest) -> String {
    req.cookie(PRE_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 64)
        .unwrap_or_else(token::random_token)
}

/// `GET /login`
pub(super) async fn login_page(
    req: HttpRequest,
    p: MaybePrincipal,
    q: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    if let Some(p) = p.0 {
        return Ok(redirect(super::home_for(&p)));
    }
    let mut ctx = PageCtx::new(&req, "Sign in");
    ctx.csrf_token = pre_token(&req);
    let page = LoginPage {
        ctx,
        email: String::new(),
        next: safe_next(q.next.as_deref()),
        errors: FormErrors::new(),
        support_pass: None,
    };
    login_response(&req, page, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
}

/// The client address used for throttling and the audit trail.
pub fn client_ip(req: &HttpRequest) -> String {
    req.connection_info().realip_remote_addr().unwrap_or("unknown").chars().take(64).collect()
}

fn user_agent(req: &HttpRequest) -> String {
    req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// `POST /login`
pub(super) async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let cookie_token = req.cookie(PRE_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    if cookie_token.is_empty()
        || !token::constant_time_eq(cookie_token.as_bytes(), form.csrf_token.as_bytes())
        || !extract::same_origin(&req, &state.config().base_url)
    {
        return Err(AppError::Forbidden(extract::CSRF_MESSAGE.into()));
    }
    let email = crate::web::form::strip_bidi(form.email.trim()).to_ascii_lowercase();
    let next = safe_next(Some(&form.next));
    let mut errors = FormErrors::new();
    if email.is_empty() {
        errors.add("email", "Enter your email address.");
    }
    if form.password.is_empty() {
        errors.add("password", "Enter your password.");
    }
    let again = |errors: FormErrors, status: StatusCode| {
        let mut ctx = PageCtx::new(&req, "Sign in");
        ctx.csrf_token = cookie_token.clone();
        let page = LoginPage { ctx, email: email.clone(), next: next.clone(), errors, support_pass: None };
        login_response(&req, page, status)
    };
    if !errors.is_empty() {
        return again(errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let ip = client_ip(&req);
    let now = now_micros(state.now());
    let (akey, ikey) = (throttle::account_key(&email), throttle::address_key(&ip));
    let (k1, k2, e) = (akey.clone(), ikey.clone(), email.clone());
    let (locked, user) = state
        .db(move |c| {
            let a = throttle::locked_until(c, &k1, now)?;
            let b = throttle::locked_until(c, &k2, now)?;
            Ok((a.max(b), store::user_by_email(c, &e)?))
        })
        .await?;
    if let Some(until) = locked {
        let minutes = ((until - now).num_seconds() + 59) / 60;
        errors.add(
            "password",
            format!(
                "Too many failed sign-ins. For your security, signing in is paused for {minutes} minute{}. You can also reset your password.",
                if minutes == 1 { "" } else { "s" }
            ),
        );
        return again(errors, StatusCode::TOO_MANY_REQUESTS);
    }
    let password = form.password.clone();
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let (ok, rehash) = state
        .blocking(move || {
            let hash = stored.unwrap_or_else(|| password::dummy_hash().to_string());
            let ok = password::verify(&password, &hash);
            let rehash =
                if ok && password::needs_rehash(&hash) { password::hash(&password).ok() } else { None };
            (ok, rehash)
        })
        .await?;
    let user = match user {
        Some(u) if ok && u.password_hash.is_some() => u,
        other => {
            let actor = Actor::from_request(&req, other.as_ref().map(|u| u.id), &email);
            let e = email.clone();
            let failures = state
                .db(move |c| {
                    Ok(write_tx(c, |c| {
                        let f = throttle::record_failure(c, &akey, throttle::ACCOUNT_LIMIT, now)?;
                        throttle::record_failure(c, &ikey, throttle::ADDRESS_LIMIT, now)?;
                        audit::record(
                            c,
                            &actor,
                            Event::new("auth.sign_in_failed", "user", e)
                                .details(serde_json::json!({"failures": f})),
                            now,
                        )?;
                        Ok::<_, diesel::result::Error>(f)
                    })?)
                })
                .await?;
            tokio::time::sleep(throttle::delay_for(failures)).await;
            errors.add("password", BAD_CREDENTIALS);
            return again(errors, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    if user.status != "active" {
        errors.add(
            "email",
            "This account has been disabled. Ask your district administrator or the vendor's support team to re-enable it.",
        );
        return again(errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let uid = user.id;
    if let Some(reason) = state.db(move |c| Ok(store::sign_in_blocked_reason(c, uid)?)).await? {
        errors.add("email", reason);
        // Support stays reachable: the right password earns a short-lived link to file a request.
        let suspended = state.db(move |c| Ok(crate::support::suspended::suspended_tenant(c, uid)?)).await?;
        let mut ctx = PageCtx::new(&req, "Sign in");
        ctx.csrf_token = cookie_token.clone();
        let page = LoginPage {
            ctx,
            email: email.clone(),
            next: next.clone(),
            errors,
            support_pass: suspended
                .map(|_| crate::support::suspended::pass_for(&state.config().secret_key, uid, state.now())),
        };
        return login_response(&req, page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let internal = user.platform_role.is_some();
    let stage = if user.totp_enabled {
        "mfa"
    } else if internal {
        "enroll"
    } else {
        "full"
    };
    let ua = user_agent(&req);
    let actor = Actor::from_request(&req, Some(uid), &email);
    let ip2 = ip.clone();
    let token = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                throttle::clear(c, &akey)?;
                store::record_sign_in(c, uid, rehash, now)?;
                if stage == "full" {
                    audit::record(c, &actor, Event::new("auth.sign_in", "user", uid), now)?;
                }
                session::create(c, uid, stage, &ip2, &ua, now)
            })?)
        })
        .await?;
    let target = match stage {
        "mfa" => format!("/login/2fa{}", next_query(&next)),
        "enroll" => format!("/account/2fa/setup{}", next_query(&next)),
        _ if next.is_empty() => "/".to_string(),
        _ => next.clone(),
    };
    let mut resp = redirect(&target);
    let _ = resp.add_cookie(&session::cookie(state.config(), &token));
    let mut pre = pre_cookie(&req, "");
    pre.make_removal();
    let _ = resp.add_cookie(&pre);
    Ok(resp)
}

fn next_query(next: &str) -> String {
    if next.is_empty() {
        String::new()
    } else {
        format!("?{}", serde_urlencoded::to_string([("next", next)]).unwrap_or_default())
    }
}

/// A session that has passed the password but not yet the second factor (or its setup).
#[derive(Debug, Clone)]
pub struct PendingSession {
    /// The session.
    pub session: Session,
    /// Its user.
    pub user: User,
}

impl FromRequest for PendingSession {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::internal("AppState missing"))?
                .clone();
            let tok = session::token_from(&req, state.config()).ok_or(AppError::Unauthorized)?;
            let now = now_micros(state.now());
            let life = state.config().sessions;
            let loaded = state.db(move |c| Ok(session::load(c, &tok, now, life)?)).await?;
            let (session, user) = loaded.map_err(|_| AppError::Unauthorized)?;
            Ok(PendingSession { session, user })
        })
    }
}

#[derive(Template)]
#[template(path = "auth/second_factor.html")]
struct SecondFactorPage {
    ctx: PageCtx,
    next: String,
    errors: FormErrors,
}

/// `GET /login/2fa`
pub(super) async fn second_factor_page(
    req: HttpRequest,
    pending: PendingSession,
    q: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    if pending.session.stage != "mfa" {
        return Ok(redirect("/"));
    }
    let mut ctx = PageCtx::new(&req, "Two-factor authentication");
    ctx.csrf_token = pending.session.csrf_token.clone();
    render_status(
        &SecondFactorPage { ctx, next: safe_next(q.next.as_deref()), errors: FormErrors::new() },
        StatusCode::OK,
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct SecondFactorForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
}

/// Replaces a pending session by a full one (a new id: privileges changed).
pub(super) async fn upgrade_session(
    req: &HttpRequest,
    state: &AppState,
    pending: &PendingSession,
    how: &'static str,
    next: &str,
) -> AppResult<HttpResponse> {
    let now = now_micros(state.now());
    let (uid, old) = (pending.user.id, pending.session.id);
    let actor = Actor::from_request(req, Some(uid), &pending.user.email);
    let (ip, ua) = (client_ip(req), user_agent(req));
    let token = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                store::delete_session(c, old)?;
                throttle::clear(c, &throttle::account_key(&actor.label))?;
                audit::record(
                    c,
                    &actor,
                    Event::new("auth.sign_in", "user", uid)
                        .details(serde_json::json!({"second_factor": how})),
                    now,
                )?;
                session::create(c, uid, "full", &ip, &ua, now)
            })?)
        })
        .await?;
    let mut resp = redirect(if next.is_empty() { "/" } else { next });
    let _ = resp.add_cookie(&session::cookie(state.config(), &token));
    Ok(resp)
}

/// `POST /login/2fa`
pub(super) async fn second_factor_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    pending: PendingSession,
    form: web::Form<SecondFactorForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    if pending.session.stage != "mfa"
        || !token::constant_time_eq(form.csrf_token.as_bytes(), pending.session.csrf_token.as_bytes())
        || !extract::same_origin(&req, &state.config().base_url)
    {
        return Err(AppError::Forbidden(extract::CSRF_MESSAGE.into()));
    }
    let next = safe_next(Some(&form.next));
    let now = now_micros(state.now());
    let user = pending.user.clone();
    let code = form.code.clone();
    let unix = state.now().timestamp();
    let akey = throttle::account_key(&user.email);
    let k = akey.clone();
    let verdict = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                if throttle::locked_until(c, &k, now)?.is_some() {
                    return Ok::<_, diesel::result::Error>(Err("locked"));
                }
                let secret = user.totp_secret.as_deref().and_then(totp::base32_decode);
                if let Some(secret) = secret
                    && let Some(step) = totp::verify(&secret, &code, unix, user.totp_last_step)
                {
                    store::set_totp_last_step(c, user.id, step)?;
                    return Ok(Ok("totp"));
                }
                if store::use_recovery_code(c, user.id, &totp::hash_recovery_code(&code), now)? {
                    return Ok(Ok("recovery_code"));
                }
                throttle::record_failure(c, &k, throttle::ACCOUNT_LIMIT, now)?;
                Ok(Err("wrong"))
            })?)
        })
        .await?;
    match verdict {
        Ok(how) => upgrade_session(&req, &state, &pending, how, &next).await,
        Err(why) => {
            let mut errors = FormErrors::new();
            errors.add(
                "code",
                if why == "locked" {
                    "Too many wrong codes. Wait a few minutes, then try again."
                } else {
                    "That code isn't right. Enter the 6-digit code your authenticator app shows now, or one of your recovery codes."
                },
            );
            let mut ctx = PageCtx::new(&req, "Two-factor authentication");
            ctx.csrf_token = pending.session.csrf_token.clone();
            render_status(&SecondFactorPage { ctx, next, errors }, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct EmptyForm {}

/// `POST /logout`
pub(super) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<EmptyForm>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    let sid = p.session_id;
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                store::delete_session(c, sid)?;
                audit::record(c, &actor, Event::new("auth.sign_out", "user", actor.user_id.unwrap_or(0)), now)
            })?)
        })
        .await?;
    req.extensions_mut().remove::<Viewer>();
    let mut resp = flash::redirect_with(&req, "/login", "success", "You have signed out.");
    let _ = resp.add_cookie(&session::removal_cookie(state.config()));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/billing/invoices?status=open")), "/billing/invoices?status=open");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/\t/evil.example",
            "/\n/x",
            "/a\rb",
        ] {
            assert_eq!(safe_next(Some(bad)), "", "{bad:?}");
        }
        assert_eq!(safe_next(None), "");
    }
}
