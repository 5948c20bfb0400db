//! The context every page shares (`ctx` in each page struct) and the render helper.

use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use askama::Template;

use crate::error::AppError;
use crate::web::flash;
use crate::web::middleware::RequestId;

/// The signed-in user as the layout shows them.
#[derive(Debug, Clone)]
pub struct UserView {
    /// Name shown in the top bar.
    pub display_name: String,
    /// Email address.
    pub email: String,
    /// Role in plain words ("District admin").
    pub role_label: String,
    /// Unread notifications (the bell's count).
    pub unread: i64,
}

/// One link of the section navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Target path.
    pub href: String,
    /// Text.
    pub label: String,
    /// True for the section of the current page.
    pub active: bool,
}

/// A message shown once after a redirect.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Flash {
    /// `success`, `warning` or `error`.
    pub kind: String,
    /// The text.
    pub message: String,
}

/// What the request tells the layout about who is asking; set by the auth extractors.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The user, when signed in.
    pub user: Option<UserView>,
    /// Navigation for this user's role.
    pub nav: Vec<(String, String)>,
    /// The session's CSRF token (empty when there is no session).
    pub csrf_token: String,
}

/// Fields every page template reads through `ctx`.
#[derive(Debug, Clone)]
pub struct PageCtx {
    /// Page title (the layout appends "· Keel").
    pub title: String,
    /// The signed-in user.
    pub user: Option<UserView>,
    /// Section navigation.
    pub nav: Vec<NavItem>,
    /// Flash messages to show.
    pub flashes: Vec<Flash>,
    /// CSRF token for forms on this page.
    pub csrf_token: String,
    /// The request id (shown in the footer for support).
    pub request_id: String,
    /// Keel's version.
    pub version: String,
}

impl PageCtx {
    /// Builds the context for `req`; reads the viewer set by the auth extractors and the flash cookie.
    pub fn new(req: &HttpRequest, title: impl Into<String>) -> Self {
        let ext = req.extensions();
        let viewer = ext.get::<Viewer>().cloned().unwrap_or_default();
        let request_id = ext.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        drop(ext);
        let path = req.path();
        // Pages that live outside their section's path but belong to it.
        const ALIASES: [(&str, &str); 2] =
            [("/admin/sla-credits", "/admin/support"), ("/admin/disputes", "/admin/support")];
        let path = ALIASES
            .iter()
            .find(|(p, _)| path == *p || path.starts_with(&format!("{p}/")))
            .map(|(_, section)| *section)
            .unwrap_or(path);
        let matches = |href: &str| path == href || (href != "/" && path.starts_with(&format!("{href}/")));
        // The most specific section wins (so /admin/jobs marks "Jobs", not "Overview").
        let best = viewer.nav.iter().filter(|(h, _)| matches(h)).map(|(h, _)| h.len()).max();
        let nav = viewer
            .nav
            .iter()
            .map(|(href, label)| NavItem {
                active: matches(href) && Some(href.len()) == best,
                href: href.clone(),
                label: label.clone(),
            })
            .collect();
        Self {
            title: title.into(),
            user: viewer.user,
            nav,
            flashes: flash::read(req),
            csrf_token: viewer.csrf_token,
            request_id,
            version: crate::VERSION.to_string(),
        }
    }
}

/// Renders a template into a 200 HTML response.
pub fn render<T: Template>(tpl: &T) -> Result<HttpResponse, AppError> {
    render_status(tpl, actix_web::http::StatusCode::OK)
}

/// Renders a template with the given status (e.g. 422 for a form with errors).
pub fn render_status<T: Template>(
    tpl: &T,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, AppError> {
    let html = tpl.render()?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html))
}

/// A 303 redirect (POST-redirect-GET).
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", to.to_string())).finish()
}
