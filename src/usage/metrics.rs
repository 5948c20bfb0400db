//! The metrics catalog (`/admin/usage/metrics`): what the product may report and how Keel counts it.
//! Platform admins add metrics; a metric's key and aggregation never change once events use it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::model::{Aggregation, Metric};
use super::store::{self, NewMetric};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::{now_micros, write_tx};
use crate::error::AppResult;
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/usage", web::get().to(home))
        .route("/admin/usage/metrics", web::get().to(page))
        .route("/admin/usage/metrics", web::post().to(create));
}

/// `/admin/usage`: the metering section starts at the catalog.
async fn home() -> actix_web::HttpResponse {
    crate::web::layout::redirect("/admin/usage/metrics")
}

/// The add-metric form, as typed.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct MetricForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    aggregation: String,
    #[serde(default)]
    property: String,
    #[serde(default)]
    window_days: String,
}

impl MetricForm {
    fn parse(&self) -> Result<NewMetric, FormErrors> {
        let mut e = FormErrors::new();
        let key = self.key.trim().to_string();
        if key.is_empty() {
            e.add("key", "Enter a key, e.g. assessments.");
        } else if key.len() > 60
            || !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || !key.starts_with(|c: char| c.is_ascii_lowercase())
        {
            e.add(
                "key",
                "Use lower-case letters, digits and underscores, starting with a letter (at most 60).",
            );
        }
        let name = form::required_text(&mut e, "name", "a name", &self.name, 80);
        let unit = form::required_text(&mut e, "unit", "a unit", &self.unit, 40);
        let agg = Aggregation::parse(&self.aggregation);
        if agg.is_none() {
            e.add("aggregation", "Choose how events are counted.");
        }
        let property = self.property.trim().to_string();
        let unique = agg == Some(Aggregation::UniqueCount);
        if unique && property.is_empty() {
            e.add("property", "Name the property whose distinct values are counted, e.g. user_id.");
        }
        if property.len() > 60 {
            e.add("property", "The property name must be at most 60 characters.");
        }
        let window_days = if unique {
            form::integer(&mut e, "window_days", "the window in days", &self.window_days, 1, 90).unwrap_or(30)
                as i32
        } else {
            1
        };
        e.finish(NewMetric {
            key,
            name,
            unit,
            aggregation: agg.map(|a| a.as_str().to_string()).unwrap_or_default(),
            property: if unique { property } else { String::new() },
            window_days,
        })
    }
}

#[derive(Template)]
#[template(path = "usage/metrics.html")]
struct MetricsPage {
    ctx: PageCtx,
    metrics: Vec<Metric>,
    f: MetricForm,
    errors: FormErrors,
    aggregations: Vec<(&'static str, &'static str)>,
    can_manage: bool,
}

async fn load(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    f: MetricForm,
    errors: FormErrors,
) -> AppResult<MetricsPage> {
    let metrics = state.db(|c| Ok(store::metrics(c)?)).await?;
    Ok(MetricsPage {
        ctx: PageCtx::new(req, "Metrics"),
        metrics,
        f,
        errors,
        aggregations: Aggregation::ALL.iter().map(|a| (a.as_str(), a.label())).collect(),
        can_manage: p.can(Action::ManageMetering),
    })
}

async fn page(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::ViewMetering)?;
    let f = MetricForm { window_days: "30".into(), aggregation: "count".into(), ..MetricForm::default() };
    render(&load(&req, &p, &state, f, FormErrors::new()).await?)
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<MetricForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageMetering)?;
    let mut new = match f.parse() {
        Ok(n) => n,
        Err(errors) => {
            return render_status(
                &load(&req, &p, &state, f, errors).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let key = new.key.clone();
    let taken = state.db(move |c| Ok(store::metric_by_key(c, &key)?.is_some())).await?;
    if taken {
        let mut e = FormErrors::new();
        e.add("key", "A metric with this key exists already.");
        return render_status(&load(&req, &p, &state, f, e).await?, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    new.name = new.name.trim().to_string();
    let label = new.name.clone();
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let id = store::insert_metric(c, &new, now)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("usage.metric_create", "metric", id)
                        .details(serde_json::to_value(&new).unwrap_or_default()),
                    now,
                )
            })?)
        })
        .await?;
    state.usage().clear_catalog();
    Ok(flash::redirect_with(
        &req,
        "/admin/usage/metrics",
        "success",
        format!("{label} was added to the catalog."),
    ))
}
