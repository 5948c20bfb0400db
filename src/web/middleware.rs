//! Middleware applied to every response: request id and access log, security headers,
//! and the rendering of errors as styled pages (HTML) or JSON problems (`/api/`).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::error::AppError;
use crate::web::flash::{self, FlashConsumed};
use crate::web::layout::PageCtx;

/// The id of the current request (accepted from `X-Request-Id` when well-formed, else generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Marks a response whose body already is the final error page or JSON (not re-rendered).
#[derive(Debug, Clone, Copy)]
pub struct AlreadyRendered;

fn well_formed_request_id(s: &str) -> bool {
    (8..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A time-ordered UUIDv7 request id. The random part comes from the thread's generator (seeded
/// from the OS once), not a `getrandom` system call per request.
fn new_request_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let mut random = [0u8; 10];
    rand::fill(&mut random[..]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid().simple().to_string()
}

/// The request path as it may be logged or shown to staff: the segment a route captures as
/// `{token}` (invitation, reset, verification, subscription and heartbeat links) is a secret and
/// is written as `{token}`. `token` is that captured value, if the route has one.
pub fn loggable_path(token: Option<&str>, path: &str) -> String {
    let Some(token) = token else { return path.to_string() };
    let mut found = false;
    let redacted = path
        .split('/')
        .map(|s| {
            if s == token {
                found = true;
                "{token}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    // The token was percent-encoded in the path and did not match a segment: log none of it.
    if found { redacted } else { "{token}".to_string() }
}

/// Outermost middleware: assigns the request id, echoes it in `X-Request-Id`, logs one JSON line.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| well_formed_request_id(s))
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let mut res = next.call(req).await?;
    // The path only (query strings may hold tokens), with secret path segments replaced.
    let path = loggable_path(res.request().match_info().get("token"), res.request().path());
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
    }
    let status = res.status().as_u16();
    let user = res.request().extensions().get::<crate::auth::Principal>().map(|p| p.user_id);
    if let (Some(user), Some(state)) = (user, res.request().app_data::<web::Data<AppState>>()) {
        let at = state.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        state.recent_requests().record(
            user,
            crate::support::recent::Seen {
                id: id.clone(),
                method: method.clone(),
                path: path.clone(),
                status,
                at,
            },
        );
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(target: "keel::access", request_id = %id, method = %method, path = %path, status, duration_ms = format!("{ms:.2}"), "request");
    Ok(res)
}

/// Security headers on every response; `Cache-Control: no-store` unless the handler set one.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let https = req.app_data::<web::Data<AppState>>().map(|s| s.config().is_https()).unwrap_or(false);
    let mut res = next.call(req).await?;
    let consumed = res.request().extensions().get::<FlashConsumed>().is_some();
    if consumed && res.status().is_success() {
        let _ = res.response_mut().add_cookie(&flash::removal_cookie());
    }
    let h = res.headers_mut();
    let set_default = |h: &mut header::HeaderMap, name: HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set_default(h, header::CONTENT_SECURITY_POLICY, crate::web::csp::POLICY);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    set_default(h, header::X_FRAME_OPTIONS, "DENY");
    set_default(h, header::CACHE_CONTROL, "no-store");
    set_default(h, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    Ok(res)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: PageCtx,
    status: u16,
    heading: String,
    message: String,
}

fn heading_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "That request didn't make sense",
        401 => "Please sign in",
        403 => "You can't do that here",
        404 => "Page not found",
        405 => "That action isn't available here",
        409 => "That conflicts with the current state",
        413 => "That's too large",
        415 => "That kind of content isn't accepted here",
        422 => "Some details need attention",
        429 => "Too many attempts",
        503 => "Temporarily unavailable",
        _ => "Something went wrong",
    }
}

fn generic_message(status: StatusCode) -> String {
    match status.as_u16() {
        400 => "The form or request could not be read. Please go back and try again.".into(),
        404 => AppError::NotFound.public_message(),
        405 => "This address doesn't accept that kind of request.".into(),
        413 => "The form or upload is larger than Keel accepts here.".into(),
        415 => "Please send the form as a normal web form or JSON, as documented.".into(),
        503 => AppError::Unavailable(String::new()).public_message(),
        _ => AppError::internal("").public_message(),
    }
}

/// Renders every error response as the styled page (or JSON under `/api/`), logging causes.
pub async fn render_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error())
        || res.response().extensions().get::<AlreadyRendered>().is_some()
    {
        return Ok(res);
    }
    let Some(err) = res.response().error() else {
        return Ok(res);
    };
    let request_id = res.request().extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let (code, message, fields) = match err.as_error::<AppError>() {
        Some(app) => {
            if app.should_log() {
                tracing::error!(request_id = %request_id, error = %format!("{app:#}"), cause = ?app, "request failed");
            }
            let fields = match app {
                AppError::Invalid(f) => f.clone(),
                _ => Vec::new(),
            };
            (app.code().to_string(), app.public_message(), fields)
        }
        None => {
            // actix's own errors (bad form encoding, payload too large, no such route...).
            if status.is_server_error() {
                tracing::error!(request_id = %request_id, error = %err, "request failed");
            } else {
                tracing::debug!(request_id = %request_id, error = %err, "request rejected");
            }
            let code = status.canonical_reason().unwrap_or("error").to_ascii_lowercase().replace(' ', "_");
            (code, generic_message(status), Vec::new())
        }
    };
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let is_api = res.request().path().starts_with("/api/");
    if status == StatusCode::UNAUTHORIZED && !is_api {
        // Pages that need a session send the visitor to sign in, then back here.
        let uri = res.request().uri();
        let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = if res.request().method() == actix_web::http::Method::GET {
            format!("/login?{}", serde_urlencoded::to_string([("next", back)]).unwrap_or_default())
        } else {
            "/login".to_string()
        };
        let resp = HttpResponse::SeeOther().insert_header((header::LOCATION, target)).finish();
        return Ok(res.into_response(resp));
    }
    let mut resp = if is_api {
        let mut body =
            serde_json::json!({"error": {"code": code, "message": message, "request_id": request_id}});
        if !fields.is_empty() {
            body["error"]["fields"] = serde_json::to_value(&fields).unwrap_or_default();
        }
        HttpResponse::build(status).json(body)
    } else {
        if status.is_client_error() {
            // Show the signed-in user's layout (name, navigation) on 4xx pages too.
            let _ = crate::auth::extract::load_principal(res.request()).await;
        }
        let page = ErrorPage {
            ctx: PageCtx::new(res.request(), heading_for(status)),
            status: status.as_u16(),
            heading: heading_for(status).to_string(),
            message,
        };
        match page.render() {
            Ok(html) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html),
            Err(e) => {
                tracing::error!(request_id = %request_id, error = %e, "error page failed to render");
                HttpResponse::build(status)
                    .content_type("text/plain; charset=utf-8")
                    .body(generic_message(status))
            }
        }
    };
    if let Some(v) = retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(res.into_response(resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_shape() {
        assert!(well_formed_request_id("0192a3b4c5d6-abc"));
        assert!(!well_formed_request_id("short"));
        assert!(!well_formed_request_id("has space in it!"));
        assert!(!well_formed_request_id(&"a".repeat(65)));
    }

    #[test]
    fn token_segments_are_not_logged() {
        assert_eq!(loggable_path(Some("s3cret"), "/reset/s3cret"), "/reset/{token}");
        assert_eq!(
            loggable_path(Some("s3cret"), "/status/subscriptions/s3cret/unsubscribe"),
            "/status/subscriptions/{token}/unsubscribe"
        );
        assert_eq!(loggable_path(None, "/admin/jobs/42"), "/admin/jobs/42");
        // A token that only matches once decoded: nothing of the path is kept.
        assert_eq!(loggable_path(Some("a/b"), "/invite/a%2Fb"), "{token}");
    }
}
