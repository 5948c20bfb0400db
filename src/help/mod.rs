//! In-app help: the guides in `docs/` that people using Keel need (the procurement quick start,
//! the support playbook, how billing works), compiled into the binary and rendered from
//! Markdown, with their screenshots. Signed-in users only; links between guides keep working
//! because `/help/{name}.md` and `/help/{name}` are the same page.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::web::layout::{PageCtx, render};

/// A guide: its URL name, title, who it is for, and its Markdown.
struct Guide {
    name: &'static str,
    title: &'static str,
    audience: &'static str,
    markdown: &'static str,
}

const GUIDES: &[Guide] = &[
    Guide {
        name: "procurement-quick-start",
        title: "Buying with a purchase order",
        audience: "Procurement officers and district admins",
        markdown: include_str!("../../docs/procurement-quick-start.md"),
    },
    Guide {
        name: "support-playbook",
        title: "Support playbook",
        audience: "The vendor's support agents and billing staff",
        markdown: include_str!("../../docs/support-playbook.md"),
    },
    Guide {
        name: "usage-api",
        title: "Usage API",
        audience: "The vendor's engineers: sending usage events and checking entitlements",
        markdown: include_str!("../../docs/usage-api.md"),
    },
    Guide {
        name: "billing",
        title: "How billing works",
        audience: "Everyone: numbering, PDFs, reminders, renewals",
        markdown: include_str!("../../docs/billing.md"),
    },
];

const IMAGES: &[(&str, &[u8])] = &[
    ("procurement-profile.png", include_bytes!("../../docs/img/procurement-profile.png")),
    ("procurement-contacts.png", include_bytes!("../../docs/img/procurement-contacts.png")),
    ("procurement-po-upload.png", include_bytes!("../../docs/img/procurement-po-upload.png")),
    ("procurement-invoices.png", include_bytes!("../../docs/img/procurement-invoices.png")),
    ("procurement-invoice-pdf.png", include_bytes!("../../docs/img/procurement-invoice-pdf.png")),
];

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/help", web::get().to(index))
        .route("/help/img/{file}", web::get().to(image))
        .route("/help/{name}", web::get().to(page));
}

#[derive(Template)]
#[template(path = "help/index.html")]
struct Index {
    ctx: PageCtx,
    guides: Vec<(&'static str, &'static str, &'static str)>,
}

async fn index(req: HttpRequest, _p: Principal) -> AppResult<HttpResponse> {
    render(&Index {
        ctx: PageCtx::new(&req, "Help"),
        guides: GUIDES.iter().map(|g| (g.name, g.title, g.audience)).collect(),
    })
}

#[derive(Template)]
#[template(path = "help/page.html")]
struct Page {
    ctx: PageCtx,
    title: &'static str,
    html: String,
}

async fn page(req: HttpRequest, _p: Principal, name: web::Path<String>) -> AppResult<HttpResponse> {
    let name = name.into_inner();
    let name = name.trim_end_matches(".md");
    let g = GUIDES.iter().find(|g| g.name == name).ok_or(AppError::NotFound)?;
    // The guide's own first heading is the page title; the rest is the body.
    let body = g
        .markdown
        .split_once('\n')
        .map(|(first, rest)| if first.starts_with("# ") { rest } else { g.markdown });
    render(&Page {
        ctx: PageCtx::new(&req, g.title),
        title: g.title,
        html: crate::status::markdown::to_safe_html(body.unwrap_or(g.markdown)),
    })
}

async fn image(_p: Principal, file: web::Path<String>) -> AppResult<HttpResponse> {
    let file = file.into_inner();
    let (_, bytes) = IMAGES.iter().find(|(n, _)| *n == file).ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(*bytes))
}
