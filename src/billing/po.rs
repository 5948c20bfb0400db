//! Purchase-order documents: a procurement officer uploads the signed PO as a PDF (checked by
//! its magic bytes, at most 10 MB), stored in the object store by SHA-256 (never under
//! `static/`), with a sanitized file name. It is listed on the billing profile and on every
//! invoice that cites its PO number; downloads are scope-checked like invoices.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, Principal};
use crate::db::schema::po_documents as pd;
use crate::db::{DbConn, now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::FormErrors;
use crate::web::layout::render_status;
use crate::web::upload;

/// Largest PO document accepted.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/billing/po-documents", web::post().to(upload_po))
        .route("/billing/po-documents/{id}.pdf", web::get().to(download));
}

/// A stored PO document.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pd)]
pub struct PoDocument {
    pub id: i64,
    pub tenant_id: i64,
    pub po_number: String,
    pub filename: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub uploaded_by: Option<i64>,
    pub uploaded_at: NaiveDateTime,
}

impl PoDocument {
    /// "1.2 MB", "84 KB".
    pub fn size_label(&self) -> String {
        let b = self.size_bytes as f64;
        if b >= 1024.0 * 1024.0 {
            format!("{:.1} MB", b / (1024.0 * 1024.0))
        } else {
            format!("{} KB", ((b / 1024.0).ceil() as i64).max(1))
        }
    }
}

/// Why an upload is refused, in words for the field.
pub fn check_pdf(f: &upload::UploadedFile) -> Result<(), String> {
    if f.too_large || f.size > MAX_BYTES {
        return Err(format!(
            "The file is {:.1} MB; the limit is 10 MB. Scan at a lower resolution or split it.",
            f.size as f64 / (1024.0 * 1024.0)
        ));
    }
    if f.bytes.is_empty() {
        return Err("The file is empty. Choose the signed PO as a PDF.".into());
    }
    if !f.bytes.starts_with(b"%PDF-") {
        return Err("That file is not a PDF. Save or scan the signed PO as a PDF and upload that.".into());
    }
    Ok(())
}

/// A tenant's PO documents, newest first.
pub fn of_tenant(c: &mut DbConn, tenant: i64) -> QueryResult<Vec<PoDocument>> {
    pd::table
        .filter(pd::tenant_id.eq(tenant))
        .order((pd::uploaded_at.desc(), pd::id.desc()))
        .select(PoDocument::as_select())
        .load(c)
}

/// The PO documents of some tenants (for a page of the staff invoice list).
pub fn of_tenants(c: &mut DbConn, tenants: &[i64]) -> QueryResult<Vec<PoDocument>> {
    pd::table
        .filter(pd::tenant_id.eq_any(tenants.to_vec()))
        .order(pd::id.desc())
        .select(PoDocument::as_select())
        .load(c)
}

/// The documents of a tenant for one PO number (what an invoice citing it shows).
pub fn for_po(c: &mut DbConn, tenant: i64, po: &str) -> QueryResult<Vec<PoDocument>> {
    pd::table
        .filter(pd::tenant_id.eq(tenant))
        .filter(pd::po_number.eq(po))
        .order(pd::id.desc())
        .select(PoDocument::as_select())
        .load(c)
}

/// Records an uploaded document (its bytes are already stored under `sha256`), audited.
#[allow(clippy::too_many_arguments)]
pub fn insert(
    c: &mut DbConn,
    actor: &Actor,
    tenant: i64,
    po_number: &str,
    filename: &str,
    sha256: &str,
    size: i64,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let id = diesel::insert_into(pd::table)
        .values((
            pd::tenant_id.eq(tenant),
            pd::po_number.eq(po_number),
            pd::filename.eq(filename),
            pd::sha256.eq(sha256),
            pd::size_bytes.eq(size),
            pd::uploaded_by.eq(actor.user_id),
            pd::uploaded_at.eq(now),
        ))
        .returning(pd::id)
        .get_result(c)?;
    audit::record(
        c,
        actor,
        Event::new("billing.po_document_upload", "po_document", id).tenant(Some(tenant)).details(
            serde_json::json!({"po_number": po_number, "filename": filename, "sha256": sha256, "size_bytes": size}),
        ),
        now,
    )?;
    Ok(id)
}

async fn upload_po(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    mp: Multipart,
) -> AppResult<HttpResponse> {
    let form = upload::read_checked(&req, &p, mp, "file", MAX_BYTES).await?;
    let tid = form.field("tenant_id").trim().parse::<i64>().map_err(|_| AppError::NotFound)?;
    p.scope.require(Action::ViewBilling, tid)?;
    p.scope.require(Action::ManageBillingProfile, tid)?;
    let mut e = FormErrors::new();
    let po_number = form.field("upload_po_number").trim().to_string();
    if po_number.is_empty() {
        e.add("upload_po_number", "Enter the PO number printed on the document.");
    } else if po_number.chars().count() > 64 {
        e.add("upload_po_number", "A PO number has at most 64 characters.");
    }
    match &form.file {
        None => e.add("file", "Choose the signed PO (a PDF) to upload."),
        Some(f) => {
            if let Err(m) = check_pdf(f) {
                e.add("file", m);
            }
        }
    }
    let file = match (form.file, e.is_empty()) {
        (Some(f), true) => f,
        _ => {
            let page = super::profile::page_with_upload_errors(&req, &p, &state, tid, po_number, e).await?;
            return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let filename = upload::sanitize_filename(&file.filename, "pdf");
    let size = file.bytes.len() as i64;
    let hash = state.files().put(bytes::Bytes::from(file.bytes)).await.map_err(AppError::internal)?;
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let (po, name) = (po_number.clone(), filename.clone());
    state.db(move |c| Ok(write_tx(c, |c| insert(c, &actor, tid, &po, &name, &hash, size, now))?)).await?;
    Ok(flash::redirect_with(
        &req,
        &format!("/billing?tenant={tid}#po-documents"),
        "success",
        format!("{filename} was uploaded for PO {po_number}."),
    ))
}

async fn download(p: Principal, state: web::Data<AppState>, id: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let d = state
        .db(move |c| {
            pd::table.find(id).select(PoDocument::as_select()).first(c).optional().map_err(Into::into)
        })
        .await?
        .ok_or(AppError::NotFound)?;
    p.scope.require(Action::ViewBilling, d.tenant_id)?;
    let bytes = state.files().get(&d.sha256).await.map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{}\"", d.filename)))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "private, no-store"))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8], size: usize, too_large: bool) -> upload::UploadedFile {
        upload::UploadedFile { filename: "po.pdf".into(), bytes: bytes.to_vec(), size, too_large }
    }

    #[test]
    fn only_pdfs_under_the_limit_pass() {
        assert!(check_pdf(&file(b"%PDF-1.7\n...", 12, false)).is_ok());
        assert!(check_pdf(&file(b"PK\x03\x04", 4, false)).unwrap_err().contains("not a PDF"));
        assert!(check_pdf(&file(b"", 0, false)).unwrap_err().contains("empty"));
        assert!(check_pdf(&file(b"", MAX_BYTES + 1, true)).unwrap_err().contains("limit is 10 MB"));
    }
}
