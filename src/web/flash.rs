//! Flash messages carried across one redirect in a signed cookie.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::AppState;
use crate::web::layout::Flash;
use crate::web::token;

/// Cookie name.
pub const COOKIE: &str = "keel_flash";

/// Marker: this request carried a flash that the page consumed (the middleware then clears it).
#[derive(Debug, Clone, Copy)]
pub struct FlashConsumed;

fn key(req: &HttpRequest) -> Vec<u8> {
    req.app_data::<web::Data<AppState>>().map(|s| s.config().secret_key.clone()).unwrap_or_default()
}

/// Reads (and marks consumed) the flash messages of this request.
pub fn read(req: &HttpRequest) -> Vec<Flash> {
    let Some(c) = req.cookie(COOKIE) else { return Vec::new() };
    let Some((payload, mac)) = c.value().split_once('.') else { return Vec::new() };
    let key = key(req);
    if key.is_empty()
        || !token::constant_time_eq(token::hmac_hex(&key, payload.as_bytes()).as_bytes(), mac.as_bytes())
    {
        return Vec::new();
    }
    let Ok(json) = B64.decode(payload) else { return Vec::new() };
    req.extensions_mut().insert(FlashConsumed);
    serde_json::from_slice::<Vec<Flash>>(&json).unwrap_or_default()
}

/// Adds a flash cookie to a redirect response.
pub fn with_flash(
    req: &HttpRequest,
    mut resp: HttpResponse,
    kind: &str,
    message: impl Into<String>,
) -> HttpResponse {
    let flashes = vec![Flash { kind: kind.to_string(), message: message.into() }];
    let json = serde_json::to_vec(&flashes).unwrap_or_default();
    let payload = B64.encode(json);
    let mac = token::hmac_hex(&key(req), payload.as_bytes());
    let secure = req.app_data::<web::Data<AppState>>().map(|s| s.config().is_https()).unwrap_or(false);
    let cookie = Cookie::build(COOKIE, format!("{payload}.{mac}"))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(Duration::minutes(5))
        .finish();
    let _ = resp.add_cookie(&cookie);
    resp
}

/// A redirect carrying a success message.
pub fn redirect_with(req: &HttpRequest, to: &str, kind: &str, message: impl Into<String>) -> HttpResponse {
    with_flash(req, crate::web::layout::redirect(to), kind, message)
}

/// The cookie that clears the flash after it was shown.
pub fn removal_cookie() -> Cookie<'static> {
    let mut c = Cookie::build(COOKIE, "").path("/").finish();
    c.make_removal();
    c
}
