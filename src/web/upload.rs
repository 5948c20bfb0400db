//! Reading a `multipart/form-data` form with one file: text fields are kept (64 KiB in all),
//! the file is kept up to a limit. A file over the limit is read to its end and dropped, so the
//! handler can answer with a message beside the field instead of a broken connection; a body
//! far over the limit is refused outright.

use actix_multipart::Multipart;
use futures_util::StreamExt;

use crate::auth::Principal;
use crate::error::AppError;

/// A file as uploaded.
#[derive(Debug, Clone, Default)]
pub struct UploadedFile {
    /// The name the browser sent (untrusted: sanitize before use).
    pub filename: String,
    /// Its bytes (empty when over the limit).
    pub bytes: Vec<u8>,
    /// Its size as sent, counted even when it was over the limit.
    pub size: usize,
    /// More than the limit was sent.
    pub too_large: bool,
}

/// A multipart form, read.
#[derive(Debug, Default)]
pub struct UploadForm {
    /// Text fields in order.
    pub fields: Vec<(String, String)>,
    /// The file field, if one was sent with a file name.
    pub file: Option<UploadedFile>,
}

impl UploadForm {
    /// A text field's value ("" when absent).
    pub fn field(&self, name: &str) -> &str {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

const TEXT_LIMIT: usize = 64 * 1024;

/// Fields a form may have at most.
const MAX_FIELDS: usize = 50;

/// The most a request body may hold for a file limit of `max_file` (the file can be over its
/// limit and still get a message beside the field; far over it, the request is refused).
pub fn hard_cap(max_file: usize) -> usize {
    max_file.saturating_mul(4).max(1 << 20)
}

/// Reads the form; `file_field` names the file input, `max_file` its limit in bytes. When
/// `csrf` is given, the `csrf_token` field must match it and come before the file: a forged
/// form is refused before any of the file is read.
pub async fn read(
    mut mp: Multipart,
    file_field: &str,
    max_file: usize,
    csrf: Option<&str>,
) -> Result<UploadForm, AppError> {
    let unreadable =
        || AppError::BadRequest("The form could not be read. Reload the page and try again.".into());
    let forged = || AppError::Forbidden(crate::auth::extract::CSRF_MESSAGE.into());
    let hard_cap = hard_cap(max_file);
    let mut form = UploadForm::default();
    let mut text_bytes = 0usize;
    let mut total = 0usize;
    let mut fields = 0usize;
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(|_| unreadable())?;
        fields += 1;
        let name = field.name().unwrap_or_default().to_string();
        text_bytes += name.len();
        if fields > MAX_FIELDS || text_bytes > TEXT_LIMIT {
            return Err(AppError::BadRequest("The form is too large.".into()));
        }
        let filename = field.content_disposition().and_then(|cd| cd.get_filename()).map(str::to_string);
        if name == file_field {
            if let Some(expected) = csrf
                && !crate::web::token::constant_time_eq(
                    form.field("csrf_token").as_bytes(),
                    expected.as_bytes(),
                )
            {
                return Err(forged());
            }
            if form.file.is_some() {
                return Err(AppError::BadRequest("Send one file at a time.".into()));
            }
            let mut f = UploadedFile { filename: filename.unwrap_or_default(), ..UploadedFile::default() };
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|_| unreadable())?;
                f.size += chunk.len();
                total += chunk.len();
                if total > hard_cap {
                    return Err(AppError::BadRequest(format!(
                        "The file is far larger than the {} MB limit.",
                        max_file / (1024 * 1024)
                    )));
                }
                if f.size > max_file {
                    f.too_large = true;
                    f.bytes = Vec::new();
                } else {
                    f.bytes.extend_from_slice(&chunk);
                }
            }
            if !f.filename.is_empty() || f.size > 0 {
                form.file = Some(f);
            }
        } else {
            let mut v = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|_| unreadable())?;
                text_bytes += chunk.len();
                if text_bytes > TEXT_LIMIT {
                    return Err(AppError::BadRequest("The form is too large.".into()));
                }
                v.extend_from_slice(&chunk);
            }
            form.fields.push((name, crate::web::form::strip_bidi(&String::from_utf8_lossy(&v))));
        }
    }
    Ok(form)
}

/// Reads an upload form sent by the signed-in `p`, refusing it as a forged form (like
/// `CsrfForm`) when it comes from another origin, is not multipart or lacks the session's
/// CSRF token.
pub async fn read_checked(
    req: &actix_web::HttpRequest,
    p: &Principal,
    mp: Multipart,
    file_field: &str,
    max_file: usize,
) -> Result<UploadForm, AppError> {
    let forged = || AppError::Forbidden(crate::auth::extract::CSRF_MESSAGE.into());
    let multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let base = req
        .app_data::<actix_web::web::Data<crate::AppState>>()
        .map(|s| s.config().base_url.clone())
        .unwrap_or_default();
    if !multipart || !crate::auth::extract::same_origin(req, &base) {
        return Err(forged());
    }
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > hard_cap(max_file)) {
        return Err(AppError::BadRequest(format!(
            "The file is far larger than the {} MB limit.",
            max_file / (1024 * 1024)
        )));
    }
    let form = read(mp, file_field, max_file, Some(&p.csrf_token)).await?;
    check_csrf(req, p, &form)?;
    Ok(form)
}

/// Checks an uploaded form's CSRF token and origin the way `CsrfForm` does for plain forms.
pub fn check_csrf(req: &actix_web::HttpRequest, p: &Principal, form: &UploadForm) -> Result<(), AppError> {
    let base = req
        .app_data::<actix_web::web::Data<crate::AppState>>()
        .map(|s| s.config().base_url.clone())
        .unwrap_or_default();
    let sent = form.field("csrf_token");
    if !crate::auth::extract::same_origin(req, &base)
        || !crate::web::token::constant_time_eq(sent.as_bytes(), p.csrf_token.as_bytes())
    {
        return Err(AppError::Forbidden(crate::auth::extract::CSRF_MESSAGE.into()));
    }
    Ok(())
}

/// A file name safe to show and to put in a `Content-Disposition` header: the last path
/// component, letters, digits, spaces, dots, dashes and underscores only, at most 100
/// characters, ending in `.{ext}`.
pub fn sanitize_filename(raw: &str, ext: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') { c } else { '_' })
        .collect();
    out = out.trim_matches(|c: char| c == '.' || c == ' ' || c == '_').to_string();
    while out.contains("..") {
        out = out.replace("..", ".");
    }
    let suffix = format!(".{ext}");
    if out.to_ascii_lowercase().ends_with(&suffix) {
        out.truncate(out.len() - suffix.len());
    }
    let stem: String = out.chars().take(100 - suffix.len()).collect();
    let stem = if stem.trim().is_empty() { "document".to_string() } else { stem };
    format!("{stem}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_sanitized() {
        assert_eq!(sanitize_filename("PO 2026-114.pdf", "pdf"), "PO 2026-114.pdf");
        assert_eq!(sanitize_filename("../../etc/passwd", "pdf"), "passwd.pdf");
        assert_eq!(sanitize_filename("C:\\Users\\x\\Signed PO.PDF", "pdf"), "Signed PO.pdf");
        assert_eq!(sanitize_filename("a\"b;c\r\n.pdf", "pdf"), "a_b_c__.pdf");
        assert_eq!(sanitize_filename("", "pdf"), "document.pdf");
        assert_eq!(sanitize_filename("...", "pdf"), "document.pdf");
        assert!(sanitize_filename(&"x".repeat(500), "pdf").len() <= 100);
    }
}
