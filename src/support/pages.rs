//! The tenant's side of support: `/support` (the tier, its targets in plain words and the
//! contact methods), `/support/new` (the request form, which shows exactly what Keel attaches),
//! `/support/requests` (one's own requests; district admins and auditors see all of theirs)
//! and one request's conversation.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::requests::{self, DueState, Message, Request};
use super::tiers::{self, CATEGORIES, SEVERITIES, TierFull};
use crate::AppState;
use crate::audit::Actor;
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::FormErrors;
use crate::web::layout::{PageCtx, render, render_status};
use crate::web::upload;

/// Attachments: images or a PDF up to 10 MB.
pub const MAX_ATTACHMENT: usize = 10 * 1024 * 1024;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/support", web::get().to(overview))
        .route("/support/new", web::get().to(new_page))
        .route("/support/new", web::post().to(create))
        .route("/support/requests", web::get().to(list))
        .route("/support/requests/{id}", web::get().to(detail))
        .route("/support/requests/{id}/reply", web::post().to(reply))
        .route("/support/requests/{id}/attachment", web::get().to(attachment));
}

/// Tenants where `p` may use support: (id, name).
async fn support_tenants(p: &Principal, state: &AppState) -> AppResult<Vec<(i64, String)>> {
    crate::usage::pages::tenants_for(p, state, Action::UseSupport).await
}

#[derive(Template)]
#[template(path = "support/overview.html")]
struct OverviewPage {
    ctx: PageCtx,
    tenants: Vec<(i64, String)>,
    tenant_id: i64,
    tenant_name: String,
    tier: Option<TierFull>,
    sentences: Vec<String>,
    open_requests: usize,
    can_claim: bool,
    /// Show the SLA credits and disputes tabs (roles that see billing).
    billing_tabs: bool,
}

#[derive(Debug, Deserialize)]
struct TenantQuery {
    tenant: Option<i64>,
}

async fn overview(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<TenantQuery>,
) -> AppResult<HttpResponse> {
    if p.is_internal() {
        return Ok(flash::redirect_with(
            &req,
            "/admin/support",
            "info",
            "Support requests are worked in the queue.",
        ));
    }
    let tenants = support_tenants(&p, &state).await?;
    let (tid, name) = crate::tenancy::district::pick(&tenants, q.tenant)?;
    p.scope.require(Action::UseSupport, tid)?;
    let all = p.scope.allows(Action::ViewTenantRequests, tid);
    let me = p.user_id;
    let (tier, open) = state
        .db(move |c| {
            let tier = tiers::effective(c, tid)?;
            let reqs = requests::of_tenants(c, &[tid], if all { None } else { Some(me) })?;
            Ok((tier, reqs.iter().filter(|r| r.is_active()).count()))
        })
        .await?;
    let sentences = match &tier {
        Some(t) => SEVERITIES.iter().map(|s| t.sentence(s)).collect(),
        None => Vec::new(),
    };
    render(&OverviewPage {
        ctx: PageCtx::new(&req, "Support"),
        billing_tabs: p.scope.allows_anywhere(Action::ViewBilling),
        tenants,
        tenant_id: tid,
        tenant_name: name,
        tier,
        sentences,
        open_requests: open,
        can_claim: p.scope.allows(Action::ClaimCredits, tid),
    })
}

/// What the form keeps as typed.
#[derive(Debug, Clone, Default)]
struct Typed {
    tenant_id: i64,
    category: String,
    severity: String,
    subject: String,
    description: String,
    from: String,
    time_zone: String,
}

/// One line of "what Keel attaches".
pub struct Attached {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "support/new.html")]
struct NewPage {
    ctx: PageCtx,
    tenants: Vec<(i64, String)>,
    f: Typed,
    errors: FormErrors,
    attached: Vec<Attached>,
    recent: Vec<crate::support::recent::Seen>,
    severities: Vec<(&'static str, &'static str, String)>,
    categories: [(&'static str, &'static str); 5],
    /// Show the SLA credits and disputes tabs (roles that see billing).
    billing_tabs: bool,
}

async fn load_new(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    f: Typed,
    errors: FormErrors,
) -> AppResult<NewPage> {
    let tenants = support_tenants(p, state).await?;
    let tid = f.tenant_id;
    let tier = state.db(move |c| Ok(tiers::effective(c, tid)?)).await?;
    let severities = SEVERITIES
        .iter()
        .map(|s| {
            let target = match &tier {
                Some(t) => match t.target(s, tiers::Which::Response) {
                    Some(x) => format!("First reply within {}.", x.describe(&t.calendar())),
                    None => "Best effort.".to_string(),
                },
                None => "Best effort.".to_string(),
            };
            (*s, tiers::severity_definition(s), target)
        })
        .collect();
    let tenant = tenants.iter().find(|(id, _)| *id == tid).map(|(_, n)| n.clone()).unwrap_or_default();
    let attached = vec![
        Attached { label: "District or school", value: format!("{tenant} (id {tid})") },
        Attached { label: "You", value: format!("{} <{}> (user id {})", p.display_name, p.email, p.user_id) },
        Attached { label: "Browser", value: user_agent(req) },
        Attached {
            label: "Page you came from",
            value: if f.from.is_empty() { "—".into() } else { f.from.clone() },
        },
        Attached { label: "Keel version", value: crate::VERSION.to_string() },
        Attached {
            label: "Your time zone",
            value: if f.time_zone.is_empty() {
                "read from your browser when you send".into()
            } else {
                f.time_zone.clone()
            },
        },
    ];
    Ok(NewPage {
        ctx: PageCtx::new(req, "New support request"),
        billing_tabs: p.scope.allows_anywhere(Action::ViewBilling),
        tenants,
        f,
        errors,
        attached,
        recent: state.recent_requests().of(p.user_id).into_iter().take(5).collect(),
        severities,
        categories: CATEGORIES,
    })
}

pub fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(300).collect())
        .unwrap_or_else(|| "not sent".into())
}

/// The page the user came from: a path on this Keel only (never another site's address).
fn came_from(req: &HttpRequest, base_url: &str) -> String {
    let Some(r) = req.headers().get(actix_web::http::header::REFERER).and_then(|v| v.to_str().ok()) else {
        return String::new();
    };
    let path = r.strip_prefix(base_url).unwrap_or("");
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.starts_with('/') && !path.starts_with("/support/new") {
        path.chars().take(200).collect()
    } else {
        String::new()
    }
}

async fn new_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<TenantQuery>,
) -> AppResult<HttpResponse> {
    let tenants = support_tenants(&p, &state).await?;
    let (tid, _) = crate::tenancy::district::pick(&tenants, q.tenant)?;
    p.scope.require(Action::UseSupport, tid)?;
    let f = Typed {
        tenant_id: tid,
        severity: "P3".into(),
        category: String::new(),
        from: came_from(&req, &state.config().base_url),
        ..Default::default()
    };
    render(&load_new(&req, &p, &state, f, FormErrors::new()).await?)
}

/// The request form's own fields: messages beside each one that is wrong.
pub fn check_fields(e: &mut FormErrors, category: &str, severity: &str, subject: &str, description: &str) {
    if !CATEGORIES.iter().any(|(k, _)| *k == category) {
        e.add("category", "Choose what the problem is about.");
    }
    if !SEVERITIES.contains(&severity) {
        e.add("severity", "Choose how urgent it is.");
    }
    if subject.is_empty() {
        e.add("subject", "Enter a subject: one line that says what is wrong.");
    } else if subject.chars().count() > 150 {
        e.add("subject", "Keep the subject to 150 characters; put the rest in the description.");
    }
    let len = description.chars().count();
    if len < 20 {
        e.add(
            "description",
            "Describe the problem in at least 20 characters: what you did, what happened, what you expected.",
        );
    } else if len > 20_000 {
        e.add("description", "The description is over 20,000 characters; attach a file for long logs.");
    }
}

/// An attachment that passed [`check_attachment`]: the file, its content type and extension.
pub type Checked = (upload::UploadedFile, &'static str, &'static str);

/// The optional file of a form, checked: None when none was chosen, a message beside `field`
/// when it is refused.
pub fn checked_attachment(
    file: Option<upload::UploadedFile>,
    field: &str,
    e: &mut FormErrors,
) -> Option<Checked> {
    let up = file.filter(|u| u.size > 0 || !u.filename.is_empty())?;
    match check_attachment(&up) {
        Ok((ctype, ext)) => Some((up, ctype, ext)),
        Err(m) => {
            e.add(field, m);
            None
        }
    }
}

/// Stores a checked attachment by its SHA-256: (hash, safe file name, content type).
pub async fn store_attachment(
    state: &AppState,
    (up, ctype, ext): Checked,
) -> AppResult<(String, String, String)> {
    let name = upload::sanitize_filename(&up.filename, ext);
    let hash = state.files().put(bytes::Bytes::from(up.bytes)).await.map_err(AppError::internal)?;
    Ok((hash, name, ctype.to_string()))
}

/// Why an attachment is refused, or its content type.
pub fn check_attachment(f: &upload::UploadedFile) -> Result<(&'static str, &'static str), String> {
    if f.too_large || f.size > MAX_ATTACHMENT {
        return Err(format!("The file is {:.1} MB; the limit is 10 MB.", f.size as f64 / (1024.0 * 1024.0)));
    }
    let b = &f.bytes;
    if b.is_empty() {
        return Err("The file is empty.".into());
    }
    if b.starts_with(b"%PDF-") {
        return Ok(("application/pdf", "pdf"));
    }
    if b.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Ok(("image/png", "png"));
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(("image/jpeg", "jpg"));
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Ok(("image/gif", "gif"));
    }
    if b.len() > 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Ok(("image/webp", "webp"));
    }
    Err("Attach a screenshot (PNG, JPEG, GIF or WebP) or a PDF.".into())
}

async fn create(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    mp: Multipart,
) -> AppResult<HttpResponse> {
    let form = upload::read_checked(&req, &p, mp, "attachment", MAX_ATTACHMENT).await?;
    let tid: i64 = form.field("tenant_id").trim().parse().map_err(|_| AppError::NotFound)?;
    p.scope.require(Action::UseSupport, tid)?;
    let f = Typed {
        tenant_id: tid,
        category: form.field("category").trim().to_string(),
        severity: form.field("severity").trim().to_string(),
        subject: form.field("subject").trim().to_string(),
        description: form.field("description").trim().to_string(),
        from: form.field("from").chars().take(200).collect(),
        time_zone: form.field("time_zone").chars().take(64).collect(),
    };
    let mut e = FormErrors::new();
    check_fields(&mut e, &f.category, &f.severity, &f.subject, &f.description);
    let file = checked_attachment(form.file, "attachment", &mut e);
    if !e.is_empty() {
        let page = load_new(&req, &p, &state, f, e).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let attachment = match file {
        Some(f) => Some(store_attachment(&state, f).await?),
        None => None,
    };
    let recent = state.recent_requests().of(p.user_id);
    let request_id =
        req.extensions().get::<crate::web::middleware::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let tenants = support_tenants(&p, &state).await?;
    let tenant_name = tenants.iter().find(|(id, _)| *id == tid).map(|(_, n)| n.clone()).unwrap_or_default();
    let metadata = serde_json::json!({
        "tenant_id": tid,
        "tenant": tenant_name,
        "user_id": p.user_id,
        "user_email": p.email,
        "user_agent": user_agent(&req),
        "page": f.from,
        "app_version": crate::VERSION,
        "time_zone": f.time_zone,
        "request_id": request_id,
        "recent_requests": recent,
    });
    let new = requests::NewRequest {
        tenant_id: tid,
        requester_id: p.user_id,
        category: f.category,
        severity: f.severity,
        subject: f.subject,
        description: f.description,
        metadata,
        attachment,
    };
    let mail = requests::Mailing {
        base_url: state.config().base_url.clone(),
        fallback_routing: state.config().mail_from.clone(),
    };
    let now = state.now();
    let actor = Actor::of(&req, &p);
    let (r, promise) =
        state.db(move |c| Ok(write_tx(c, |c| requests::create(c, &actor, &new, &mail, now))?)).await?;
    Ok(flash::redirect_with(
        &req,
        &format!("/support/requests/{}", r.id),
        "success",
        format!("Request {} was sent. {promise} We emailed you a confirmation.", r.number()),
    ))
}

/// A request on a list.
pub struct Row {
    pub r: Request,
    pub tenant: String,
    pub requester: String,
    pub response: DueState,
}

#[derive(Template)]
#[template(path = "support/requests.html")]
struct ListPage {
    ctx: PageCtx,
    rows: Vec<Row>,
    all: bool,
    /// Show the SLA credits and disputes tabs (roles that see billing).
    billing_tabs: bool,
}

async fn list(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    if p.is_internal() {
        return Ok(flash::redirect_with(
            &req,
            "/admin/support",
            "info",
            "Support requests are worked in the queue.",
        ));
    }
    let mine = p.scope.tenants_for(Action::UseSupport).unwrap_or_default();
    let all_of = p.scope.tenants_for(Action::ViewTenantRequests).unwrap_or_default();
    let me = p.user_id;
    let now = now_micros(state.now());
    let rows = state
        .db(move |c| {
            let mut rows = requests::of_tenants(c, &all_of, None)?;
            let others: Vec<i64> = mine.iter().copied().filter(|t| !all_of.contains(t)).collect();
            rows.extend(requests::of_tenants(c, &others, Some(me))?);
            rows.sort_by_key(|r| std::cmp::Reverse(r.id));
            let names = crate::tenancy::store::names(c, None)?;
            let mut out = Vec::new();
            for r in rows {
                let requester = crate::auth::store::user_by_id(c, r.requester_id)?.display_name;
                out.push(Row {
                    tenant: names
                        .iter()
                        .find(|(id, _)| *id == r.tenant_id)
                        .map(|(_, n)| n.clone())
                        .unwrap_or_default(),
                    requester,
                    response: r.response_state(now),
                    r,
                });
            }
            Ok(out)
        })
        .await?;
    render(&ListPage {
        ctx: PageCtx::new(&req, "Support requests"),
        billing_tabs: p.scope.allows_anywhere(Action::ViewBilling),
        rows,
        all: p.scope.allows_anywhere(Action::ViewTenantRequests),
    })
}

/// A message as shown: author name and whether it came from the vendor.
pub struct Shown {
    pub m: Message,
    pub author: String,
    pub from_support: bool,
}

#[derive(Template)]
#[template(path = "support/request.html")]
struct DetailPage {
    ctx: PageCtx,
    r: Request,
    tenant: String,
    requester: String,
    messages: Vec<Shown>,
    promise: String,
    errors: FormErrors,
    body: String,
    response: DueState,
    resolution: DueState,
    can_reply: bool,
}

/// Who may write on a request from the tenant's side: the requester, or an admin of its tenant
/// (not read-only roles, not the vendor's staff, who answer from the queue).
pub fn can_reply(p: &Principal, r: &Request) -> bool {
    !p.is_internal() && (r.requester_id == p.user_id || p.scope.allows(Action::ManageMembers, r.tenant_id))
}

/// A request `p` may see on the tenant's side: their own, or any of a tenant where they see
/// all requests; anything else is "not found".
pub async fn visible(p: &Principal, state: &AppState, id: i64) -> AppResult<Request> {
    let r = state.db(move |c| Ok(requests::find(c, id).optional()?)).await?.ok_or(AppError::NotFound)?;
    let own = r.requester_id == p.user_id && p.scope.allows(Action::UseSupport, r.tenant_id);
    if own || p.scope.allows(Action::ViewTenantRequests, r.tenant_id) || p.can(Action::WorkSupportQueue) {
        Ok(r)
    } else {
        Err(AppError::NotFound)
    }
}

use diesel::OptionalExtension;

/// Message authors' names (internal ones as "Support: Name").
pub fn shown(c: &mut crate::db::DbConn, msgs: Vec<Message>) -> diesel::QueryResult<Vec<Shown>> {
    let mut out = Vec::new();
    for m in msgs {
        let (author, from_support) = match m.author_id {
            Some(u) => {
                let u = crate::auth::store::user_by_id(c, u)?;
                let internal = u.platform_role.is_some();
                (u.display_name, internal)
            }
            None => ("Keel".into(), true),
        };
        out.push(Shown { from_support: from_support || m.kind == "reply", author, m });
    }
    Ok(out)
}

async fn load_detail(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    r: Request,
    body: String,
    errors: FormErrors,
) -> AppResult<DetailPage> {
    let (rid, tid, uid) = (r.id, r.tenant_id, r.requester_id);
    let (tenant, requester, messages, tier) = state
        .db(move |c| {
            let tenant = crate::tenancy::store::find(c, tid)?.name;
            let requester = crate::auth::store::user_by_id(c, uid)?.display_name;
            let msgs = requests::messages(c, rid, false)?;
            Ok((tenant, requester, shown(c, msgs)?, tiers::effective(c, tid)?))
        })
        .await?;
    let now = now_micros(state.now());
    Ok(DetailPage {
        ctx: PageCtx::new(req, format!("{}: {}", r.number(), r.subject)),
        promise: requests::promise_text(tier.as_ref(), &r),
        response: r.response_state(now),
        resolution: r.resolution_state(now),
        can_reply: can_reply(p, &r),
        tenant,
        requester,
        messages,
        errors,
        body,
        r,
    })
}

async fn detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let r = visible(&p, &state, id.into_inner()).await?;
    if p.is_internal() {
        return Ok(HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, format!("/admin/support/requests/{}", r.id)))
            .finish());
    }
    render(&load_detail(&req, &p, &state, r, String::new(), FormErrors::new()).await?)
}

#[derive(Debug, Deserialize)]
struct ReplyForm {
    #[serde(default)]
    body: String,
}

async fn reply(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<ReplyForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    let r = visible(&p, &state, id.into_inner()).await?;
    if !can_reply(&p, &r) {
        return Err(AppError::NotFound);
    }
    let body = f.body.trim().to_string();
    let mut e = FormErrors::new();
    if body.is_empty() {
        e.add("body", "Write your message first.");
    } else if body.chars().count() > 20_000 {
        e.add("body", "Keep a message under 20,000 characters.");
    }
    if r.status == "closed" {
        e.add("body", "This request is closed. File a new request and mention its number.");
    }
    if !e.is_empty() {
        let page = load_detail(&req, &p, &state, r, f.body, e).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let base = state.config().base_url.clone();
    let rid = r.id;
    state
        .db(move |c| {
            Ok(write_tx(c, |c| requests::add_message(c, &actor, &r, "customer", &body, &base, now))?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        &format!("/support/requests/{rid}#conversation"),
        "success",
        "Your message was added; support sees it in the queue.",
    ))
}

async fn attachment(p: Principal, state: web::Data<AppState>, id: web::Path<i64>) -> AppResult<HttpResponse> {
    let r = visible(&p, &state, id.into_inner()).await?;
    let (Some(hash), Some(name)) = (r.attachment_sha256, r.attachment_name) else {
        return Err(AppError::NotFound);
    };
    let bytes = state.files().get(&hash).await.map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type(r.attachment_type.unwrap_or_else(|| "application/octet-stream".into()))
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(b: &[u8]) -> upload::UploadedFile {
        upload::UploadedFile { filename: "x".into(), bytes: b.to_vec(), size: b.len(), too_large: false }
    }

    #[test]
    fn attachments() {
        assert_eq!(check_attachment(&file(b"%PDF-1.7 ...")).map(|x| x.1), Ok("pdf"));
        assert_eq!(
            check_attachment(&file(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0])).map(|x| x.1),
            Ok("png")
        );
        assert_eq!(check_attachment(&file(&[0xFF, 0xD8, 0xFF, 0xE0])).map(|x| x.1), Ok("jpg"));
        assert!(check_attachment(&file(b"MZ\x90\x00 windows exe")).is_err());
        assert!(check_attachment(&file(b"")).is_err());
        let big = upload::UploadedFile {
            filename: "x".into(),
            bytes: vec![],
            size: MAX_ATTACHMENT + 1,
            too_large: true,
        };
        assert!(check_attachment(&big).unwrap_err().contains("limit is 10 MB"));
    }
}
