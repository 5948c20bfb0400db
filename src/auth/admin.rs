//! `/admin/users`: every user for the vendor's staff; platform admins invite anyone (including
//! staff), disable and re-enable accounts (which ends their sessions at once).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::invite::{self, Invitation};
use super::model::User;
use super::store::{self, MembershipWithTenant};
use super::{Action, CsrfForm, Principal, Role};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::tenancy::model::Tenant;
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};
use crate::web::pagination::Paging;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::get().to(list))
        .route("/admin/users/invite", web::post().to(invite_user))
        .route("/admin/users/{id}", web::get().to(detail))
        .route("/admin/users/{id}/status", web::post().to(set_status));
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    page: Option<i64>,
}

/// A user as the list shows it.
struct UserRow {
    user: User,
    role: String,
}

#[derive(Debug, Deserialize, Default, Clone)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    tenant_id: String,
}

#[derive(Template)]
#[template(path = "auth/admin_users.html")]
struct ListPage {
    ctx: PageCtx,
    rows: Vec<UserRow>,
    q: String,
    paging: Paging,
    base_query: String,
    can_manage: bool,
    tenants: Vec<Tenant>,
    roles: Vec<(String, String)>,
    f: InviteForm,
    errors: FormErrors,
}

async fn list_page(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    q: ListQuery,
    f: InviteForm,
    errors: FormErrors,
) -> AppResult<ListPage> {
    let search = Some(q.q.trim().to_string()).filter(|s| !s.is_empty());
    let paging = Paging::new(q.page, 50);
    let s = search.clone();
    let (users, total, roles, tenants) = state
        .db(move |c| {
            let (users, total) = store::search_users(c, s.as_deref(), paging.offset(), paging.per_page)?;
            let mut roles = Vec::new();
            for u in &users {
                let ms = store::memberships_of(c, u.id)?;
                roles.push(describe_roles(u, &ms));
            }
            let mut tenants = crate::tenancy::store::districts(c)?;
            let (schools, _) = crate::tenancy::store::search(c, None, Some("school"), 0, 10_000)?;
            tenants.extend(schools.into_iter().map(|r| r.tenant));
            Ok((users, total, roles, tenants))
        })
        .await?;
    Ok(ListPage {
        ctx: PageCtx::new(req, "Users"),
        rows: users.into_iter().zip(roles).map(|(user, role)| UserRow { user, role }).collect(),
        base_query: serde_urlencoded::to_string([("q", q.q.as_str())]).unwrap_or_default(),
        q: q.q,
        paging: paging.with_total(total),
        can_manage: p.can(Action::ManageUsers),
        tenants,
        roles: Role::ALL.iter().map(|r| (r.as_str().to_string(), r.label().to_string())).collect(),
        f,
        errors,
    })
}

fn describe_roles(u: &User, ms: &[MembershipWithTenant]) -> String {
    let mut parts: Vec<String> =
        u.platform_role.as_deref().and_then(Role::parse).map(|r| r.label().to_string()).into_iter().collect();
    for m in ms {
        let role = Role::parse(&m.membership.role).map(|r| r.label()).unwrap_or("?");
        parts.push(format!("{role}, {}", m.tenant_name));
    }
    if parts.is_empty() { "No access".into() } else { parts.join("; ") }
}

async fn list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewUsers)?;
    let page = list_page(&req, &p, &state, q.into_inner(), InviteForm::default(), FormErrors::new()).await?;
    render(&page)
}

async fn invite_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<InviteForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageUsers)?;
    let mut errors = FormErrors::new();
    let email = form::email(&mut errors, "email", &f.email);
    let name = form::optional_text(&mut errors, "name", "the name", &f.name, 100).unwrap_or_default();
    let role = Role::parse(&f.role);
    if role.is_none() {
        errors.add("role", "Choose a role.");
    }
    let tenant_id = f.tenant_id.trim().parse::<i64>().ok();
    let tenant = match tenant_id {
        Some(t) => state.db(move |c| Ok(crate::tenancy::store::find(c, t).ok())).await?,
        None => None,
    };
    if let Some(r) = role {
        match (&tenant, r.is_internal()) {
            (Some(_), true) => {
                errors.add("tenant_id", "Staff roles work across all tenants: choose no district or school.")
            }
            (None, false) => errors.add("tenant_id", "Choose the district or school this role belongs to."),
            (Some(t), false) if r.is_district_role() != (t.kind == "district") => errors.add(
                "role",
                format!(
                    "{} belongs to a {}; {} is a {}.",
                    r.label(),
                    if r.is_district_role() { "district" } else { "school" },
                    t.name,
                    t.kind
                ),
            ),
            _ => {}
        }
    }
    let again = |errors: FormErrors| async {
        let page = list_page(&req, &p, &state, ListQuery { q: String::new(), page: None }, f.clone(), errors)
            .await?;
        render_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
    };
    let Some(role) = role.filter(|_| errors.is_empty()) else { return again(errors).await };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let base = state.config().base_url.clone();
    let tname = tenant.as_ref().map(|t| t.name.clone()).unwrap_or_default();
    let inv = Invitation { email: email.clone(), name, tenant_id: tenant.as_ref().map(|t| t.id), role };
    let result =
        state.db(move |c| Ok(write_tx(c, |c| invite::create(c, &actor, &inv, &tname, &base, now))?)).await?;
    match result {
        Ok(_) => {
            state.job_wakeup().notify_waiters();
            Ok(flash::redirect_with(
                &req,
                "/admin/users",
                "success",
                format!("An invitation was sent to {email} ({}).", role.label()),
            ))
        }
        Err(m) => {
            let mut errors = FormErrors::new();
            errors.add("email", m);
            again(errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "auth/admin_user.html")]
struct DetailPage {
    ctx: PageCtx,
    u: User,
    roles: Vec<(i64, String, String)>,
    sessions: usize,
    can_manage: bool,
}

async fn detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewUsers)?;
    let id = id.into_inner();
    let (u, ms, sessions) = state
        .db(move |c| {
            let u = store::user_by_id(c, id)?;
            let ms = store::memberships_of(c, id)?;
            let sessions = store::sessions_of(c, id)?.into_iter().filter(|s| s.stage == "full").count();
            Ok((u, ms, sessions))
        })
        .await?;
    let mut roles: Vec<(i64, String, String)> = Vec::new();
    for m in ms {
        let label = Role::parse(&m.membership.role).map(|r| r.label()).unwrap_or("?").to_string();
        roles.push((m.membership.tenant_id, m.tenant_name, label));
    }
    render(&DetailPage {
        ctx: PageCtx::new(&req, u.display_name.clone()),
        u,
        roles,
        sessions,
        can_manage: p.can(Action::ManageUsers),
    })
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
}

async fn set_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<StatusForm>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageUsers)?;
    let id = id.into_inner();
    let status = match form.form.status.as_str() {
        "active" => "active",
        "disabled" => "disabled",
        _ => return Err(AppError::BadRequest("Unknown status.".into())),
    };
    if id == p.user_id {
        return Ok(flash::redirect_with(
            &req,
            &format!("/admin/users/{id}"),
            "error",
            "You can't disable your own account.",
        ));
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let name = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let u = store::user_by_id(c, id)?;
                store::set_user_status(c, id, status, now)?;
                let action = if status == "disabled" { "user.disable" } else { "user.enable" };
                audit::record(
                    c,
                    &actor,
                    Event::new(action, "user", id).details(serde_json::json!({"email": u.email})),
                    now,
                )?;
                Ok::<_, diesel::result::Error>(u.display_name)
            })?)
        })
        .await?;
    let msg = if status == "disabled" {
        format!("{name} is disabled and was signed out everywhere.")
    } else {
        format!("{name} can sign in again.")
    };
    Ok(flash::redirect_with(&req, &format!("/admin/users/{id}"), "success", msg))
}
