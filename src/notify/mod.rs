//! Transactional email through an outbox: [`queue`] writes the email (and the job that sends
//! it) in the caller's transaction; the `email.send` job delivers it through the configured
//! [`mailer::Mailer`] with retries and backoff. A dedupe key makes one event one email; a
//! dead email is listed at `/admin/emails` and can be resent.

pub mod admin;
pub mod inapp;
pub mod mailer;
pub mod model;
pub mod store;

use askama::Template;
use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::AppState;
use crate::db::{DbConn, now_micros};
use crate::jobs::{self, JobError, NewJob};
use model::NewEmailRow;

/// Attempts before an email is dead (backoff reaches an hour, so this spans about 6 hours).
pub const MAX_ATTEMPTS: i32 = 12;

/// An email to queue.
#[derive(Debug, Clone)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body (optional).
    pub html: Option<String>,
    /// Extra headers (e.g. `List-Unsubscribe`).
    pub headers: Vec<(String, String)>,
    /// One event, one email: a second queue with the same key is ignored.
    pub dedupe_key: Option<String>,
}

/// A stored file to attach: (SHA-256, file name).
pub type Attachment = (String, String);

impl Email {
    /// An email from a text template and an HTML template.
    pub fn from_templates(
        to: &str,
        subject: &str,
        text: &impl Template,
        html: &impl Template,
    ) -> Result<Self, askama::Error> {
        Ok(Self {
            to: to.to_string(),
            subject: subject.to_string(),
            text: text.render()?,
            html: Some(html.render()?),
            headers: Vec::new(),
            dedupe_key: None,
        })
    }

    /// A plain-text email (no HTML part, no extra headers).
    pub fn plain(to: impl Into<String>, subject: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            subject: subject.into(),
            text: text.into(),
            html: None,
            headers: Vec::new(),
            dedupe_key: None,
        }
    }

    /// Sets the dedupe key.
    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

/// Writes `email` to the outbox and enqueues its send job, in the caller's transaction.
/// Returns the email id, or None when its dedupe key was already used.
pub fn queue(conn: &mut DbConn, email: &Email, now: NaiveDateTime) -> QueryResult<Option<i64>> {
    queue_with(conn, email, None, now)
}

/// [`queue`] with a stored file attached (PDF), fetched from file storage when sent.
pub fn queue_with(
    conn: &mut DbConn,
    email: &Email,
    attachment: Option<&Attachment>,
    now: NaiveDateTime,
) -> QueryResult<Option<i64>> {
    let headers: serde_json::Map<String, serde_json::Value> =
        email.headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    let row = NewEmailRow {
        to_addr: email.to.clone(),
        subject: email.subject.clone(),
        text_body: email.text.clone(),
        html_body: email.html.clone(),
        headers: serde_json::Value::Object(headers).to_string(),
        message_id: format!("<{}@keel>", uuid::Uuid::new_v4().simple()),
        dedupe_key: email.dedupe_key.clone(),
        status: "queued".into(),
        attempts: 0,
        created_at: now,
        updated_at: now,
        attachment_sha256: attachment.map(|a| a.0.clone()),
        attachment_name: attachment.map(|a| a.1.clone()),
    };
    let Some(id) = store::insert(conn, &row)? else { return Ok(None) };
    jobs::store::enqueue(conn, &send_job(id), now)?;
    Ok(Some(id))
}

fn send_job(email_id: i64) -> NewJob {
    NewJob::new("email.send", serde_json::json!({ "email_id": email_id }))
        .dedupe(format!("email:{email_id}"))
        .attempts(MAX_ATTEMPTS)
}

/// Queues an email for resending after it died (same row, same Message-ID). Call it inside
/// the caller's write transaction.
pub fn resend(c: &mut DbConn, email_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    if store::requeue(c, email_id, now)? == 0 {
        return Ok(false);
    }
    if jobs::store::retry_by_key(c, &format!("email:{email_id}"), now)? == 0 {
        jobs::store::enqueue(c, &send_job(email_id), now)?;
    }
    Ok(true)
}

async fn send_job_handler(state: AppState, job: jobs::Job) -> Result<(), JobError> {
    let payload: serde_json::Value =
        serde_json::from_str(&job.payload).map_err(|e| JobError::permanent(format!("bad payload: {e}")))?;
    let id = payload["email_id"].as_i64().ok_or_else(|| JobError::permanent("payload has no email_id"))?;
    let email = state.db(move |c| Ok(store::find(c, id)?)).await?;
    if email.status == "sent" || email.status == "logged" {
        return Ok(()); // already delivered: never send twice
    }
    let from = state.config().mail_from.clone();
    let attachment = match &email.attachment_sha256 {
        Some(hash) => {
            Some(state.files().get(hash).await.map_err(|e| JobError::retry(format!("attachment: {e}")))?)
        }
        None => None,
    };
    let result = state.mailer().deliver(&from, &email, attachment).await;
    let now = now_micros(state.now());
    match result {
        Ok(d) => {
            let status = if d == mailer::Delivery::Sent { "sent" } else { "logged" };
            state.db(move |c| Ok(store::mark_delivered(c, id, status, now)?)).await?;
            Ok(())
        }
        Err(e) => {
            let dead = job.attempts >= job.max_attempts;
            let msg = e.clone();
            state.db(move |c| Ok(store::mark_failed(c, id, &msg, dead, now)?)).await?;
            Err(JobError::retry(e))
        }
    }
}

/// Registers the outbox's job.
pub fn register_jobs(reg: &mut jobs::Registry) {
    reg.add("email.send", send_job_handler);
}
