//! `/admin/tenants`: the vendor's staff create districts and schools, link and unlink schools,
//! and suspend or restore access. Every change is audited.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::model::{NewTenant, Tenant};
use super::store::{self, TenantRow};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::store::MemberRow;
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};
use crate::web::pagination::Paging;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/tenants", web::get().to(list))
        .route("/admin/tenants", web::post().to(create))
        .route("/admin/tenants/new", web::get().to(new_page))
        .route("/admin/tenants/{id}", web::get().to(detail))
        .route("/admin/tenants/{id}/link", web::post().to(link))
        .route("/admin/tenants/{id}/unlink", web::post().to(unlink))
        .route("/admin/tenants/{id}/status", web::post().to(set_status));
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "tenancy/admin_list.html")]
struct ListPage {
    ctx: PageCtx,
    rows: Vec<TenantRow>,
    q: String,
    kind: String,
    paging: Paging,
    base_query: String,
    can_manage: bool,
}

async fn list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewTenants)?;
    let q = q.into_inner();
    let kind = match q.kind.as_str() {
        "district" | "school" => Some(q.kind.clone()),
        _ => None,
    };
    let search = Some(q.q.trim().to_string()).filter(|s| !s.is_empty());
    let paging = Paging::new(q.page, 50);
    let (s, k) = (search.clone(), kind.clone());
    let (rows, total) = state
        .db(move |c| Ok(store::search(c, s.as_deref(), k.as_deref(), paging.offset(), paging.per_page)?))
        .await?;
    let kind = kind.unwrap_or_default();
    render(&ListPage {
        ctx: PageCtx::new(&req, "Tenants"),
        rows,
        base_query: serde_urlencoded::to_string([("q", q.q.as_str()), ("kind", kind.as_str())])
            .unwrap_or_default(),
        q: q.q,
        kind,
        paging: paging.with_total(total),
        can_manage: p.can(Action::ManageTenants),
    })
}

/// The create form's fields, as typed.
#[derive(Debug, Deserialize, Default, Clone)]
struct TenantForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    parent_id: String,
}

#[derive(Template)]
#[template(path = "tenancy/admin_new.html")]
struct NewPage {
    ctx: PageCtx,
    f: TenantForm,
    districts: Vec<Tenant>,
    errors: FormErrors,
}

#[derive(Debug, Deserialize)]
struct NewQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    district: String,
}

async fn new_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<NewQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::ManageTenants)?;
    let districts = state.db(|c| Ok(store::districts(c)?)).await?;
    let f = TenantForm {
        kind: if q.kind == "school" { "school".into() } else { "district".into() },
        time_zone: "America/Chicago".into(),
        parent_id: q.district.clone(),
        ..Default::default()
    };
    render(&NewPage { ctx: PageCtx::new(&req, "New tenant"), f, districts, errors: FormErrors::new() })
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<TenantForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageTenants)?;
    let mut errors = FormErrors::new();
    let kind = match f.kind.as_str() {
        "district" | "school" => f.kind.clone(),
        _ => {
            errors.add("kind", "Choose district or school.");
            String::new()
        }
    };
    let name = form::required_text(&mut errors, "name", "a name", &f.name, 120);
    let slug =
        if f.slug.trim().is_empty() { super::slugify(&name) } else { f.slug.trim().to_ascii_uppercase() };
    if slug.is_empty()
        || slug.len() > 24
        || !slug.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    {
        errors.add(
            "slug",
            "Use 1 to 24 letters, digits and dashes, e.g. LINCOLN. It appears in invoice numbers.",
        );
    }
    let region = form::optional_text(&mut errors, "region", "the region", &f.region, 80).unwrap_or_default();
    let tz = f.time_zone.trim().to_string();
    if tz.parse::<chrono_tz::Tz>().is_err() {
        errors.add("time_zone", "Use a time zone name like America/Chicago or America/New_York.");
    }
    let parent_id = if kind == "school" { f.parent_id.trim().parse::<i64>().ok() } else { None };
    let (s2, pid) = (slug.clone(), parent_id);
    let (taken, parent_ok, districts) = state
        .db(move |c| {
            let parent_ok = match pid {
                Some(id) => store::find(c, id).map(|t| t.kind == "district").unwrap_or(false),
                None => true,
            };
            Ok((store::slug_taken(c, &s2)?, parent_ok, store::districts(c)?))
        })
        .await?;
    if taken {
        errors.add("slug", format!("{slug} is already used by another tenant. Choose another."));
    }
    if !parent_ok {
        errors.add("parent_id", "Choose a district from the list, or none.");
    }
    if !errors.is_empty() {
        let page = NewPage { ctx: PageCtx::new(&req, "New tenant"), f, districts, errors };
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let row = NewTenant {
        kind: kind.clone(),
        parent_id,
        name: name.clone(),
        slug: slug.clone(),
        status: "active".into(),
        region,
        time_zone: tz,
        created_at: now,
        updated_at: now,
    };
    let id = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let id = store::insert(c, &row)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("tenant.create", "tenant", id).tenant(Some(id)).details(serde_json::json!({
                        "kind": row.kind, "name": row.name, "slug": row.slug, "district_id": row.parent_id,
                        "time_zone": row.time_zone,
                    })),
                    now,
                )?;
                Ok::<_, diesel::result::Error>(id)
            })?)
        })
        .await?;
    Ok(flash::redirect_with(&req, &format!("/admin/tenants/{id}"), "success", format!("{name} was created.")))
}

#[derive(Template)]
#[template(path = "tenancy/admin_detail.html")]
struct DetailPage {
    ctx: PageCtx,
    t: Tenant,
    district: Option<Tenant>,
    schools: Vec<TenantRow>,
    unlinked: Vec<Tenant>,
    members: Vec<MemberRow>,
    can_manage: bool,
    /// Every SLA tier (id, name), for the tier select.
    tiers: Vec<(i64, String)>,
    /// The tier that applies and where it comes from, in words.
    tier_text: String,
    can_set_tier: bool,
}

async fn detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewTenants)?;
    let id = id.into_inner();
    let (t, district, schools, unlinked, members, tiers, tier_text) = state
        .db(move |c| {
            let t = store::find(c, id)?;
            let district = match t.parent_id {
                Some(pid) => Some(store::find(c, pid)?),
                None => None,
            };
            let (schools, unlinked) = if t.kind == "district" {
                (store::schools_of(c, &[t.id])?, store::unlinked_schools(c)?)
            } else {
                (Vec::new(), Vec::new())
            };
            let members = crate::auth::store::members_of(c, &[t.id])?;
            let tiers =
                crate::support::tiers::all(c)?.into_iter().map(|x| (x.id, x.name)).collect::<Vec<_>>();
            let tier_text = match crate::support::tiers::effective(c, t.id)? {
                Some(f) => match f.inherited_from {
                    Some(d) => format!("{} (from {d})", f.tier.name),
                    None => f.tier.name,
                },
                None => "None set: best-effort support, no uptime commitment".into(),
            };
            Ok((t, district, schools, unlinked, members, tiers, tier_text))
        })
        .await?;
    render(&DetailPage {
        ctx: PageCtx::new(&req, t.name.clone()),
        t,
        district,
        schools,
        unlinked,
        members,
        can_manage: p.can(Action::ManageTenants),
        tiers,
        tier_text,
        can_set_tier: p.can(Action::ManageSla),
    })
}

#[derive(Debug, Deserialize)]
struct SchoolForm {
    #[serde(default)]
    school_id: String,
}

async fn link(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<SchoolForm>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageTenants)?;
    let district = id.into_inner();
    let Ok(school) = form.form.school_id.trim().parse::<i64>() else {
        return Ok(flash::redirect_with(
            &req,
            &format!("/admin/tenants/{district}"),
            "error",
            "Choose a school to link.",
        ));
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let result = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let d = store::find(c, district)?;
                let s = store::find(c, school)?;
                if d.kind != "district" || s.kind != "school" {
                    return Ok::<_, diesel::result::Error>(Err(
                        "Only a school can be linked, and only to a district.".to_string(),
                    ));
                }
                if let Some(other) = s.parent_id {
                    let o = store::find(c, other)?;
                    return Ok(Err(format!(
                        "{} is already linked to {}. Unlink it there first.",
                        s.name, o.name
                    )));
                }
                store::set_parent(c, school, Some(district), now)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("tenant.link", "tenant", school).tenant(Some(district)).details(
                        serde_json::json!({"school_id": school, "school": s.name, "district_id": district}),
                    ),
                    now,
                )?;
                Ok(Ok(s.name))
            })?)
        })
        .await?;
    let to = format!("/admin/tenants/{district}");
    Ok(match result {
        Ok(name) => {
            flash::redirect_with(&req, &to, "success", format!("{name} is now linked to this district."))
        }
        Err(m) => flash::redirect_with(&req, &to, "error", m),
    })
}

async fn unlink(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<SchoolForm>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageTenants)?;
    let district = id.into_inner();
    let Ok(school) = form.form.school_id.trim().parse::<i64>() else {
        return Ok(flash::redirect_with(
            &req,
            &format!("/admin/tenants/{district}"),
            "error",
            "Choose a school to unlink.",
        ));
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let name = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let s = store::find(c, school)?;
                if s.parent_id != Some(district) {
                    return Err(diesel::result::Error::NotFound);
                }
                store::set_parent(c, school, None, now)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("tenant.unlink", "tenant", school).tenant(Some(district)).details(
                        serde_json::json!({"school_id": school, "school": s.name, "district_id": district}),
                    ),
                    now,
                )?;
                Ok(s.name)
            })?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/tenants/{district}"),
        "success",
        format!("{name} is no longer linked. District staff lose access to it at once."),
    ))
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
    p.require(Action::ManageTenants)?;
    let id = id.into_inner();
    let status = match form.form.status.as_str() {
        "active" => "active",
        "suspended" => "suspended",
        _ => return Err(AppError::BadRequest("Unknown status.".into())),
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let name = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let t = store::find(c, id)?;
                store::set_status(c, id, status, now)?;
                let action = if status == "suspended" { "tenant.suspend" } else { "tenant.reactivate" };
                audit::record(
                    c,
                    &actor,
                    Event::new(action, "tenant", id)
                        .tenant(Some(id))
                        .details(serde_json::json!({"before": t.status, "after": status})),
                    now,
                )?;
                Ok::<_, diesel::result::Error>(t.name)
            })?)
        })
        .await?;
    let msg = if status == "suspended" {
        format!("{name} is suspended: its users can no longer sign in or see its data.")
    } else {
        format!("{name} is active again.")
    };
    Ok(flash::redirect_with(&req, &format!("/admin/tenants/{id}"), "success", msg))
}
