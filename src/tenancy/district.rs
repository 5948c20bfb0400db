//! Pages for district and school staff: `/district/schools` (a district's linked schools) and
//! `/district/members` (who has access, invitations, role changes). Everything is read through
//! the principal's scope; another district's ids answer 404.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::store::{self, TenantRow};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::invite::{self, AuthToken, Invitation};
use crate::auth::roles::grantable_by;
use crate::auth::store::MemberRow;
use crate::auth::{Action, CsrfForm, Principal, Role};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, redirect, render, render_status};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/district/schools", web::get().to(schools))
        .route("/district/members", web::get().to(members))
        .route("/district/members/invite", web::post().to(invite_member))
        .route("/district/members/{id}/role", web::post().to(change_role))
        .route("/district/members/{id}/remove", web::post().to(remove));
}

/// A district the principal may look at, with its schools.
struct DistrictBlock {
    name: String,
    schools: Vec<TenantRow>,
}

#[derive(Template)]
#[template(path = "tenancy/schools.html")]
struct SchoolsPage {
    ctx: PageCtx,
    blocks: Vec<DistrictBlock>,
}

async fn schools(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    if p.is_internal() {
        return Ok(redirect("/admin/tenants?kind=district"));
    }
    let districts: Vec<(i64, String)> = p
        .tenant_roles
        .iter()
        .filter(|t| t.tenant_kind == "district" && p.scope.allows(Action::ViewSchools, t.tenant_id))
        .map(|t| (t.tenant_id, t.tenant_name.clone()))
        .collect();
    if districts.is_empty() {
        return Err(AppError::NotFound);
    }
    let blocks = state
        .db(move |c| {
            let mut out = Vec::new();
            for (id, name) in districts {
                out.push(DistrictBlock { name, schools: store::schools_of(c, &[id])? });
            }
            Ok(out)
        })
        .await?;
    render(&SchoolsPage { ctx: PageCtx::new(&req, "Schools"), blocks })
}

/// A member row with what the viewer may do to it.
struct MemberView {
    m: MemberRow,
    can_manage: bool,
    role_options: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "tenancy/members.html")]
struct MembersPage {
    ctx: PageCtx,
    rows: Vec<MemberView>,
    tenants: Vec<(i64, String, String)>,
    filter: String,
    invites: Vec<(AuthToken, String)>,
    invite_tenants: Vec<(i64, String, String)>,
    invite_roles: Vec<(String, String)>,
    f: InviteForm,
    errors: FormErrors,
}

#[derive(Debug, Deserialize, Default, Clone)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    role: String,
}

#[derive(Debug, Deserialize)]
struct MembersQuery {
    #[serde(default)]
    tenant: String,
}

/// The strongest role `p` holds at `tenant` that may manage members there.
fn granter_at(p: &Principal, tenant: i64) -> Option<Role> {
    if p.platform_role == Some(Role::PlatformAdmin) {
        return Some(Role::PlatformAdmin);
    }
    p.scope
        .roles_at(tenant)
        .into_iter()
        .filter(|r| crate::auth::roles::allowed(*r, Action::ManageMembers))
        .min()
}

/// Roles `p` may give at a tenant of `kind`.
fn roles_for(p: &Principal, tenant: i64, kind: &str) -> Vec<Role> {
    let Some(g) = granter_at(p, tenant) else { return Vec::new() };
    grantable_by(g)
        .iter()
        .copied()
        .filter(|r| !r.is_internal() && (r.is_district_role() == (kind == "district")))
        .collect()
}

async fn members_page(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    filter: String,
    f: InviteForm,
    errors: FormErrors,
) -> AppResult<MembersPage> {
    let visible = p.scope.tenants_for(Action::ViewMembers).ok_or(AppError::NotFound)?;
    if visible.is_empty() {
        return Err(AppError::NotFound);
    }
    let only: Option<i64> = filter.parse().ok();
    if let Some(t) = only
        && !visible.contains(&t)
    {
        return Err(AppError::NotFound);
    }
    let now = now_micros(state.now());
    let v2 = visible.clone();
    let (names, kinds, rows, invites) = state
        .db(move |c| {
            let names = store::names(c, Some(&v2))?;
            let mut kinds = Vec::new();
            for (id, _) in &names {
                kinds.push((*id, store::find(c, *id)?.kind));
            }
            let ids: Vec<i64> = match only {
                Some(t) => vec![t],
                None => v2.clone(),
            };
            let rows = crate::auth::store::members_of(c, &ids)?;
            let invites = invite::pending(c, Some(&ids), now)?;
            Ok((names, kinds, rows, invites))
        })
        .await?;
    let kind_of = |id: i64| kinds.iter().find(|(t, _)| *t == id).map(|(_, k)| k.clone()).unwrap_or_default();
    let name_of = |id: Option<i64>| {
        id.and_then(|id| names.iter().find(|(t, _)| *t == id).map(|(_, n)| n.clone())).unwrap_or_default()
    };
    let tenants: Vec<(i64, String, String)> =
        names.iter().map(|(id, n)| (*id, n.clone(), kind_of(*id))).collect();
    let rows = rows
        .into_iter()
        .map(|m| {
            let opts = roles_for(p, m.tenant_id, &kind_of(m.tenant_id));
            let current = Role::parse(&m.role);
            let can_manage = m.user_id != p.user_id
                && p.scope.allows(Action::ManageMembers, m.tenant_id)
                && current.is_some_and(|r| opts.contains(&r));
            MemberView {
                can_manage,
                role_options: opts.iter().map(|r| (r.as_str().to_string(), r.label().to_string())).collect(),
                m,
            }
        })
        .collect();
    let invite_tenants: Vec<(i64, String, String)> =
        tenants.iter().filter(|(id, _, _)| p.scope.allows(Action::ManageMembers, *id)).cloned().collect();
    let mut invite_roles: Vec<Role> = Vec::new();
    for (id, _, kind) in &invite_tenants {
        for r in roles_for(p, *id, kind) {
            if !invite_roles.contains(&r) {
                invite_roles.push(r);
            }
        }
    }
    invite_roles.sort();
    Ok(MembersPage {
        ctx: PageCtx::new(req, "Members"),
        rows,
        tenants,
        filter,
        invites: invites
            .into_iter()
            .map(|i| {
                let n = name_of(i.tenant_id);
                (i, n)
            })
            .collect(),
        invite_tenants,
        invite_roles: invite_roles.iter().map(|r| (r.as_str().to_string(), r.label().to_string())).collect(),
        f,
        errors,
    })
}

async fn members(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<MembersQuery>,
) -> AppResult<HttpResponse> {
    if p.is_internal() {
        return Ok(redirect("/admin/users"));
    }
    let page =
        members_page(&req, &p, &state, q.tenant.clone(), InviteForm::default(), FormErrors::new()).await?;
    render(&page)
}

async fn invite_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<InviteForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    if !p.scope.allows_anywhere(Action::ManageMembers) {
        return Err(AppError::NotFound);
    }
    if p.is_internal() {
        // Staff invite from the Users page, where every tenant and role can be chosen.
        return Ok(flash::redirect_with(&req, "/admin/users", "warning", "Invite people from this page."));
    }
    let mut errors = FormErrors::new();
    let email = form::email(&mut errors, "email", &f.email);
    let name = form::optional_text(&mut errors, "name", "the name", &f.name, 100).unwrap_or_default();
    let tenant_id =
        f.tenant_id.trim().parse::<i64>().ok().filter(|t| p.scope.allows(Action::ManageMembers, *t));
    if tenant_id.is_none() {
        errors.add("tenant_id", "Choose the district or school to invite them to.");
    }
    let role = Role::parse(&f.role);
    let tenant = match tenant_id {
        Some(t) => Some(state.db(move |c| Ok(store::find(c, t)?)).await?),
        None => None,
    };
    match (role, &tenant) {
        (None, _) => errors.add("role", "Choose a role."),
        (Some(r), Some(t)) if !roles_for(&p, t.id, &t.kind).contains(&r) => errors.add(
            "role",
            if t.kind == "district" {
                format!("{} is not a role you can give in a district. District roles are district admin, auditor and procurement officer.", r.label())
            } else {
                format!("{} is not a role you can give in a school. School roles are school admin and staff.", r.label())
            },
        ),
        _ => {}
    }
    let again = |errors: FormErrors| async {
        let page = members_page(&req, &p, &state, String::new(), f.clone(), errors).await?;
        render_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
    };
    if !errors.is_empty() {
        return again(errors).await;
    }
    let (Some(role), Some(t)) = (role, tenant) else { return again(errors).await };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let base = state.config().base_url.clone();
    let inv = Invitation { email: email.clone(), name, tenant_id: Some(t.id), role };
    let tname = t.name.clone();
    let result =
        state.db(move |c| Ok(write_tx(c, |c| invite::create(c, &actor, &inv, &tname, &base, now))?)).await?;
    match result {
        Ok(_) => {
            state.job_wakeup().notify_waiters();
            Ok(flash::redirect_with(
                &req,
                "/district/members",
                "success",
                format!(
                    "An invitation to {} as {} was sent to {email}. It works for 7 days.",
                    t.name,
                    role.label()
                ),
            ))
        }
        Err(message) => {
            let mut errors = FormErrors::new();
            errors.add("email", message);
            again(errors).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn change_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<RoleForm>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    let id = id.into_inner();
    let m = state.db(move |c| Ok(crate::auth::store::membership(c, id)?)).await?.ok_or(AppError::NotFound)?;
    p.scope.require(Action::ViewMembers, m.tenant_id)?;
    p.scope.require(Action::ManageMembers, m.tenant_id)?;
    let tid = m.tenant_id;
    let t = state.db(move |c| Ok(store::find(c, tid)?)).await?;
    let allowed = roles_for(&p, t.id, &t.kind);
    let current = Role::parse(&m.role);
    let new = Role::parse(&form.form.role);
    if m.user_id == p.user_id || !current.is_some_and(|r| allowed.contains(&r)) {
        return Ok(flash::redirect_with(
            &req,
            "/district/members",
            "error",
            "You can't change that member's role.",
        ));
    }
    let Some(new) = new.filter(|r| allowed.contains(r)) else {
        return Ok(flash::redirect_with(
            &req,
            "/district/members",
            "error",
            "Choose one of the roles in the list.",
        ));
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let before = m.role.clone();
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                crate::auth::store::set_membership_role(c, id, new.as_str())?;
                audit::record(
                    c,
                    &actor,
                    Event::new("membership.role_change", "membership", id).tenant(Some(tid)).details(
                        serde_json::json!({"user_id": m.user_id, "before": before, "after": new.as_str()}),
                    ),
                    now,
                )
            })?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        "/district/members",
        "success",
        format!("Role changed to {}.", new.label()),
    ))
}

async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<crate::web::form::NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    let id = id.into_inner();
    let m = state.db(move |c| Ok(crate::auth::store::membership(c, id)?)).await?.ok_or(AppError::NotFound)?;
    p.scope.require(Action::ViewMembers, m.tenant_id)?;
    p.scope.require(Action::ManageMembers, m.tenant_id)?;
    let tid = m.tenant_id;
    let t = state.db(move |c| Ok(store::find(c, tid)?)).await?;
    let allowed = roles_for(&p, t.id, &t.kind);
    if m.user_id == p.user_id || !Role::parse(&m.role).is_some_and(|r| allowed.contains(&r)) {
        return Ok(flash::redirect_with(&req, "/district/members", "error", "You can't remove that member."));
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                crate::auth::store::delete_membership(c, id)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("membership.remove", "membership", id)
                        .tenant(Some(tid))
                        .details(serde_json::json!({"user_id": m.user_id, "role": m.role})),
                    now,
                )
            })?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        "/district/members",
        "success",
        format!("Access to {} was removed.", t.name),
    ))
}

/// Districts and stand-alone schools on which `action` is allowed for `p` (all of them for
/// internal staff allowed the action), by name: the tenants that own billing and statements.
pub async fn top_level_tenants(
    p: &Principal,
    state: &AppState,
    action: Action,
) -> AppResult<Vec<(i64, String)>> {
    let allowed = p.scope.tenants_for(action);
    if allowed.as_ref().is_some_and(|v| v.is_empty()) {
        return Ok(Vec::new());
    }
    state
        .db(move |c| {
            let mut out = Vec::new();
            for (id, name) in store::names(c, allowed.as_deref())? {
                let t = store::find(c, id)?;
                if t.kind == "district" || t.parent_id.is_none() {
                    out.push((id, name));
                }
            }
            Ok(out)
        })
        .await
}

/// The tenant a page shows: the one asked for if it is among `tenants` (the principal's), else
/// the first; none or not among them is not found.
pub fn pick(tenants: &[(i64, String)], wanted: Option<i64>) -> Result<(i64, String), AppError> {
    match wanted {
        Some(t) => tenants.iter().find(|(id, _)| *id == t).cloned().ok_or(AppError::NotFound),
        None => tenants.first().cloned().ok_or(AppError::NotFound),
    }
}
