//! Rows of the `outbound_emails` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::outbound_emails;

/// An email in the outbox.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbound_emails)]
pub struct OutboundEmail {
    pub id: i64,
    pub to_addr: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
    /// Extra headers as a JSON object (e.g. `List-Unsubscribe`).
    pub headers: String,
    pub message_id: String,
    pub dedupe_key: Option<String>,
    /// `queued | sent | logged | dead`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// SHA-256 of a stored file to attach (an invoice PDF).
    pub attachment_sha256: Option<String>,
    /// The attachment's file name.
    pub attachment_name: Option<String>,
}

/// Insert form.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbound_emails)]
pub struct NewEmailRow {
    pub to_addr: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
    pub headers: String,
    pub message_id: String,
    pub dedupe_key: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub attachment_sha256: Option<String>,
    pub attachment_name: Option<String>,
}
