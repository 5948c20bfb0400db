//! Delivery backends for the outbox: SMTP (lettre), `.eml` files, log-only, and an
//! in-memory capture for tests.

use std::sync::{Arc, Mutex};

use lettre::message::{Mailbox, MultiPart, SinglePart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::model::OutboundEmail;
use crate::config::MailConfig;

/// A message captured by the in-memory backend.
#[derive(Debug, Clone)]
pub struct SentMail {
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// Message-ID.
    pub message_id: String,
    /// Size of the attachment, if any.
    pub attachment_bytes: Option<usize>,
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// A real SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory, one per outbox row (`<row id>.eml`): delivering the same
    /// row again after a crash rewrites the same file, so each email appears exactly once.
    File(std::path::PathBuf),
    /// Stored and logged only.
    LogOnly,
    /// Captured in memory (tests).
    Memory(Arc<Mutex<Vec<SentMail>>>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mailer::Smtp(_) => "Mailer::Smtp",
            Mailer::File(_) => "Mailer::File",
            Mailer::LogOnly => "Mailer::LogOnly",
            Mailer::Memory(_) => "Mailer::Memory",
        })
    }
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the server / written.
    Sent,
    /// Only logged (no mail backend configured).
    Logged,
}

impl Mailer {
    /// Builds the backend from configuration.
    pub fn from_config(cfg: &MailConfig) -> Result<Self, String> {
        Ok(match cfg {
            MailConfig::Smtp { tls, host, port, credentials } => {
                let mut b = if *tls {
                    AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| e.to_string())?
                } else {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                };
                b = b.port(*port).timeout(Some(std::time::Duration::from_secs(20)));
                if let Some((u, p)) = credentials {
                    b = b.credentials(Credentials::new(u.clone(), p.clone()));
                }
                Mailer::Smtp(b.build())
            }
            MailConfig::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                Mailer::File(dir.clone())
            }
            MailConfig::LogOnly => Mailer::LogOnly,
            MailConfig::Memory => Mailer::Memory(Arc::new(Mutex::new(Vec::new()))),
        })
    }

    /// Messages captured by the memory backend (empty for others).
    pub fn captured(&self) -> Vec<SentMail> {
        match self {
            Mailer::Memory(m) => m.lock().map(|v| v.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Delivers one outbox row.
    pub async fn deliver(
        &self,
        from: &str,
        email: &OutboundEmail,
        attachment: Option<bytes::Bytes>,
    ) -> Result<Delivery, String> {
        match self {
            Mailer::LogOnly => {
                tracing::info!(email_id = email.id, to = %email.to_addr, subject = %email.subject, "email stored (no KEEL_SMTP_URL set, not delivered)");
                Ok(Delivery::Logged)
            }
            Mailer::Memory(m) => {
                let attachment_bytes = attachment.as_ref().map(|b| b.len());
                build_message(from, email, attachment)?;
                if let Ok(mut v) = m.lock() {
                    v.push(SentMail {
                        to: email.to_addr.clone(),
                        subject: email.subject.clone(),
                        text: email.text_body.clone(),
                        message_id: email.message_id.clone(),
                        attachment_bytes,
                    });
                }
                Ok(Delivery::Sent)
            }
            Mailer::Smtp(t) => {
                let msg = build_message(from, email, attachment)?;
                t.send(msg).await.map(|_| Delivery::Sent).map_err(|e| format!("SMTP: {e}"))
            }
            Mailer::File(dir) => {
                let bytes = build_message(from, email, attachment)?.formatted();
                let (dir, id) = (dir.clone(), email.id);
                tokio::task::spawn_blocking(move || write_eml(&dir, id, &bytes))
                    .await
                    .map_err(|e| format!("file transport: {e}"))??;
                Ok(Delivery::Sent)
            }
        }
    }
}

/// Writes one message as `<id>.eml`, through a temporary file and a rename so a reader never
/// sees half a message and a second delivery of the same row replaces the first.
fn write_eml(dir: &std::path::Path, id: i64, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let path = dir.join(format!("{id:08}.eml"));
    let tmp = dir.join(format!(".{id:08}.eml.tmp"));
    let err = |e: std::io::Error| format!("file transport: {}: {e}", path.display());
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)
}

/// Builds the MIME message: a text part, and an HTML alternative when present.
pub fn build_message(
    from: &str,
    email: &OutboundEmail,
    attachment: Option<bytes::Bytes>,
) -> Result<Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("sender address: {e}"))?;
    let to: Mailbox = email.to_addr.parse().map_err(|e| format!("recipient address: {e}"))?;
    let mut b = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(email.message_id.clone()));
    let extra: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&email.headers).unwrap_or_default();
    for (name, value) in extra {
        if let (Some(v), Ok(h)) = (value.as_str(), header::HeaderName::new_from_ascii(name.clone())) {
            b = b.raw_header(header::HeaderValue::new(h, v.to_string()));
        }
    }
    let text = SinglePart::plain(email.text_body.clone());
    let Some(bytes) = attachment else {
        return match &email.html_body {
            Some(html) => b.multipart(
                MultiPart::alternative().singlepart(text).singlepart(SinglePart::html(html.clone())),
            ),
            None => b.singlepart(text),
        }
        .map_err(|e| format!("building message: {e}"));
    };
    let body = match &email.html_body {
        Some(html) => MultiPart::alternative().singlepart(text).singlepart(SinglePart::html(html.clone())),
        None => MultiPart::mixed().singlepart(text),
    };
    let name = email.attachment_name.clone().unwrap_or_else(|| "attachment.pdf".into());
    let ct = header::ContentType::parse("application/pdf").map_err(|e| e.to_string())?;
    let part = lettre::message::Attachment::new(name).body(bytes.to_vec(), ct);
    b.multipart(MultiPart::mixed().multipart(body).singlepart(part))
        .map_err(|e| format!("building message: {e}"))
}
