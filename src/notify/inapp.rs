//! In-app notifications: the bell in the top bar (with the unread count) and `/notifications`,
//! where each signed-in user reads and marks their own. Written in the same transaction as the
//! change that causes them (a cap crossing, say).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{CsrfForm, Principal};
use crate::db::schema::notifications as n;
use crate::db::{DbConn, now_micros};
use crate::error::AppResult;
use crate::web::flash;
use crate::web::layout::{PageCtx, render};
use crate::web::pagination::Paging;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(page)).route("/notifications/read", web::post().to(mark_read));
}

/// A notification.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = n)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub tenant_id: Option<i64>,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: String,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

/// Adds a notification for a user.
#[allow(clippy::too_many_arguments)]
pub fn notify(
    c: &mut DbConn,
    user: i64,
    tenant: Option<i64>,
    kind: &str,
    title: &str,
    body: &str,
    link: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(n::table)
        .values((
            n::user_id.eq(user),
            n::tenant_id.eq(tenant),
            n::kind.eq(kind),
            n::title.eq(title),
            n::body.eq(body),
            n::link.eq(link),
            n::created_at.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

/// How many of a user's notifications are unread.
pub fn unread(c: &mut DbConn, user: i64) -> QueryResult<i64> {
    n::table.filter(n::user_id.eq(user)).filter(n::read_at.is_null()).count().get_result(c)
}

/// A user's notifications, newest first.
pub fn of_user(c: &mut DbConn, user: i64, offset: i64, limit: i64) -> QueryResult<(Vec<Notification>, i64)> {
    let total = n::table.filter(n::user_id.eq(user)).count().get_result(c)?;
    let rows = n::table
        .filter(n::user_id.eq(user))
        .order(n::id.desc())
        .offset(offset)
        .limit(limit)
        .select(Notification::as_select())
        .load(c)?;
    Ok((rows, total))
}

#[derive(Template)]
#[template(path = "notify/notifications.html")]
struct Page {
    ctx: PageCtx,
    rows: Vec<Notification>,
    unread: i64,
    paging: Paging,
}

#[derive(Debug, Deserialize)]
struct Query {
    page: Option<i64>,
}

async fn page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> AppResult<HttpResponse> {
    let paging = Paging::new(q.page, 50);
    let user = p.user_id;
    let (rows, total, unread) = state
        .db(move |c| {
            let (rows, total) = of_user(c, user, paging.offset(), paging.per_page)?;
            Ok((rows, total, unread(c, user)?))
        })
        .await?;
    render(&Page { ctx: PageCtx::new(&req, "Notifications"), rows, unread, paging: paging.with_total(total) })
}

#[derive(Debug, Deserialize)]
struct ReadForm {
    #[serde(default)]
    id: String,
}

async fn mark_read(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<ReadForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    let user = p.user_id;
    let one: Option<i64> = f.id.trim().parse().ok();
    let now = now_micros(state.now());
    let link = state
        .db(move |c| {
            // Only the signed-in user's own notifications: another user's id changes nothing.
            let mut q = diesel::update(n::table.filter(n::user_id.eq(user)).filter(n::read_at.is_null()))
                .into_boxed();
            if let Some(id) = one {
                q = q.filter(n::id.eq(id));
            }
            q.set(n::read_at.eq(Some(now))).execute(c)?;
            let link: Option<String> = match one {
                Some(id) => n::table
                    .filter(n::user_id.eq(user))
                    .filter(n::id.eq(id))
                    .select(n::link)
                    .first(c)
                    .optional()?,
                None => None,
            };
            Ok(link)
        })
        .await?;
    Ok(match link {
        Some(l) if l.starts_with('/') && !l.starts_with("//") => crate::web::layout::redirect(&l),
        _ => flash::redirect_with(&req, "/notifications", "success", "Marked as read."),
    })
}
