//! Billing contacts: who receives a tenant's invoices (accounts payable, procurement, other).
//! Each address must be verified through a link sent to it before anything else is sent there.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;

use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm};
use crate::db::schema::billing_contacts as bc;
use crate::db::{DbConn, now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::notify::{self, Email};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::token;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/billing/contacts", web::post().to(add))
        .route("/billing/contacts/{id}/delete", web::post().to(remove))
        .route("/billing/contacts/verify/{token}", web::get().to(verify_page))
        .route("/billing/contacts/verify/{token}", web::post().to(verify));
}

/// A contact row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bc)]
pub struct Contact {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub email: String,
    pub phone: String,
    /// `accounts_payable | procurement | other`.
    pub role: String,
    pub verified_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

impl Contact {
    /// The role in words.
    pub fn role_label(&self) -> &'static str {
        match self.role.as_str() {
            "accounts_payable" => "Accounts payable",
            "procurement" => "Procurement",
            _ => "Other",
        }
    }
}

/// A tenant's contacts.
pub fn of_tenant(c: &mut DbConn, tenant: i64) -> QueryResult<Vec<Contact>> {
    bc::table.filter(bc::tenant_id.eq(tenant)).order(bc::id).select(Contact::as_select()).load(c)
}

/// A tenant's verified contacts (the only ones that receive invoices).
pub fn verified(c: &mut DbConn, tenant: i64) -> QueryResult<Vec<Contact>> {
    bc::table
        .filter(bc::tenant_id.eq(tenant))
        .filter(bc::verified_at.is_not_null())
        .order(bc::id)
        .select(Contact::as_select())
        .load(c)
}

/// The token in a contact's verification link: `{id}-{hmac}`.
pub fn link_token(key: &[u8], id: i64) -> String {
    format!("{id}-{}", &token::hmac_hex(key, format!("billing-contact:{id}").as_bytes())[..32])
}

/// The contact a link token names, if it is genuine.
pub fn parse_token(key: &[u8], t: &str) -> Option<i64> {
    let id: i64 = t.split_once('-')?.0.parse().ok()?;
    token::constant_time_eq(link_token(key, id).as_bytes(), t.as_bytes()).then_some(id)
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct ContactForm {
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default, rename = "contact_name")]
    pub name: String,
    #[serde(default, rename = "contact_email")]
    pub email: String,
    #[serde(default, rename = "contact_phone")]
    pub phone: String,
    #[serde(default)]
    pub role: String,
}

async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<ContactForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    let tid = f.tenant_id.trim().parse::<i64>().map_err(|_| AppError::NotFound)?;
    p.scope.require(Action::ViewBilling, tid)?;
    p.scope.require(Action::ManageBillingProfile, tid)?;
    let back = format!("/billing?tenant={tid}");
    let mut e = FormErrors::new();
    let name = form::required_text(&mut e, "contact_name", "the contact's name", &f.name, 100);
    let email = form::email(&mut e, "contact_email", &f.email);
    let phone =
        form::optional_text(&mut e, "contact_phone", "the phone number", &f.phone, 40).unwrap_or_default();
    if !["accounts_payable", "procurement", "other"].contains(&f.role.as_str()) {
        e.add("contact_role", "Choose the contact's role.");
    }
    if !e.is_empty() {
        let page = super::profile::page_with_contact_errors(&req, &p, &state, tid, f, e).await?;
        return crate::web::layout::render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let key = state.config().secret_key.clone();
    let base = state.config().base_url.clone();
    let role = f.role.clone();
    let added = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let exists: i64 = bc::table.filter(bc::tenant_id.eq(tid)).filter(bc::email.eq(&email)).count().get_result(c)?;
                if exists > 0 {
                    return Ok::<_, diesel::result::Error>(false);
                }
                let id: i64 = diesel::insert_into(bc::table)
                    .values((bc::tenant_id.eq(tid), bc::name.eq(&name), bc::email.eq(&email), bc::phone.eq(&phone), bc::role.eq(&role), bc::created_at.eq(now)))
                    .returning(bc::id)
                    .get_result(c)?;
                let link = format!("{base}/billing/contacts/verify/{}", link_token(&key, id));
                notify::queue(
                    c,
                    &Email {
                        to: email.clone(),
                        subject: "Confirm your address for invoices".into(),
                        text: format!(
                            "Hello {name},\n\n{} added you as a billing contact on Keel, so that invoices can be sent to this address.\n\nConfirm here:\n{link}\n\nUntil you confirm, nothing else is sent to you.\n\n— Keel",
                            actor.label
                        ),
                        html: None,
                        headers: vec![],
                        dedupe_key: Some(format!("billing-contact-verify:{id}")),
                    },
                    now,
                )?;
                audit::record(c, &actor, Event::new("billing.contact_add", "billing_contact", id).tenant(Some(tid)).details(serde_json::json!({"email": email, "role": role})), now)?;
                Ok(true)
            })?)
        })
        .await?;
    state.job_wakeup().notify_waiters();
    Ok(if added {
        flash::redirect_with(
            &req,
            &back,
            "success",
            "Contact added. They must confirm their address from the email we sent before receiving invoices.",
        )
    } else {
        flash::redirect_with(&req, &back, "warning", "That address is already a billing contact.")
    })
}

async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<crate::web::form::NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    let id = id.into_inner();
    let contact: Contact =
        state.db(move |c| Ok(bc::table.find(id).select(Contact::as_select()).first(c)?)).await?;
    p.scope.require(Action::ViewBilling, contact.tenant_id)?;
    p.scope.require(Action::ManageBillingProfile, contact.tenant_id)?;
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let tid = contact.tenant_id;
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                diesel::delete(bc::table.find(id)).execute(c)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("billing.contact_remove", "billing_contact", id)
                        .tenant(Some(tid))
                        .details(serde_json::json!({"email": contact.email})),
                    now,
                )
            })?)
        })
        .await?;
    Ok(flash::redirect_with(&req, &format!("/billing?tenant={tid}"), "success", "Contact removed."))
}

#[derive(Template)]
#[template(path = "billing/verify_contact.html")]
struct VerifyPage {
    ctx: crate::web::layout::PageCtx,
    token: String,
    email: String,
    done: bool,
    bad: bool,
}

fn anon_csrf(state: &AppState, path: &str) -> String {
    token::hmac_hex(&state.config().secret_key, format!("anon-form:{path}").as_bytes())
}

async fn load(state: &AppState, t: &str) -> AppResult<Option<Contact>> {
    let Some(id) = parse_token(&state.config().secret_key, t) else { return Ok(None) };
    state.db(move |c| Ok(bc::table.find(id).select(Contact::as_select()).first(c).optional()?)).await
}

async fn verify_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    t: web::Path<String>,
) -> AppResult<HttpResponse> {
    let c = load(&state, &t).await?;
    let mut ctx = crate::web::layout::PageCtx::new(&req, "Confirm your address");
    ctx.csrf_token = anon_csrf(&state, req.path());
    let page = VerifyPage {
        ctx,
        token: t.to_string(),
        email: c.as_ref().map(|c| c.email.clone()).unwrap_or_default(),
        done: c.as_ref().is_some_and(|c| c.verified_at.is_some()),
        bad: c.is_none(),
    };
    crate::web::layout::render_status(&page, if page.bad { StatusCode::NOT_FOUND } else { StatusCode::OK })
}

#[derive(Debug, Deserialize)]
struct VerifyForm {
    #[serde(default)]
    csrf_token: String,
}

async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    t: web::Path<String>,
    form: web::Form<VerifyForm>,
) -> AppResult<HttpResponse> {
    if !token::constant_time_eq(form.csrf_token.as_bytes(), anon_csrf(&state, req.path()).as_bytes())
        || !crate::auth::extract::same_origin(&req, &state.config().base_url)
    {
        return Err(AppError::Forbidden(crate::auth::extract::CSRF_MESSAGE.into()));
    }
    let Some(contact) = load(&state, &t).await? else { return Err(AppError::NotFound) };
    let now = now_micros(state.now());
    let actor = Actor::from_request(&req, None, &contact.email);
    let id = contact.id;
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                diesel::update(bc::table.find(id).filter(bc::verified_at.is_null()))
                    .set(bc::verified_at.eq(Some(now)))
                    .execute(c)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("billing.contact_verified", "billing_contact", id)
                        .tenant(Some(contact.tenant_id)),
                    now,
                )
            })?)
        })
        .await?;
    let mut ctx = crate::web::layout::PageCtx::new(&req, "Address confirmed");
    ctx.csrf_token = String::new();
    crate::web::layout::render(&VerifyPage {
        ctx,
        token: t.to_string(),
        email: String::new(),
        done: true,
        bad: false,
    })
}
