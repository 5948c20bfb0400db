//! Invitations and password resets: single-use tokens (only their SHA-256 is stored), sent by
//! email through the outbox. An invitation names the tenant and role; accepting it sets the
//! password (or adds the role to an existing account). Every invitation passes through
//! [`check_allowed`] first, so rules such as a hard staff-user cap can refuse it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Deserialize;

use super::model::{NewMembership, NewUser};
use super::{Role, password, session, signin, store};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::db::schema::auth_tokens as at;
use crate::db::{DbConn, now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::notify::{self, Email};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, redirect, render, render_status};
use crate::web::token;

/// Invitations are valid this long.
pub const INVITE_TTL: Duration = Duration::days(7);
/// Reset links are valid this long.
pub const RESET_TTL: Duration = Duration::hours(1);

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/invite/{token}", web::get().to(accept_page))
        .route("/invite/{token}", web::post().to(accept_submit))
        .route("/forgot", web::get().to(forgot_page))
        .route("/forgot", web::post().to(forgot_submit))
        .route("/reset/{token}", web::get().to(reset_page))
        .route("/reset/{token}", web::post().to(reset_submit));
}

/// A stored token.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = at)]
pub struct AuthToken {
    pub id: i64,
    pub purpose: String,
    pub token_hash: String,
    pub user_id: Option<i64>,
    pub email: String,
    pub tenant_id: Option<i64>,
    pub role: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

/// Asked before any invitation is created: a school staff or school-admin invitation counts
/// toward the `active_staff_users` caps of the school and its district, and a hard cap that is
/// reached refuses it (the same decision the entitlement API gives the product). The message is
/// shown beside the invite form.
pub fn check_allowed(
    conn: &mut DbConn,
    tenant_id: Option<i64>,
    role: Role,
    now: NaiveDateTime,
) -> QueryResult<Result<(), String>> {
    let Some(tenant) = tenant_id.filter(|_| matches!(role, Role::Staff | Role::SchoolAdmin)) else {
        return Ok(Ok(()));
    };
    let Some(metric) = crate::usage::store::metric_by_key(conn, crate::usage::caps::STAFF_METRIC)? else {
        return Ok(Ok(()));
    };
    let d = crate::usage::caps::check(conn, tenant, &metric, 1.0, now.date())?;
    if d.allowed {
        return Ok(Ok(()));
    }
    for cap in
        crate::usage::caps::applicable(conn, tenant, metric.id)?.iter().filter(|c| c.enforcement == "hard")
    {
        crate::usage::caps::record_enforcement(conn, cap, &metric, d.current, "staff invitation", now)?;
    }
    Ok(Err(format!(
        "Your district has reached its staff cap ({} of {} staff users). Ask your district admin to raise the cap or remove someone first.",
        crate::usage::caps::fmt_num(d.current),
        d.limit.map(crate::usage::caps::fmt_num).unwrap_or_default()
    )))
}

/// What an invitation grants.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The invitee's email (lower-cased).
    pub email: String,
    /// Their name, if the inviter gave one.
    pub name: String,
    /// Tenant for tenant roles; None for internal roles.
    pub tenant_id: Option<i64>,
    /// The role.
    pub role: Role,
}

/// Creates an invitation and queues its email, in the caller's transaction. Returns the
/// plain token (for tests) or the refusal message from [`check_allowed`].
pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    inv: &Invitation,
    tenant_name: &str,
    base_url: &str,
    now: NaiveDateTime,
) -> QueryResult<Result<String, String>> {
    if let Err(m) = check_allowed(conn, inv.tenant_id, inv.role, now)? {
        return Ok(Err(m));
    }
    let plain = token::random_token();
    let existing = store::user_by_email(conn, &inv.email)?;
    diesel::insert_into(at::table)
        .values((
            at::purpose.eq("invite"),
            at::token_hash.eq(token::sha256_hex(plain.as_bytes())),
            at::user_id.eq(existing.as_ref().map(|u| u.id)),
            at::email.eq(&inv.email),
            at::tenant_id.eq(inv.tenant_id),
            at::role.eq(Some(inv.role.as_str())),
            at::created_by.eq(actor.user_id),
            at::created_at.eq(now),
            at::expires_at.eq(now + INVITE_TTL),
        ))
        .execute(conn)?;
    let link = format!("{base_url}/invite/{plain}");
    let inviter = if actor.label.is_empty() { "Keel".to_string() } else { actor.label.clone() };
    let place = if tenant_name.is_empty() { "Keel".to_string() } else { tenant_name.to_string() };
    let greeting = if inv.name.is_empty() { "Hello".to_string() } else { format!("Hello {}", inv.name) };
    notify::queue(
        conn,
        &Email {
            to: inv.email.clone(),
            subject: format!("You're invited to {place} on Keel"),
            text: format!(
                "{greeting},\n\n{inviter} invited you to {place} on Keel as {}.\n\nAccept the invitation and choose your password:\n{link}\n\nThe link works once and expires in 7 days. If you weren't expecting this, ignore this email.\n\n— Keel",
                inv.role.label()
            ),
            html: None,
            headers: Vec::new(),
            dedupe_key: None,
        },
        now,
    )?;
    audit::record(
        conn,
        actor,
        Event::new("user.invite", "invitation", &inv.email)
            .tenant(inv.tenant_id)
            .details(serde_json::json!({"email": inv.email, "role": inv.role.as_str()})),
        now,
    )?;
    Ok(Ok(plain))
}

/// Pending invitations for these tenants (None = all).
pub fn pending(
    conn: &mut DbConn,
    tenants: Option<&[i64]>,
    now: NaiveDateTime,
) -> QueryResult<Vec<AuthToken>> {
    let mut q = at::table
        .filter(at::purpose.eq("invite"))
        .filter(at::used_at.is_null())
        .filter(at::expires_at.gt(now))
        .into_boxed();
    if let Some(ids) = tenants {
        q = q.filter(at::tenant_id.eq_any(ids.to_vec()));
    }
    q.order(at::created_at.desc()).select(AuthToken::as_select()).load(conn)
}

/// Why a token can't be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Not a token we issued.
    Unknown,
    /// Already used.
    Used,
    /// Past its expiry.
    Expired,
}

fn lookup(
    conn: &mut DbConn,
    purpose: &str,
    plain: &str,
    now: NaiveDateTime,
) -> QueryResult<Result<AuthToken, TokenProblem>> {
    if plain.len() != 64 || !plain.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Err(TokenProblem::Unknown));
    }
    let t: Option<AuthToken> = at::table
        .filter(at::token_hash.eq(token::sha256_hex(plain.as_bytes())))
        .filter(at::purpose.eq(purpose))
        .select(AuthToken::as_select())
        .first(conn)
        .optional()?;
    Ok(match t {
        None => Err(TokenProblem::Unknown),
        Some(t) if t.used_at.is_some() => Err(TokenProblem::Used),
        Some(t) if t.expires_at <= now => Err(TokenProblem::Expired),
        Some(t) => Ok(t),
    })
}

/// Marks a token used; false when someone used it first.
fn consume(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(at::table.find(id).filter(at::used_at.is_null()))
        .set(at::used_at.eq(Some(now)))
        .execute(conn)?;
    Ok(n == 1)
}

#[derive(Template)]
#[template(path = "auth/token_problem.html")]
struct ProblemPage {
    ctx: PageCtx,
    heading: String,
    message: String,
    action_href: String,
    action_label: String,
}

fn problem_page(req: &HttpRequest, purpose: &str, p: TokenProblem) -> AppResult<HttpResponse> {
    let (heading, message) = match (purpose, p) {
        ("invite", TokenProblem::Used) => (
            "This invitation was already accepted",
            "Sign in with the email address it was sent to. If that wasn't you, ask whoever invited you for a new invitation.",
        ),
        ("invite", TokenProblem::Expired) => (
            "This invitation has expired",
            "Invitations work for 7 days. Ask whoever invited you to send a new one.",
        ),
        ("invite", _) => (
            "This invitation link doesn't work",
            "Check that you copied the whole link from the email, or ask for a new invitation.",
        ),
        (_, TokenProblem::Used) => (
            "This reset link was already used",
            "Each link works once. Ask for a new one if you still need to reset your password.",
        ),
        (_, TokenProblem::Expired) => {
            ("This reset link has expired", "Reset links work for one hour. Ask for a new one below.")
        }
        _ => (
            "This reset link doesn't work",
            "Check that you copied the whole link from the email, or ask for a new one.",
        ),
    };
    let (href, label) =
        if purpose == "invite" { ("/login", "Go to sign in") } else { ("/forgot", "Send a new reset link") };
    let page = ProblemPage {
        ctx: PageCtx::new(req, heading),
        heading: heading.into(),
        message: message.into(),
        action_href: href.into(),
        action_label: label.into(),
    };
    render_status(&page, StatusCode::GONE)
}

#[derive(Template)]
#[template(path = "auth/accept_invite.html")]
struct AcceptPage {
    ctx: PageCtx,
    token: String,
    email: String,
    place: String,
    role: String,
    existing: bool,
    given_name: String,
    errors: FormErrors,
}

async fn load_invite(
    state: &AppState,
    plain: String,
) -> AppResult<(Result<AuthToken, TokenProblem>, String, bool)> {
    let now = now_micros(state.now());
    state
        .db(move |c| {
            let t = lookup(c, "invite", &plain, now)?;
            let (place, existing) = match &t {
                Ok(t) => {
                    let place = match t.tenant_id {
                        Some(id) => crate::tenancy::store::find(c, id)?.name,
                        None => "Keel".into(),
                    };
                    (place, store::user_by_email(c, &t.email)?.is_some_and(|u| u.password_hash.is_some()))
                }
                Err(_) => (String::new(), false),
            };
            Ok((t, place, existing))
        })
        .await
}

/// Pages for visitors without a session carry a CSRF token in the same cookie as sign-in.
fn anonymous_ctx(req: &HttpRequest, title: &str) -> PageCtx {
    let mut ctx = PageCtx::new(req, title);
    if ctx.csrf_token.is_empty() {
        ctx.csrf_token = token::hmac_hex(
            &req.app_data::<web::Data<AppState>>().map(|s| s.config().secret_key.clone()).unwrap_or_default(),
            format!("anon-form:{}", req.path()).as_bytes(),
        );
    }
    ctx
}

fn check_anonymous_csrf(req: &HttpRequest, state: &AppState, sent: &str) -> AppResult<()> {
    let want = token::hmac_hex(&state.config().secret_key, format!("anon-form:{}", req.path()).as_bytes());
    if !token::constant_time_eq(want.as_bytes(), sent.as_bytes())
        || !super::extract::same_origin(req, &state.config().base_url)
    {
        return Err(AppError::Forbidden(super::extract::CSRF_MESSAGE.into()));
    }
    Ok(())
}

async fn accept_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    tok: web::Path<String>,
) -> AppResult<HttpResponse> {
    let plain = tok.into_inner();
    let (t, place, existing) = load_invite(&state, plain.clone()).await?;
    let t = match t {
        Ok(t) => t,
        Err(p) => return problem_page(&req, "invite", p),
    };
    let role = t.role.as_deref().and_then(Role::parse).map(|r| r.label()).unwrap_or("member");
    render(&AcceptPage {
        ctx: anonymous_ctx(&req, "Accept your invitation"),
        token: plain,
        email: t.email,
        place,
        role: role.into(),
        existing,
        given_name: String::new(),
        errors: FormErrors::new(),
    })
}

#[derive(Debug, Deserialize)]
struct AcceptForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf_token: String,
}

async fn accept_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    tok: web::Path<String>,
    form: web::Form<AcceptForm>,
) -> AppResult<HttpResponse> {
    check_anonymous_csrf(&req, &state, &form.csrf_token)?;
    let plain = tok.into_inner();
    let (t, place, existing) = load_invite(&state, plain.clone()).await?;
    let t = match t {
        Ok(t) => t,
        Err(p) => return problem_page(&req, "invite", p),
    };
    let role = t
        .role
        .as_deref()
        .and_then(Role::parse)
        .ok_or_else(|| AppError::internal("invitation without role"))?;
    let mut errors = FormErrors::new();
    let name = if existing {
        String::new()
    } else {
        form::required_text(&mut errors, "name", "your name", &form::strip_bidi(&form.name), 100)
    };
    if !existing {
        if let Err(m) = password::check_policy(&form.password, &t.email) {
            errors.add("password", m);
        } else if form.password != form.confirm {
            errors.add("confirm", "The two passwords don't match.");
        }
    }
    if !errors.is_empty() {
        let page = AcceptPage {
            ctx: anonymous_ctx(&req, "Accept your invitation"),
            token: plain,
            email: t.email,
            place,
            role: role.label().into(),
            existing,
            given_name: form.name.clone(),
            errors,
        };
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let hash = if existing {
        None
    } else {
        let pw = form.password.clone();
        Some(state.blocking(move || password::hash(&pw)).await?.map_err(AppError::internal)?)
    };
    let now = now_micros(state.now());
    let (ip, ua) = (
        signin::client_ip(&req),
        req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").to_string(),
    );
    let actor_req = crate::audit::Actor::from_request(&req, None, &t.email);
    let outcome = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                if !consume(c, t.id, now)? {
                    return Ok::<_, diesel::result::Error>(None);
                }
                let uid = match store::user_by_email(c, &t.email)? {
                    Some(u) => {
                        if let Some(h) = &hash
                            && u.password_hash.is_none()
                        {
                            store::set_password(c, u.id, h, now)?;
                        }
                        u.id
                    }
                    None => store::insert_user(
                        c,
                        &NewUser {
                            email: t.email.clone(),
                            display_name: name.clone(),
                            password_hash: hash.clone(),
                            platform_role: role.is_internal().then(|| role.as_str().to_string()),
                            status: "active".into(),
                            password_changed_at: Some(now),
                            created_at: now,
                            updated_at: now,
                        },
                    )?,
                };
                if let Some(tid) = t.tenant_id {
                    let has = store::memberships_of(c, uid)?.iter().any(|m| m.membership.tenant_id == tid);
                    if !has {
                        store::insert_membership(
                            c,
                            &NewMembership {
                                user_id: uid,
                                tenant_id: tid,
                                role: role.as_str().into(),
                                created_at: now,
                            },
                        )?;
                    }
                }
                let mut actor = actor_req.clone();
                actor.user_id = Some(uid);
                audit::record(
                    c,
                    &actor,
                    Event::new("user.invite_accepted", "user", uid)
                        .tenant(t.tenant_id)
                        .details(serde_json::json!({"role": role.as_str()})),
                    now,
                )?;
                // New users are signed in; internal staff still set up two-factor first.
                let token = if existing {
                    None
                } else {
                    let stage = if role.is_internal() { "enroll" } else { "full" };
                    Some((session::create(c, uid, stage, &ip, &ua, now)?, stage))
                };
                Ok(Some(token))
            })?)
        })
        .await?;
    match outcome {
        None => problem_page(&req, "invite", TokenProblem::Used),
        Some(None) => Ok(flash::redirect_with(
            &req,
            "/login",
            "success",
            format!("You now have access to {place}. Sign in to continue."),
        )),
        Some(Some((token, stage))) => {
            let mut resp = redirect(if stage == "enroll" { "/account/2fa/setup" } else { "/" });
            let _ = resp.add_cookie(&session::cookie(state.config(), &token));
            Ok(resp)
        }
    }
}

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    ctx: PageCtx,
    email: String,
    sent: bool,
    errors: FormErrors,
}

async fn forgot_page(req: HttpRequest) -> AppResult<HttpResponse> {
    render(&ForgotPage {
        ctx: anonymous_ctx(&req, "Reset your password"),
        email: String::new(),
        sent: false,
        errors: FormErrors::new(),
    })
}

#[derive(Debug, Deserialize)]
struct ForgotForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf_token: String,
}

async fn forgot_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ForgotForm>,
) -> AppResult<HttpResponse> {
    check_anonymous_csrf(&req, &state, &form.csrf_token)?;
    let mut errors = FormErrors::new();
    let email = form::email(&mut errors, "email", &form.email);
    if !errors.is_empty() {
        let page = ForgotPage {
            ctx: anonymous_ctx(&req, "Reset your password"),
            email: form.email.clone(),
            sent: false,
            errors,
        };
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let base = state.config().base_url.clone();
    let actor = Actor::from_request(&req, None, &email);
    let e = email.clone();
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let Some(u) = store::user_by_email(c, &e)? else { return Ok::<_, diesel::result::Error>(()) };
                if u.status != "active" {
                    return Ok(());
                }
                let plain = token::random_token();
                diesel::insert_into(at::table)
                    .values((
                        at::purpose.eq("reset"),
                        at::token_hash.eq(token::sha256_hex(plain.as_bytes())),
                        at::user_id.eq(Some(u.id)),
                        at::email.eq(&u.email),
                        at::created_at.eq(now),
                        at::expires_at.eq(now + RESET_TTL),
                    ))
                    .execute(c)?;
                // At most one reset email per account every 5 minutes.
                let bucket = now.and_utc().timestamp() / 300;
                notify::queue(
                    c,
                    &Email {
                        to: u.email.clone(),
                        subject: "Reset your Keel password".into(),
                        text: format!(
                            "Someone asked to reset the password of your Keel account ({}).\n\nChoose a new password here (the link works once, for one hour):\n{base}/reset/{plain}\n\nIf it wasn't you, ignore this email: your password stays as it is.\n\n— Keel",
                            u.email
                        ),
                        html: None,
                        headers: Vec::new(),
                        dedupe_key: Some(format!("reset:{}:{bucket}", u.id)),
                    },
                    now,
                )?;
                let mut a = actor.clone();
                a.user_id = Some(u.id);
                audit::record(c, &a, Event::new("auth.password_reset_requested", "user", u.id), now)?;
                Ok(())
            })?)
        })
        .await?;
    state.job_wakeup().notify_waiters();
    // The same answer whether or not the account exists.
    render(&ForgotPage {
        ctx: anonymous_ctx(&req, "Reset your password"),
        email,
        sent: true,
        errors: FormErrors::new(),
    })
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    ctx: PageCtx,
    token: String,
    email: String,
    errors: FormErrors,
}

async fn reset_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    tok: web::Path<String>,
) -> AppResult<HttpResponse> {
    let plain = tok.into_inner();
    let now = now_micros(state.now());
    let p2 = plain.clone();
    let t = state.db(move |c| Ok(lookup(c, "reset", &p2, now)?)).await?;
    match t {
        Ok(t) => render(&ResetPage {
            ctx: anonymous_ctx(&req, "Choose a new password"),
            token: plain,
            email: t.email,
            errors: FormErrors::new(),
        }),
        Err(p) => problem_page(&req, "reset", p),
    }
}

#[derive(Debug, Deserialize)]
struct ResetForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf_token: String,
}

async fn reset_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    tok: web::Path<String>,
    form: web::Form<ResetForm>,
) -> AppResult<HttpResponse> {
    check_anonymous_csrf(&req, &state, &form.csrf_token)?;
    let plain = tok.into_inner();
    let now = now_micros(state.now());
    let p2 = plain.clone();
    let t = match state.db(move |c| Ok(lookup(c, "reset", &p2, now)?)).await? {
        Ok(t) => t,
        Err(p) => return problem_page(&req, "reset", p),
    };
    let mut errors = FormErrors::new();
    if let Err(m) = password::check_policy(&form.password, &t.email) {
        errors.add("password", m);
    } else if form.password != form.confirm {
        errors.add("confirm", "The two passwords don't match.");
    }
    if !errors.is_empty() {
        let page = ResetPage {
            ctx: anonymous_ctx(&req, "Choose a new password"),
            token: plain,
            email: t.email,
            errors,
        };
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let pw = form.password.clone();
    let hash = state.blocking(move || password::hash(&pw)).await?.map_err(AppError::internal)?;
    let actor = Actor::from_request(&req, t.user_id, &t.email);
    let base = state.config().base_url.clone();
    let done = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let Some(uid) = t.user_id else { return Ok::<_, diesel::result::Error>(false) };
                if !consume(c, t.id, now)? {
                    return Ok(false);
                }
                store::set_password(c, uid, &hash, now)?;
                store::delete_sessions_of(c, uid, None)?;
                super::throttle::clear(c, &super::throttle::account_key(&t.email))?;
                audit::record(c, &actor, Event::new("auth.password_reset", "user", uid), now)?;
                notify::queue(
                    c,
                    &super::account::password_changed_email(
                        &t.email,
                        &base,
                        &now.format("%Y-%m-%d %H:%M").to_string(),
                    ),
                    now,
                )?;
                Ok(true)
            })?)
        })
        .await?;
    if !done {
        return problem_page(&req, "reset", TokenProblem::Used);
    }
    Ok(flash::redirect_with(
        &req,
        "/login",
        "success",
        "Your password was changed. Sign in with your new password.",
    ))
}
