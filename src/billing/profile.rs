//! `/billing`: a district's (or stand-alone school's) billing profile, edited by its procurement
//! officer or district admin (auditors read it); `/admin/tenants/{id}/billing` for the vendor's
//! staff; `/admin/billing/settings` for the vendor's own invoicing details. Every change is
//! audited with the values before and after.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;

use super::model::{BillingProfile, VendorSettings};
use super::money::{self, CURRENCIES};
use super::store;
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/billing", web::get().to(profile_page))
        .route("/billing", web::post().to(save_profile))
        .route("/admin/tenants/{id}/billing", web::get().to(admin_profile_page))
        .route("/admin/billing/settings", web::get().to(settings_page))
        .route("/admin/billing/settings", web::post().to(save_settings))
        .route("/admin/billing/settings/logo", web::get().to(logo))
        .route("/admin/billing/settings/logo", web::post().to(upload_logo));
}

/// The profile form, as typed.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct ProfileForm {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    po_number: String,
    #[serde(default)]
    po_amount: String,
    #[serde(default)]
    po_expires: String,
    #[serde(default)]
    address_line1: String,
    #[serde(default)]
    address_line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    tax_id: String,
    #[serde(default)]
    tax_exempt_note: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    terms_days: String,
    #[serde(default)]
    renewal_date: String,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    cost_centre: String,
}

impl ProfileForm {
    fn from_profile(p: &BillingProfile) -> Self {
        let cur = money::currency(&p.currency);
        Self {
            tenant_id: p.tenant_id.to_string(),
            mode: p.mode.clone(),
            po_number: p.po_number.clone().unwrap_or_default(),
            po_amount: match (p.po_amount_minor, cur) {
                (Some(m), Some(c)) => money::format(m, c).trim_start_matches(c.symbol).to_string(),
                _ => String::new(),
            },
            po_expires: p.po_expires.map(|d| d.to_string()).unwrap_or_default(),
            address_line1: p.address_line1.clone(),
            address_line2: p.address_line2.clone(),
            city: p.city.clone(),
            region: p.region.clone(),
            postal_code: p.postal_code.clone(),
            country: p.country.clone(),
            tax_id: p.tax_id.clone(),
            tax_exempt_note: p.tax_exempt_note.clone(),
            currency: p.currency.clone(),
            terms_days: p.terms_days.to_string(),
            renewal_date: p.renewal_date.map(|d| d.to_string()).unwrap_or_default(),
            schedule: p.schedule.clone(),
            cost_centre: p.cost_centre.clone(),
        }
    }

    /// Parses into a profile, collecting one message per bad field.
    fn parse(&self, tenant_id: i64, now: chrono::NaiveDateTime) -> Result<BillingProfile, FormErrors> {
        let mut e = FormErrors::new();
        let mode = match self.mode.as_str() {
            "card" | "invoice_po" => self.mode.clone(),
            _ => {
                e.add("mode", "Choose card or invoice with purchase order.");
                String::new()
            }
        };
        let cur = money::currency(&self.currency);
        if cur.is_none() {
            e.add("currency", "Choose a currency from the list.");
        }
        let po_number = form::optional_text(&mut e, "po_number", "the PO number", &self.po_number, 64);
        let po_amount_minor = match (self.po_amount.trim(), cur) {
            ("", _) => None,
            (s, Some(c)) => match money::parse_minor(s, c) {
                Ok(v) if v >= 0 => Some(v),
                Ok(_) => {
                    e.add("po_amount", "The PO amount can't be negative.");
                    None
                }
                Err(m) => {
                    e.add("po_amount", m);
                    None
                }
            },
            (_, None) => None,
        };
        let po_expires = form::optional_date(&mut e, "po_expires", &self.po_expires);
        let renewal_date = form::optional_date(&mut e, "renewal_date", &self.renewal_date);
        let terms_days = if self.terms_days.trim().is_empty() {
            30
        } else {
            form::integer(&mut e, "terms_days", "payment terms", &self.terms_days, 0, 180).unwrap_or(30)
                as i32
        };
        let schedule = match self.schedule.as_str() {
            "annual" | "semi_annual" | "" => {
                if self.schedule.is_empty() {
                    "annual".into()
                } else {
                    self.schedule.clone()
                }
            }
            _ => {
                e.add("schedule", "Choose annual or semi-annual.");
                String::new()
            }
        };
        let text = |e: &mut FormErrors, field: &str, label: &str, raw: &str, max: usize| {
            form::optional_text(e, field, label, raw, max).unwrap_or_default()
        };
        let country = text(&mut e, "country", "the country", &self.country, 2).to_ascii_uppercase();
        if !country.is_empty() && (country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase())) {
            e.add("country", "Use the two-letter country code, e.g. US.");
        }
        let p = BillingProfile {
            tenant_id,
            mode,
            po_number,
            po_amount_minor,
            po_expires,
            address_line1: text(&mut e, "address_line1", "the street address", &self.address_line1, 120),
            address_line2: text(&mut e, "address_line2", "the second address line", &self.address_line2, 120),
            city: text(&mut e, "city", "the city", &self.city, 80),
            region: text(&mut e, "region", "the state or region", &self.region, 80),
            postal_code: text(&mut e, "postal_code", "the postal code", &self.postal_code, 20),
            country: if country.is_empty() { "US".into() } else { country },
            tax_id: text(&mut e, "tax_id", "the tax id", &self.tax_id, 40),
            tax_exempt_note: text(
                &mut e,
                "tax_exempt_note",
                "the tax-exempt note",
                &self.tax_exempt_note,
                300,
            ),
            currency: cur.map(|c| c.code.to_string()).unwrap_or_default(),
            terms_days,
            renewal_date,
            schedule,
            cost_centre: text(&mut e, "cost_centre", "the cost centre", &self.cost_centre, 120),
            updated_at: now,
        };
        e.finish(p)
    }
}

#[derive(Template)]
#[template(path = "billing/profile.html")]
struct ProfilePage {
    ctx: PageCtx,
    tenants: Vec<(i64, String)>,
    tenant_id: i64,
    tenant_name: String,
    f: ProfileForm,
    errors: FormErrors,
    can_edit: bool,
    missing: Vec<&'static str>,
    currencies: Vec<(String, String)>,
    saved: bool,
    contacts: Vec<super::contacts::Contact>,
    cf: super::contacts::ContactForm,
    cerrors: FormErrors,
    po_docs: Vec<super::po::PoDocument>,
    upload_po: String,
    uerrors: FormErrors,
}

#[derive(Debug, Deserialize)]
struct TenantQuery {
    tenant: Option<i64>,
}

async fn load_page(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    tenant: Option<i64>,
    form_override: Option<(ProfileForm, FormErrors)>,
) -> AppResult<ProfilePage> {
    let tenants = crate::tenancy::district::top_level_tenants(p, state, Action::ViewBilling).await?;
    let (tid, name) = crate::tenancy::district::pick(&tenants, tenant)?;
    p.scope.require(Action::ViewBilling, tid)?;
    let now = now_micros(state.now());
    let (profile, vendor, contacts, po_docs) = state
        .db(move |c| {
            Ok((
                store::profile(c, tid)?,
                store::vendor(c)?,
                super::contacts::of_tenant(c, tid)?,
                super::po::of_tenant(c, tid)?,
            ))
        })
        .await?;
    let saved = profile.is_some();
    let profile = profile.unwrap_or_else(|| {
        BillingProfile::empty(tid, &vendor.default_currency, vendor.default_terms_days, now)
    });
    let (f, errors) =
        form_override.unwrap_or_else(|| (ProfileForm::from_profile(&profile), FormErrors::new()));
    Ok(ProfilePage {
        ctx: PageCtx::new(req, "Billing"),
        tenants,
        tenant_id: tid,
        tenant_name: name,
        f,
        errors,
        can_edit: p.scope.allows(Action::ManageBillingProfile, tid),
        missing: profile.missing_for_invoicing(),
        currencies: CURRENCIES
            .iter()
            .map(|c| (c.code.to_string(), format!("{} ({})", c.code, c.symbol.trim())))
            .collect(),
        saved,
        contacts,
        cf: super::contacts::ContactForm::default(),
        cerrors: FormErrors::new(),
        upload_po: profile.po_number.clone().unwrap_or_default(),
        po_docs,
        uerrors: FormErrors::new(),
    })
}

/// The billing page re-rendered with the PO upload form's errors.
pub async fn page_with_upload_errors(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    tenant: i64,
    upload_po: String,
    uerrors: FormErrors,
) -> AppResult<impl Template + use<>> {
    let mut page = load_page(req, p, state, Some(tenant), None).await?;
    page.upload_po = upload_po;
    page.uerrors = uerrors;
    Ok(page)
}

/// The billing page re-rendered with the contact form's errors.
pub async fn page_with_contact_errors(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    tenant: i64,
    cf: super::contacts::ContactForm,
    cerrors: FormErrors,
) -> AppResult<impl Template + use<>> {
    let mut page = load_page(req, p, state, Some(tenant), None).await?;
    page.cf = cf;
    page.cerrors = cerrors;
    Ok(page)
}

async fn profile_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<TenantQuery>,
) -> AppResult<HttpResponse> {
    render(&load_page(&req, &p, &state, q.tenant, None).await?)
}

async fn admin_profile_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewTenants)?;
    let id = id.into_inner();
    let t = state.db(move |c| Ok(crate::tenancy::store::find(c, id)?)).await?;
    if let Some(district) = t.parent_id {
        // A linked school is billed through its district.
        return Ok(crate::web::layout::redirect(&format!("/admin/tenants/{district}/billing")));
    }
    render(&load_page(&req, &p, &state, Some(id), None).await?)
}

async fn save_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<ProfileForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    let tid = f.tenant_id.trim().parse::<i64>().map_err(|_| AppError::NotFound)?;
    p.scope.require(Action::ViewBilling, tid)?;
    p.scope.require(Action::ManageBillingProfile, tid)?;
    let now = now_micros(state.now());
    let profile = match f.parse(tid, now) {
        Ok(pr) => pr,
        Err(errors) => {
            let page = load_page(&req, &p, &state, Some(tid), Some((f, errors))).await?;
            return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let actor = Actor::of(&req, &p);
    let changed = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let before = store::profile(c, tid)?;
                let b = before.as_ref().map(|b| serde_json::to_value(b).unwrap_or_default());
                let a = serde_json::to_value(&profile).unwrap_or_default();
                let mut diff = serde_json::Map::new();
                if let Some(obj) = a.as_object() {
                    for (k, v) in obj {
                        let old =
                            b.as_ref().and_then(|b| b.get(k)).cloned().unwrap_or(serde_json::Value::Null);
                        if &old != v {
                            diff.insert(k.clone(), serde_json::json!({"before": old, "after": v}));
                        }
                    }
                }
                if diff.is_empty() && before.is_some() {
                    return Ok::<_, diesel::result::Error>(false);
                }
                store::save_profile(c, &profile)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("billing.profile_update", "billing_profile", tid)
                        .tenant(Some(tid))
                        .details(serde_json::Value::Object(diff)),
                    now,
                )?;
                Ok(true)
            })?)
        })
        .await?;
    let msg = if changed { "The billing profile was saved." } else { "Nothing changed." };
    Ok(flash::redirect_with(&req, &format!("/billing?tenant={tid}"), "success", msg))
}

#[derive(Template)]
#[template(path = "billing/settings.html")]
struct SettingsPage {
    ctx: PageCtx,
    v: VendorSettings,
    errors: FormErrors,
    currencies: Vec<(String, String)>,
    logo_error: String,
}

async fn settings_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
) -> AppResult<HttpResponse> {
    p.require(Action::ManageVendorSettings)?;
    let v = state.db(|c| Ok(store::vendor(c)?)).await?;
    render(&SettingsPage {
        ctx: PageCtx::new(&req, "Invoicing details"),
        v,
        errors: FormErrors::new(),
        currencies: CURRENCIES.iter().map(|c| (c.code.to_string(), c.code.to_string())).collect(),
        logo_error: String::new(),
    })
}

/// Largest logo accepted.
pub const LOGO_MAX_BYTES: usize = 1024 * 1024;

async fn logo(p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::ManageVendorSettings)?;
    let hash = state.db(|c| Ok(store::vendor(c)?.logo_sha256)).await?.ok_or(AppError::NotFound)?;
    let bytes = state.files().get(&hash).await.map_err(AppError::internal)?;
    let kind = if bytes.starts_with(b"\x89PNG") { "image/png" } else { "image/jpeg" };
    Ok(HttpResponse::Ok()
        .content_type(kind)
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "private, no-store"))
        .body(bytes))
}

async fn upload_logo(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    mp: actix_multipart::Multipart,
) -> AppResult<HttpResponse> {
    p.require(Action::ManageVendorSettings)?;
    let form = crate::web::upload::read_checked(&req, &p, mp, "logo", LOGO_MAX_BYTES).await?;
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    if form.field("remove") == "1" {
        state
            .db(move |c| {
                Ok(write_tx(c, |c| {
                    let before = store::vendor(c)?.logo_sha256;
                    diesel::update(crate::db::schema::vendor_settings::table.find(1))
                        .set(crate::db::schema::vendor_settings::logo_sha256.eq(None::<String>))
                        .execute(c)?;
                    audit::record(
                        c,
                        &actor,
                        Event::new("billing.vendor_logo_remove", "vendor_settings", 1)
                            .details(serde_json::json!({"before": before})),
                        now,
                    )
                })?)
            })
            .await?;
        return Ok(flash::redirect_with(
            &req,
            "/admin/billing/settings",
            "success",
            "The logo was removed from new invoices.",
        ));
    }
    let problem = match &form.file {
        None => Some("Choose a PNG or JPEG image.".to_string()),
        Some(f) if f.too_large || f.size > LOGO_MAX_BYTES => {
            Some("The logo is over 1 MB; use a smaller image.".into())
        }
        Some(f) => super::pdf::check_logo(&f.bytes).err(),
    };
    let (Some(file), None) = (form.file, problem.clone()) else {
        let v = state.db(|c| Ok(store::vendor(c)?)).await?;
        let page = SettingsPage {
            ctx: PageCtx::new(&req, "Invoicing details"),
            v,
            errors: FormErrors::new(),
            currencies: CURRENCIES.iter().map(|c| (c.code.to_string(), c.code.to_string())).collect(),
            logo_error: problem.unwrap_or_default(),
        };
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let hash = state.files().put(bytes::Bytes::from(file.bytes)).await.map_err(AppError::internal)?;
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let before = store::vendor(c)?.logo_sha256;
                diesel::update(crate::db::schema::vendor_settings::table.find(1))
                    .set(crate::db::schema::vendor_settings::logo_sha256.eq(Some(&hash)))
                    .execute(c)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("billing.vendor_logo_set", "vendor_settings", 1)
                        .details(serde_json::json!({"before": before, "after": hash})),
                    now,
                )
            })?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        "/admin/billing/settings",
        "success",
        "The logo is saved. New invoices carry it.",
    ))
}

#[derive(Debug, Deserialize)]
struct SettingsForm {
    #[serde(default)]
    legal_name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    tax_id: String,
    #[serde(default)]
    remit_to: String,
    #[serde(default)]
    invoice_footer: String,
    #[serde(default)]
    default_currency: String,
    #[serde(default)]
    default_terms_days: String,
    #[serde(default)]
    renewal_lead_days: String,
    #[serde(default)]
    number_prefix: String,
}

async fn save_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<SettingsForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageVendorSettings)?;
    let mut e = FormErrors::new();
    let legal = form::required_text(&mut e, "legal_name", "the legal name", &f.legal_name, 160);
    let address = form::required_text(&mut e, "address", "the address", &f.address, 500);
    let tax_id = form::optional_text(&mut e, "tax_id", "the tax id", &f.tax_id, 40).unwrap_or_default();
    let remit = form::required_text(&mut e, "remit_to", "payment instructions", &f.remit_to, 1000);
    let footer = form::optional_text(&mut e, "invoice_footer", "the footer", &f.invoice_footer, 500)
        .unwrap_or_default();
    let cur = money::currency(&f.default_currency);
    if cur.is_none() {
        e.add("default_currency", "Choose a currency from the list.");
    }
    let terms = form::integer(&mut e, "default_terms_days", "payment terms", &f.default_terms_days, 0, 180)
        .unwrap_or(30) as i32;
    let lead = if f.renewal_lead_days.trim().is_empty() {
        60
    } else {
        form::integer(&mut e, "renewal_lead_days", "the renewal lead time", &f.renewal_lead_days, 0, 365)
            .unwrap_or(60) as i32
    };
    let current_logo = state.db(|c| Ok(store::vendor(c)?.logo_sha256)).await?;
    let prefix = f.number_prefix.trim().to_uppercase();
    if prefix.len() > 12 || !prefix.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        e.add("number_prefix", "Use up to 12 letters or digits, e.g. BW, or leave it empty.");
    }
    let now = now_micros(state.now());
    let v = VendorSettings {
        id: 1,
        legal_name: legal,
        address,
        tax_id,
        remit_to: remit,
        invoice_footer: footer,
        default_currency: cur.map(|c| c.code.to_string()).unwrap_or_else(|| f.default_currency.clone()),
        default_terms_days: terms,
        updated_at: now,
        renewal_lead_days: lead,
        number_prefix: prefix,
        logo_sha256: current_logo,
    };
    if !e.is_empty() {
        let v = VendorSettings {
            legal_name: f.legal_name.clone(),
            address: f.address.clone(),
            tax_id: f.tax_id.clone(),
            remit_to: f.remit_to.clone(),
            invoice_footer: f.invoice_footer.clone(),
            number_prefix: f.number_prefix.clone(),
            ..v
        };
        let page = SettingsPage {
            ctx: PageCtx::new(&req, "Invoicing details"),
            v,
            errors: e,
            currencies: CURRENCIES.iter().map(|c| (c.code.to_string(), c.code.to_string())).collect(),
            logo_error: String::new(),
        };
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let actor = Actor::of(&req, &p);
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let before = store::vendor(c)?;
                store::save_vendor(c, &v)?;
                let after = store::vendor(c)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("billing.vendor_settings_update", "vendor_settings", 1)
                        .details(serde_json::json!({"before": before, "after": after})),
                    now,
                )
            })?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        "/admin/billing/settings",
        "success",
        "Invoicing details saved. New invoices use them.",
    ))
}
