//! Email subscriptions to the public status page: a visitor subscribes to everything or to
//! chosen components, confirms with a button on the page the email links to (double opt-in;
//! unconfirmed addresses get nothing else), and manages or leaves with a link in every email
//! (`List-Unsubscribe` + one-click `List-Unsubscribe-Post`). Links carry an HMAC of the
//! subscriber id, so nothing secret is stored. Notifications fan out through a job into the
//! outbox with one dedupe key per (update, subscriber): each update is sent once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Deserialize;

use super::model::{Component, Incident};
use crate::AppState;
use crate::auth::throttle;
use crate::db::schema::{incident_updates as iu, status_subscribers as ss};
use crate::db::{DbConn, now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::jobs::{JobError, NewJob};
use crate::notify::{self, Email};
use crate::web::form::{self, FormErrors};
use crate::web::token;

/// Subscriptions per client address per hour.
const SUBSCRIBE_LIMIT: i32 = 10;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/status/subscribe", web::get().to(subscribe_page))
        .route("/status/subscribe", web::post().to(subscribe))
        .route("/status/subscriptions/{token}", web::get().to(manage_page))
        .route("/status/subscriptions/{token}", web::post().to(manage_submit))
        .route("/status/subscriptions/{token}/unsubscribe", web::post().to(one_click_unsubscribe));
}

/// A subscriber row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ss)]
pub struct Subscriber {
    pub id: i64,
    pub email: String,
    /// JSON list of component ids; empty = everything.
    pub components: String,
    pub confirmed_at: Option<NaiveDateTime>,
    pub unsubscribed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Subscriber {
    fn component_ids(&self) -> Vec<i64> {
        serde_json::from_str(&self.components).unwrap_or_default()
    }

    fn wants(&self, affected: &[i64]) -> bool {
        let mine = self.component_ids();
        mine.is_empty() || affected.is_empty() || affected.iter().any(|a| mine.contains(a))
    }
}

/// The token in a subscriber's links: `{id}-{hmac}`.
pub fn link_token(key: &[u8], id: i64) -> String {
    format!("{id}-{}", &token::hmac_hex(key, format!("status-subscriber:{id}").as_bytes())[..32])
}

/// The subscriber a link token names, if it is genuine.
pub fn parse_token(key: &[u8], t: &str) -> Option<i64> {
    let (id, mac) = t.split_once('-')?;
    let id: i64 = id.parse().ok()?;
    let want = link_token(key, id);
    token::constant_time_eq(want.as_bytes(), t.as_bytes()).then_some(id).filter(|_| mac.len() == 32)
}

#[derive(Template)]
#[template(path = "status/subscribe.html")]
struct SubscribePage {
    p: super::public::PublicCtx,
    csrf: String,
    email: String,
    components: Vec<(Component, bool)>,
    errors: FormErrors,
    sent_to: String,
}

fn anon_csrf(state: &AppState, path: &str) -> String {
    token::hmac_hex(&state.config().secret_key, format!("anon-form:{path}").as_bytes())
}

async fn subscribe_page(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    let page = SubscribePage {
        p: super::public::PublicCtx::of(&snap, "Subscribe to updates"),
        csrf: anon_csrf(&state, "/status/subscribe"),
        email: String::new(),
        components: snap.components.iter().filter(|c| !c.is_group).map(|c| (c.clone(), false)).collect(),
        errors: FormErrors::new(),
        sent_to: String::new(),
    };
    crate::web::layout::render(&page)
}

#[derive(Debug, Deserialize)]
struct SubscribeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

fn chosen(rest: &std::collections::HashMap<String, String>, comps: &[Component]) -> Vec<i64> {
    let mut v: Vec<i64> = rest
        .keys()
        .filter_map(|k| k.strip_prefix("component_").and_then(|s| s.parse().ok()))
        .filter(|id| comps.iter().any(|c| c.id == *id))
        .collect();
    v.sort_unstable();
    v
}

async fn subscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SubscribeForm>,
) -> AppResult<HttpResponse> {
    let f = form.into_inner();
    if !token::constant_time_eq(f.csrf_token.as_bytes(), anon_csrf(&state, "/status/subscribe").as_bytes())
        || !crate::auth::extract::same_origin(&req, &state.config().base_url)
    {
        return Err(AppError::Forbidden(crate::auth::extract::CSRF_MESSAGE.into()));
    }
    let snap = state.status_snapshot();
    let comps: Vec<Component> = snap.components.iter().filter(|c| !c.is_group).cloned().collect();
    let ids = chosen(&f.rest, &comps);
    let mut errors = FormErrors::new();
    let email = form::email(&mut errors, "email", &f.email);
    let again = |errors: FormErrors, status: StatusCode| {
        let page = SubscribePage {
            p: super::public::PublicCtx::of(&snap, "Subscribe to updates"),
            csrf: anon_csrf(&state, "/status/subscribe"),
            email: f.email.clone(),
            components: comps.iter().map(|c| (c.clone(), ids.contains(&c.id))).collect(),
            errors,
            sent_to: String::new(),
        };
        crate::web::layout::render_status(&page, status)
    };
    if !errors.is_empty() {
        return again(errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let ip = crate::auth::signin::client_ip(&req);
    let key = format!("subscribe:{ip}");
    let k2 = key.clone();
    let limited = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                if throttle::locked_until(c, &k2, now)?.is_some() {
                    return Ok::<_, diesel::result::Error>(true);
                }
                throttle::record_failure(c, &k2, SUBSCRIBE_LIMIT, now)?;
                Ok(false)
            })?)
        })
        .await?;
    if limited {
        let mut errors = FormErrors::new();
        errors.add(
            "email",
            "Too many subscriptions from your network in a short time. Please try again later.",
        );
        return again(errors, StatusCode::TOO_MANY_REQUESTS);
    }
    let secret = state.config().secret_key.clone();
    let base = state.config().base_url.clone();
    let e = email.clone();
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let existing: Option<Subscriber> =
                    ss::table.filter(ss::email.eq(&e)).select(Subscriber::as_select()).first(c).optional()?;
                let json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
                let id = match existing {
                    Some(s) => {
                        diesel::update(ss::table.find(s.id))
                            .set((ss::components.eq(&json), ss::unsubscribed_at.eq(None::<NaiveDateTime>), ss::updated_at.eq(now)))
                            .execute(c)?;
                        if s.confirmed_at.is_some() && s.unsubscribed_at.is_none() {
                            return Ok::<_, diesel::result::Error>(());
                        }
                        s.id
                    }
                    None => diesel::insert_into(ss::table)
                        .values((ss::email.eq(&e), ss::components.eq(&json), ss::created_at.eq(now), ss::updated_at.eq(now)))
                        .returning(ss::id)
                        .get_result(c)?,
                };
                let link = format!("{base}/status/subscriptions/{}", link_token(&secret, id));
                // At most one confirmation email per address every 10 minutes.
                let bucket = now.and_utc().timestamp() / 600;
                notify::queue(
                    c,
                    &Email {
                        to: e.clone(),
                        subject: "Confirm your status updates subscription".into(),
                        text: format!(
                            "Someone (hopefully you) asked to receive status updates at this address.\n\nConfirm here:\n{link}\n\nIf it wasn't you, ignore this email: you won't receive anything else.\n\n— Keel"
                        ),
                        html: None,
                        headers: vec![],
                        dedupe_key: Some(format!("status-confirm:{id}:{bucket}")),
                    },
                    now,
                )?;
                Ok(())
            })?)
        })
        .await?;
    state.job_wakeup().notify_waiters();
    let page = SubscribePage {
        p: super::public::PublicCtx::of(&snap, "Check your email"),
        csrf: String::new(),
        email: String::new(),
        components: Vec::new(),
        errors: FormErrors::new(),
        sent_to: email,
    };
    crate::web::layout::render(&page)
}

#[derive(Template)]
#[template(path = "status/manage.html")]
struct ManagePage {
    p: super::public::PublicCtx,
    token: String,
    csrf: String,
    s: Subscriber,
    components: Vec<(Component, bool)>,
    message: String,
}

async fn load(state: &AppState, t: &str) -> AppResult<Option<Subscriber>> {
    let Some(id) = parse_token(&state.config().secret_key, t) else { return Ok(None) };
    state.db(move |c| Ok(ss::table.find(id).select(Subscriber::as_select()).first(c).optional()?)).await
}

#[derive(Template)]
#[template(path = "status/bad_link.html")]
struct BadLinkPage {
    p: super::public::PublicCtx,
}

fn bad_link(state: &AppState) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    crate::web::layout::render_status(
        &BadLinkPage { p: super::public::PublicCtx::of(&snap, "This link doesn't work") },
        StatusCode::NOT_FOUND,
    )
}

fn manage(state: &AppState, token: &str, s: Subscriber, message: &str) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    let mine = s.component_ids();
    let page = ManagePage {
        p: super::public::PublicCtx::of(&snap, "Your status updates"),
        csrf: anon_csrf(state, &format!("/status/subscriptions/{token}")),
        token: token.to_string(),
        components: snap
            .components
            .iter()
            .filter(|c| !c.is_group)
            .map(|c| (c.clone(), mine.contains(&c.id)))
            .collect(),
        s,
        message: message.to_string(),
    };
    crate::web::layout::render(&page)
}

async fn manage_page(state: web::Data<AppState>, t: web::Path<String>) -> AppResult<HttpResponse> {
    match load(&state, &t).await? {
        Some(s) => manage(&state, &t, s, ""),
        None => bad_link(&state),
    }
}

#[derive(Debug, Deserialize)]
struct ManageForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

async fn manage_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    t: web::Path<String>,
    form: web::Form<ManageForm>,
) -> AppResult<HttpResponse> {
    let t = t.into_inner();
    if !token::constant_time_eq(
        form.csrf_token.as_bytes(),
        anon_csrf(&state, &format!("/status/subscriptions/{t}")).as_bytes(),
    ) || !crate::auth::extract::same_origin(&req, &state.config().base_url)
    {
        return Err(AppError::Forbidden(crate::auth::extract::CSRF_MESSAGE.into()));
    }
    let Some(s) = load(&state, &t).await? else { return bad_link(&state) };
    let now = now_micros(state.now());
    let snap = state.status_snapshot();
    let comps: Vec<Component> = snap.components.iter().filter(|c| !c.is_group).cloned().collect();
    let ids = chosen(&form.rest, &comps);
    let action = form.action.clone();
    let id = s.id;
    let message = match action.as_str() {
        "confirm" => "Thank you: your subscription is confirmed.",
        "save" => "Saved. You will get updates for the components you chose.",
        "unsubscribe" => "You are unsubscribed and will get no more emails.",
        _ => return Err(AppError::BadRequest("Unknown action.".into())),
    };
    state
        .db(move |c| {
            let q = diesel::update(ss::table.find(id));
            match action.as_str() {
                "confirm" => q
                    .set((
                        ss::confirmed_at.eq(s.confirmed_at.or(Some(now))),
                        ss::unsubscribed_at.eq(None::<NaiveDateTime>),
                        ss::updated_at.eq(now),
                    ))
                    .execute(c)?,
                "save" => q
                    .set((
                        ss::components.eq(serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())),
                        ss::updated_at.eq(now),
                    ))
                    .execute(c)?,
                _ => q.set((ss::unsubscribed_at.eq(Some(now)), ss::updated_at.eq(now))).execute(c)?,
            };
            Ok(())
        })
        .await?;
    let s = load(&state, &t).await?.ok_or(AppError::NotFound)?;
    manage(&state, &t, s, message)
}

/// RFC 8058 one-click unsubscribe (mail clients POST here; the token authenticates).
async fn one_click_unsubscribe(state: web::Data<AppState>, t: web::Path<String>) -> AppResult<HttpResponse> {
    let Some(s) = load(&state, &t).await? else { return bad_link(&state) };
    let now = now_micros(state.now());
    let id = s.id;
    state
        .db(move |c| {
            Ok(diesel::update(ss::table.find(id))
                .set((ss::unsubscribed_at.eq(Some(now)), ss::updated_at.eq(now)))
                .execute(c)?)
        })
        .await?;
    manage(
        &state,
        &t,
        load(&state, &t).await?.ok_or(AppError::NotFound)?,
        "You are unsubscribed and will get no more emails.",
    )
}

/// Enqueues the fan-out of one incident update to subscribers (call in the update's transaction).
pub fn enqueue_notification(c: &mut DbConn, update_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    crate::jobs::store::enqueue(
        c,
        &NewJob::new("status.notify", serde_json::json!({"update_id": update_id}))
            .dedupe(format!("status-notify:{update_id}")),
        now,
    )?;
    Ok(())
}

/// Writes one email per confirmed, matching subscriber for an update (idempotent by dedupe key).
pub fn fan_out(
    c: &mut DbConn,
    key: &[u8],
    base: &str,
    update_id: i64,
    tag: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let (incident_id, status, body): (i64, String, String) =
        iu::table.find(update_id).select((iu::incident_id, iu::status, iu::body)).first(c)?;
    let inc: Incident = super::store::incident(c, incident_id)?;
    if !inc.published {
        return Ok(0);
    }
    let affected: Vec<i64> =
        super::store::affected_of(c, &[incident_id])?.iter().map(|a| a.component_id).collect();
    let subs: Vec<Subscriber> = ss::table
        .filter(ss::confirmed_at.is_not_null())
        .filter(ss::unsubscribed_at.is_null())
        .select(Subscriber::as_select())
        .load(c)?;
    let what = if inc.kind == "maintenance" { "Maintenance" } else { "Incident" };
    let mut n = 0;
    for s in subs.iter().filter(|s| s.wants(&affected)) {
        let tok = link_token(key, s.id);
        let manage = format!("{base}/status/subscriptions/{tok}");
        let email = Email {
            to: s.email.clone(),
            subject: if tag == "reminder" {
                format!("[Reminder] Maintenance starts within the hour: {}", inc.name)
            } else {
                format!("[{}] {}: {}", super::service::label(&status), what, inc.name)
            },
            text: format!(
                "{}\n\n{}: {}\n\nFull timeline: {base}/status/incidents/{}\n\nManage or stop these emails: {manage}\n",
                inc.name,
                super::service::label(&status),
                super::markdown::to_text(&body),
                inc.code
            ),
            html: None,
            headers: vec![
                ("List-Unsubscribe".into(), format!("<{manage}/unsubscribe>")),
                ("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()),
            ],
            dedupe_key: Some(format!("status-{tag}:{update_id}:{}", s.id)),
        };
        if notify::queue(c, &email, now)?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Registers the fan-out job.
pub fn register_jobs(reg: &mut crate::jobs::Registry) {
    reg.add("status.notify", |state: AppState, job| async move {
        let payload: serde_json::Value = serde_json::from_str(&job.payload)
            .map_err(|e| JobError::permanent(format!("bad payload: {e}")))?;
        let id =
            payload["update_id"].as_i64().ok_or_else(|| JobError::permanent("payload has no update_id"))?;
        let tag = payload["tag"].as_str().unwrap_or("update").to_string();
        let key = state.config().secret_key.clone();
        let base = state.config().base_url.clone();
        let now = now_micros(state.now());
        state.db(move |c| Ok(write_tx(c, |c| fan_out(c, &key, &base, id, &tag, now))?)).await?;
        state.job_wakeup().notify_waiters();
        Ok(())
    });
}

/// Sends the 60-minute reminder of upcoming maintenance once.
pub fn maintenance_reminders(c: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    use crate::db::schema::incidents;
    let due: Vec<Incident> = incidents::table
        .filter(incidents::kind.eq("maintenance"))
        .filter(incidents::status.eq("scheduled"))
        .filter(incidents::reminder_sent.eq(false))
        .filter(incidents::scheduled_for.le(now + Duration::minutes(60)))
        .filter(incidents::scheduled_for.gt(now))
        .select(Incident::as_select())
        .load(c)?;
    for m in &due {
        diesel::update(incidents::table.find(m.id)).set(incidents::reminder_sent.eq(true)).execute(c)?;
        let latest: Option<i64> = iu::table
            .filter(iu::incident_id.eq(m.id))
            .order(iu::id.desc())
            .select(iu::id)
            .first(c)
            .optional()?;
        if let Some(u) = latest {
            crate::jobs::store::enqueue(
                c,
                &NewJob::new("status.notify", serde_json::json!({"update_id": u, "tag": "reminder"}))
                    .dedupe(format!("status-reminder:{}", m.id)),
                now,
            )?;
        }
    }
    Ok(due.len())
}
