//! Sign-in, sign-out, sessions, roles and the permission table.
//!
//! - `roles.rs`: roles and `allowed(role, action)`, the one permission table.
//! - `extract.rs`: `Principal`, `MaybePrincipal`, `CsrfForm<T>` extractors.
//! - `session.rs`: server-side sessions and their cookie.
//! - `password.rs`: argon2id hashing and the password policy.

pub mod common_passwords;
pub mod extract;
pub mod model;
pub mod nav;
pub mod password;
pub mod roles;
pub mod session;
pub mod store;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

pub use extract::{CsrfForm, MaybePrincipal, Principal};
pub use roles::{Action, Role};

use crate::AppState;
use crate::db::now_micros;
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::FormErrors;
use crate::web::layout::{PageCtx, Viewer, redirect, render, render_status};
use crate::web::token;

/// Cookie holding the sign-in form's CSRF token (there is no session yet).
const PRE_COOKIE: &str = "keel_signin";

/// Mounts this module's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login_submit))
        .route("/logout", web::post().to(logout))
        .route("/account", web::get().to(account));
}

/// Where a role lands after sign-in.
pub fn home_for(p: &Principal) -> &'static str {
    match p.primary_role() {
        Some(Role::PlatformAdmin) | Some(Role::SupportAgent) => "/admin",
        _ => "/account",
    }
}

async fn home(p: MaybePrincipal) -> HttpResponse {
    match p.0 {
        Some(p) => redirect(home_for(&p)),
        None => redirect("/login"),
    }
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    ctx: PageCtx,
    email: String,
    next: String,
    errors: FormErrors,
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only local paths are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && n.len() < 512 => {
            n.to_string()
        }
        _ => String::new(),
    }
}

fn login_response(req: &HttpRequest, page: LoginPage, status: StatusCode) -> AppResult<HttpResponse> {
    let mut resp = render_status(&page, status)?;
    let c = Cookie::build(PRE_COOKIE, page.ctx.csrf_token.clone())
        .path("/login")
        .http_only(true)
        .secure(req.app_data::<web::Data<AppState>>().is_some_and(|s| s.config().is_https()))
        .same_site(SameSite::Strict)
        .finish();
    let _ = resp.add_cookie(&c);
    Ok(resp)
}

fn pre_token(req: &HttpRequest) -> String {
    req.cookie(PRE_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 64)
        .unwrap_or_else(token::random_token)
}

async fn login_page(
    req: HttpRequest,
    p: MaybePrincipal,
    q: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    if let Some(p) = p.0 {
        return Ok(redirect(home_for(&p)));
    }
    let mut ctx = PageCtx::new(&req, "Sign in");
    ctx.csrf_token = pre_token(&req);
    let page = LoginPage {
        ctx,
        email: String::new(),
        next: safe_next(q.next.as_deref()),
        errors: FormErrors::new(),
    };
    login_response(&req, page, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
}

/// The one message for unknown email and wrong password alike.
const BAD_CREDENTIALS: &str = "That email and password don't match an account. Check both and try again.";

async fn login_submit(
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
    let email = form.email.trim().to_ascii_lowercase();
    let next = safe_next(Some(&form.next));
    let mut errors = FormErrors::new();
    if email.is_empty() {
        errors.add("email", "Enter your email address.");
    }
    if form.password.is_empty() {
        errors.add("password", "Enter your password.");
    }
    let again = |errors: FormErrors| {
        let mut ctx = PageCtx::new(&req, "Sign in");
        ctx.csrf_token = cookie_token.clone();
        let page = LoginPage { ctx, email: email.clone(), next: next.clone(), errors };
        login_response(&req, page, StatusCode::UNPROCESSABLE_ENTITY)
    };
    if !errors.is_empty() {
        return again(errors);
    }
    let e = email.clone();
    let user = state.db(move |c| Ok(store::user_by_email(c, &e)?)).await?;
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
        _ => {
            errors.add("password", BAD_CREDENTIALS);
            return again(errors);
        }
    };
    if user.status != "active" {
        errors.add("email", "This account has been disabled. Ask your district administrator or Keel support to re-enable it.");
        return again(errors);
    }
    let now = now_micros(state.now());
    let ip = req.connection_info().realip_remote_addr().unwrap_or("").to_string();
    let ua = req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let uid = user.id;
    let token = state
        .db(move |c| {
            Ok(crate::db::write_tx(c, |c| {
                store::record_sign_in(c, uid, rehash, now)?;
                session::create(c, uid, &ip, &ua, now)
            })?)
        })
        .await?;
    let mut resp = redirect(if next.is_empty() { "/" } else { &next });
    let _ = resp.add_cookie(&session::cookie(state.config(), &token));
    let mut pre = Cookie::build(PRE_COOKIE, "").path("/login").finish();
    pre.make_removal();
    let _ = resp.add_cookie(&pre);
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct EmptyForm {}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<EmptyForm>,
) -> AppResult<HttpResponse> {
    let sid = form.principal.session_id;
    state.db(move |c| Ok(store::delete_session(c, sid)?)).await?;
    {
        use actix_web::HttpMessage;
        req.extensions_mut().remove::<Viewer>();
    }
    let mut resp = flash::redirect_with(&req, "/login", "success", "You have signed out.");
    let _ = resp.add_cookie(&session::removal_cookie(state.config()));
    Ok(resp)
}

#[derive(Template)]
#[template(path = "auth/account.html")]
struct AccountPage {
    ctx: PageCtx,
    email: String,
    display_name: String,
    platform_role: String,
    roles: Vec<(String, String, String)>,
}

async fn account(req: HttpRequest, p: Principal) -> AppResult<HttpResponse> {
    p.require(Action::UseAccount)?;
    let page = AccountPage {
        ctx: PageCtx::new(&req, "Your account"),
        email: p.email.clone(),
        display_name: p.display_name.clone(),
        platform_role: p.platform_role.map(|r| r.label().to_string()).unwrap_or_default(),
        roles: p
            .tenant_roles
            .iter()
            .map(|t| {
                let kind = if t.tenant_kind == "district" { "District" } else { "School" };
                (t.tenant_name.clone(), kind.to_string(), t.role.label().to_string())
            })
            .collect(),
    };
    render(&page)
}
