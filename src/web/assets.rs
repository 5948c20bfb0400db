//! Static assets compiled into the binary (CSS, JS, images), served under `/static/`.
//! Nothing is read from disk at run time, so the one binary is the whole deployment.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::AppError;

struct Asset {
    path: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

macro_rules! asset {
    ($path:literal, $ct:literal) => {
        Asset { path: $path, bytes: include_bytes!(concat!("../../static/", $path)), content_type: $ct }
    };
}

static ASSETS: &[Asset] = &[
    asset!("css/keel.css", "text/css; charset=utf-8"),
    asset!("js/keel.js", "text/javascript; charset=utf-8"),
    asset!("img/favicon.svg", "image/svg+xml"),
];

fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS.iter().map(|a| format!("\"{}\"", &crate::web::token::sha256_hex(a.bytes)[..20])).collect()
    })
}

/// `GET /static/{path}`
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let path = path.into_inner();
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return Err(AppError::NotFound);
    };
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let cache = "public, max-age=3600";
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if not_modified {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.as_str()))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(asset.bytes))
}

/// `GET /favicon.ico` (browsers ask for it): the SVG icon.
pub async fn favicon() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/static/img/favicon.svg"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .finish()
}
