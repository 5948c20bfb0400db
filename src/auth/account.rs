//! The signed-in user's own account: profile, password change, sessions on other devices,
//! and two-factor authentication (set-up, recovery codes, turning it off).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::model::User;
use super::signin::{PendingSession, safe_next, upgrade_session};
use super::{Action, CsrfForm, Principal, extract, password, store, totp};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::notify::{self, Email};
use crate::web::flash;
use crate::web::form::FormErrors;
use crate::web::layout::{PageCtx, render, render_status};
use crate::web::token;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(overview))
        .route("/account/password", web::get().to(password_page))
        .route("/account/password", web::post().to(password_submit))
        .route("/account/sessions", web::get().to(sessions_page))
        .route("/account/sessions/revoke-others", web::post().to(revoke_others))
        .route("/account/sessions/{id}/revoke", web::post().to(revoke_one))
        .route("/account/2fa/setup", web::get().to(setup_page))
        .route("/account/2fa/setup", web::post().to(setup_submit))
        .route("/account/2fa/disable", web::post().to(disable))
        .route("/account/2fa/recovery-codes", web::post().to(new_recovery_codes));
}

#[derive(Template)]
#[template(path = "auth/account.html")]
struct AccountPage {
    ctx: PageCtx,
    email: String,
    display_name: String,
    platform_role: String,
    roles: Vec<(String, String, String)>,
    totp_enabled: bool,
    totp_required: bool,
    recovery_left: i64,
    last_sign_in: String,
}

async fn overview(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::UseAccount)?;
    let uid = p.user_id;
    let (user, left) =
        state.db(move |c| Ok((store::user_by_id(c, uid)?, store::recovery_codes_left(c, uid)?))).await?;
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
        totp_enabled: user.totp_enabled,
        totp_required: p.is_internal(),
        recovery_left: left,
        last_sign_in: user
            .last_sign_in_at
            .map(|t| format!("{} UTC", t.format("%Y-%m-%d %H:%M")))
            .unwrap_or_else(|| "Never".into()),
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "auth/password.html")]
struct PasswordPage {
    ctx: PageCtx,
    errors: FormErrors,
}

async fn password_page(req: HttpRequest, p: Principal) -> AppResult<HttpResponse> {
    p.require(Action::UseAccount)?;
    render(&PasswordPage { ctx: PageCtx::new(&req, "Change your password"), errors: FormErrors::new() })
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

/// Emails the account owner that their password changed (through the outbox).
pub fn password_changed_email(user_email: &str, base_url: &str, when: &str) -> Email {
    Email {
        to: user_email.to_string(),
        subject: "Your Keel password was changed".into(),
        text: format!(
            "The password of your Keel account ({user_email}) was changed on {when} UTC.\n\n\
             If this wasn't you, reset your password at {base_url}/forgot and tell your administrator.\n\n— Keel"
        ),
        html: None,
        headers: Vec::new(),
        dedupe_key: None,
    }
}

async fn password_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<PasswordForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::UseAccount)?;
    let uid = p.user_id;
    let user = state.db(move |c| Ok(store::user_by_id(c, uid)?)).await?;
    let stored = user.password_hash.clone().unwrap_or_default();
    let current = f.current.clone();
    let current_ok = state.blocking(move || password::verify(&current, &stored)).await?;
    let mut errors = FormErrors::new();
    if !current_ok {
        errors.add("current", "That isn't your current password.");
    }
    if let Err(m) = password::check_policy(&f.new_password, &p.email) {
        errors.add("new_password", m);
    } else if f.new_password != f.confirm {
        errors.add("confirm", "The two new passwords don't match.");
    }
    if !errors.is_empty() {
        let page = PasswordPage { ctx: PageCtx::new(&req, "Change your password"), errors };
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let pw = f.new_password.clone();
    let hash = state.blocking(move || password::hash(&pw)).await?.map_err(AppError::internal)?;
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let sid = p.session_id;
    let email =
        password_changed_email(&p.email, &state.config().base_url, &now.format("%Y-%m-%d %H:%M").to_string());
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                store::set_password(c, uid, &hash, now)?;
                let ended = store::delete_sessions_of(c, uid, Some(sid))?;
                audit::record(
                    c,
                    &actor,
                    Event::new("auth.password_change", "user", uid)
                        .details(serde_json::json!({"other_sessions_ended": ended})),
                    now,
                )?;
                notify::queue(c, &email, now)?;
                Ok::<_, diesel::result::Error>(())
            })?)
        })
        .await?;
    state.job_wakeup().notify_waiters();
    Ok(flash::redirect_with(
        &req,
        "/account",
        "success",
        "Your password was changed. You stay signed in here; your other sessions were signed out.",
    ))
}

/// One session as the list shows it.
struct SessionRow {
    id: i64,
    current: bool,
    created: String,
    last_seen: String,
    ip: String,
    device: String,
}

#[derive(Template)]
#[template(path = "auth/sessions.html")]
struct SessionsPage {
    ctx: PageCtx,
    rows: Vec<SessionRow>,
}

/// A short description of a browser from its user agent.
pub fn describe_agent(ua: &str) -> String {
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") {
        "Chrome"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.is_empty() {
        "Unknown browser"
    } else {
        "Other browser"
    };
    let os = if ua.contains("Windows") {
        " on Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        " on macOS"
    } else if ua.contains("Android") {
        " on Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        " on iOS"
    } else if ua.contains("CrOS") {
        " on ChromeOS"
    } else if ua.contains("Linux") {
        " on Linux"
    } else {
        ""
    };
    format!("{browser}{os}")
}

async fn sessions_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    p.require(Action::UseAccount)?;
    let uid = p.user_id;
    let sessions = state.db(move |c| Ok(store::sessions_of(c, uid)?)).await?;
    let rows = sessions
        .into_iter()
        .filter(|s| s.stage == "full")
        .map(|s| SessionRow {
            id: s.id,
            current: s.id == p.session_id,
            created: format!("{} UTC", s.created_at.format("%Y-%m-%d %H:%M")),
            last_seen: format!("{} UTC", s.last_seen_at.format("%Y-%m-%d %H:%M")),
            ip: s.ip,
            device: describe_agent(&s.user_agent),
        })
        .collect();
    render(&SessionsPage { ctx: PageCtx::new(&req, "Where you're signed in"), rows })
}

async fn revoke_others(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<crate::web::form::NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    let (uid, sid, now) = (p.user_id, p.session_id, now_micros(state.now()));
    let actor = Actor::of(&req, &p);
    let n = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let n = store::delete_sessions_of(c, uid, Some(sid))?;
                audit::record(
                    c,
                    &actor,
                    Event::new("auth.sessions_revoked", "user", uid).details(serde_json::json!({"count": n})),
                    now,
                )?;
                Ok::<_, diesel::result::Error>(n)
            })?)
        })
        .await?;
    let msg = match n {
        0 => "You weren't signed in anywhere else.".to_string(),
        1 => "Signed out of 1 other session.".to_string(),
        n => format!("Signed out of {n} other sessions."),
    };
    Ok(flash::redirect_with(&req, "/account/sessions", "success", msg))
}

async fn revoke_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<crate::web::form::NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    let (uid, id, now) = (p.user_id, id.into_inner(), now_micros(state.now()));
    if id == p.session_id {
        return Ok(flash::redirect_with(
            &req,
            "/account/sessions",
            "warning",
            "Use Sign out to end this session.",
        ));
    }
    let actor = Actor::of(&req, &p);
    let n = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let n = store::delete_session_of(c, uid, id)?;
                if n > 0 {
                    audit::record(c, &actor, Event::new("auth.session_revoked", "session", id), now)?;
                }
                Ok::<_, diesel::result::Error>(n)
            })?)
        })
        .await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(flash::redirect_with(&req, "/account/sessions", "success", "That session was signed out."))
}

#[derive(Template)]
#[template(path = "auth/totp_setup.html")]
struct SetupPage {
    ctx: PageCtx,
    secret_grouped: String,
    uri: String,
    qr_svg: String,
    required: bool,
    next: String,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "auth/recovery_codes.html")]
struct RecoveryCodesPage {
    ctx: PageCtx,
    codes: Vec<String>,
    next: String,
}

/// Renders a QR code as an SVG made only of `<rect>`s (no inline styles: the CSP forbids them).
pub fn qr_svg(data: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(data.as_bytes()) else { return String::new() };
    let w = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let size = w + 2 * quiet;
    let mut svg = format!(
        "<svg class=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"200\" height=\"200\" \
         role=\"img\" aria-label=\"QR code for your authenticator app\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#ffffff\"/>"
    );
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = (i % w + quiet, i / w + quiet);
            svg.push_str(&format!("<rect x=\"{x}\" y=\"{y}\" width=\"1\" height=\"1\" fill=\"#000000\"/>"));
        }
    }
    svg.push_str("</svg>");
    svg
}

#[derive(Debug, Deserialize)]
struct SetupQuery {
    next: Option<String>,
}

/// The session of this request, whether pending (must enroll) or full.
async fn setup_session(req: &HttpRequest) -> AppResult<PendingSession> {
    use actix_web::FromRequest;
    let pending = PendingSession::extract(req).await?;
    if pending.session.stage == "mfa" {
        return Err(AppError::Unauthorized);
    }
    Ok(pending)
}

/// Makes (or reuses) the secret being set up, stored until confirmed.
async fn pending_secret(state: &AppState, user: &User) -> AppResult<String> {
    if let (false, Some(s)) = (user.totp_enabled, user.totp_secret.clone()) {
        return Ok(s);
    }
    let secret = totp::base32_encode(&totp::generate_secret());
    let (uid, s) = (user.id, secret.clone());
    state.db(move |c| Ok(store::set_pending_totp(c, uid, &s)?)).await?;
    Ok(secret)
}

async fn setup_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<SetupQuery>,
) -> AppResult<HttpResponse> {
    let pending = setup_session(&req).await?;
    if pending.user.totp_enabled {
        return Ok(flash::redirect_with(
            &req,
            "/account",
            "success",
            "Two-factor authentication is already on.",
        ));
    }
    let secret = pending_secret(&state, &pending.user).await?;
    let raw = totp::base32_decode(&secret).unwrap_or_default();
    let uri = totp::otpauth_uri("Keel", &pending.user.email, &raw);
    let mut ctx = PageCtx::new(&req, "Set up two-factor authentication");
    ctx.csrf_token = pending.session.csrf_token.clone();
    let page = SetupPage {
        ctx,
        secret_grouped: totp::format_secret_for_humans(&secret),
        qr_svg: qr_svg(&uri),
        uri,
        required: pending.session.stage == "enroll",
        next: safe_next(q.next.as_deref()),
        errors: FormErrors::new(),
    };
    render(&page)
}

#[derive(Debug, Deserialize)]
struct SetupForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
}

async fn setup_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SetupForm>,
) -> AppResult<HttpResponse> {
    let pending = setup_session(&req).await?;
    let f = form.into_inner();
    if !token::constant_time_eq(f.csrf_token.as_bytes(), pending.session.csrf_token.as_bytes())
        || !extract::same_origin(&req, &state.config().base_url)
    {
        return Err(AppError::Forbidden(extract::CSRF_MESSAGE.into()));
    }
    let next = safe_next(Some(&f.next));
    let secret_b32 = pending.user.totp_secret.clone().unwrap_or_default();
    let secret = totp::base32_decode(&secret_b32).unwrap_or_default();
    let step =
        if secret.is_empty() { None } else { totp::verify(&secret, &f.code, state.now().timestamp(), None) };
    let Some(step) = step else {
        let raw = secret.clone();
        let uri = totp::otpauth_uri("Keel", &pending.user.email, &raw);
        let mut errors = FormErrors::new();
        errors.add("code", "That code isn't right. Enter the 6-digit code your app shows now (codes change every 30 seconds).");
        let mut ctx = PageCtx::new(&req, "Set up two-factor authentication");
        ctx.csrf_token = pending.session.csrf_token.clone();
        let page = SetupPage {
            ctx,
            secret_grouped: totp::format_secret_for_humans(&secret_b32),
            qr_svg: qr_svg(&uri),
            uri,
            required: pending.session.stage == "enroll",
            next,
            errors,
        };
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let codes = totp::generate_recovery_codes(10);
    let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery_code(c)).collect();
    let now = now_micros(state.now());
    let uid = pending.user.id;
    let actor = Actor::from_request(&req, Some(uid), &pending.user.email);
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                store::enable_totp(c, uid, step, now)?;
                store::replace_recovery_codes(c, uid, &hashes)?;
                audit::record(c, &actor, Event::new("auth.2fa_enabled", "user", uid), now)?;
                Ok::<_, diesel::result::Error>(())
            })?)
        })
        .await?;
    let mut resp = if pending.session.stage == "enroll" {
        // Setting up the second factor completes the sign-in: a fresh, full session.
        let r =
            upgrade_session(&req, &state, &pending, "totp_enrolled", "/account/2fa/recovery-codes").await?;
        Some(r)
    } else {
        None
    };
    let mut ctx = PageCtx::new(&req, "Your recovery codes");
    ctx.flashes.push(crate::web::layout::Flash {
        kind: "success".into(),
        message: "Two-factor authentication is on.".into(),
    });
    let page = RecoveryCodesPage { ctx, codes, next: if next.is_empty() { "/".into() } else { next } };
    let html = render(&page)?;
    if let Some(r) = resp.as_mut() {
        // Show the codes right away, carrying the new session cookie from the upgrade.
        let mut out = html;
        for c in r.cookies() {
            let _ = out.add_cookie(&c.into_owned());
        }
        return Ok(out);
    }
    Ok(html)
}

#[derive(Debug, Deserialize)]
struct DisableForm {
    #[serde(default)]
    password: String,
}

async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<DisableForm>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    if p.is_internal() {
        return Ok(flash::redirect_with(
            &req,
            "/account",
            "warning",
            "Two-factor authentication is required for Keel staff and can't be turned off.",
        ));
    }
    let uid = p.user_id;
    let user = state.db(move |c| Ok(store::user_by_id(c, uid)?)).await?;
    let stored = user.password_hash.unwrap_or_default();
    let pw = form.form.password.clone();
    if !state.blocking(move || password::verify(&pw, &stored)).await? {
        return Ok(flash::redirect_with(
            &req,
            "/account",
            "error",
            "Two-factor authentication is still on: the password you entered isn't right.",
        ));
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                store::disable_totp(c, uid, now)?;
                audit::record(c, &actor, Event::new("auth.2fa_disabled", "user", uid), now)?;
                Ok::<_, diesel::result::Error>(())
            })?)
        })
        .await?;
    Ok(flash::redirect_with(&req, "/account", "success", "Two-factor authentication is off."))
}

async fn new_recovery_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<crate::web::form::NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    let uid = p.user_id;
    let user = state.db(move |c| Ok(store::user_by_id(c, uid)?)).await?;
    if !user.totp_enabled {
        return Err(AppError::NotFound);
    }
    let codes = totp::generate_recovery_codes(10);
    let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery_code(c)).collect();
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                store::replace_recovery_codes(c, uid, &hashes)?;
                audit::record(c, &actor, Event::new("auth.recovery_codes_replaced", "user", uid), now)?;
                Ok::<_, diesel::result::Error>(())
            })?)
        })
        .await?;
    render(&RecoveryCodesPage {
        ctx: PageCtx::new(&req, "Your recovery codes"),
        codes,
        next: "/account".into(),
    })
}
