//! Settings from environment variables and flags, validated once at start-up.
//!
//! Every flag has a `KEEL_...` environment twin (see `main.rs`); this module turns
//! the raw strings into one [`Config`] that is passed into `AppState`. A bad value
//! stops start-up with one line naming the variable ([`ConfigError`]).

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::db::Backend;

/// Length of the secret key in bytes (sessions, CSRF, signed URLs, audit checkpoints).
pub const SECRET_KEY_LEN: usize = 64;

/// A start-up configuration problem, displayed as one line naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The environment variable (or flag) at fault.
    pub var: &'static str,
    /// What is wrong with it, in plain words.
    pub message: String,
}

impl ConfigError {
    fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self { var, message: message.into() }
    }
}

/// Where outgoing email goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailConfig {
    /// `smtp://[user:pass@]host[:port]` (STARTTLS when offered is not forced) or `smtps://` (implicit TLS).
    Smtp {
        /// Use implicit TLS (`smtps://`).
        tls: bool,
        /// Server host name.
        host: String,
        /// Server port.
        port: u16,
        /// Optional credentials.
        credentials: Option<(String, String)>,
    },
    /// `file://DIR`: each message is written as an `.eml` file (development, tests).
    File(PathBuf),
    /// Unset: messages are stored in the outbox and logged, never delivered.
    LogOnly,
    /// In-memory capture, only for tests.
    Memory,
}

/// Where uploaded and generated files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectStoreConfig {
    /// A local directory.
    Local(PathBuf),
    /// In-memory, only for tests.
    Memory,
}

/// Whether Keel runs in development or production mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Generates a secret key when none is configured.
    Development,
    /// Requires `KEEL_SECRET_KEY` and `KEEL_BASE_URL`.
    Production,
}

/// Raw settings as given by flags or environment (all optional strings).
#[derive(Debug, Clone, Default)]
pub struct RawSettings {
    /// `KEEL_DATABASE_URL`
    pub database_url: Option<String>,
    /// `KEEL_DATA_DIR`
    pub data_dir: Option<String>,
    /// `KEEL_BIND`
    pub bind: Option<String>,
    /// `KEEL_BASE_URL`
    pub base_url: Option<String>,
    /// `KEEL_SECRET_KEY`
    pub secret_key: Option<String>,
    /// `KEEL_SMTP_URL`
    pub smtp_url: Option<String>,
    /// `KEEL_MAIL_FROM`
    pub mail_from: Option<String>,
    /// `KEEL_OBJECT_STORE`
    pub object_store: Option<String>,
    /// `KEEL_ENV`
    pub env: Option<String>,
    /// `KEEL_DB_POOL_SIZE`
    pub pool_size: Option<String>,
    /// `KEEL_WORKERS`
    pub workers: Option<String>,
    /// `KEEL_SESSION_IDLE_MINUTES`
    pub session_idle_minutes: Option<String>,
    /// `KEEL_SESSION_MAX_HOURS`
    pub session_max_hours: Option<String>,
}

/// The validated configuration.
#[derive(Clone)]
pub struct Config {
    /// Database URL as given (credentials are never logged).
    pub database_url: String,
    /// Backend chosen from the URL scheme.
    pub backend: Backend,
    /// Directory for the SQLite file, the generated secret key and local files.
    pub data_dir: PathBuf,
    /// Address `keel serve` listens on.
    pub bind: String,
    /// Public base URL used in emails and links, without a trailing slash.
    pub base_url: String,
    /// The secret key (64 bytes).
    pub secret_key: Vec<u8>,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// Sender address for outgoing mail.
    pub mail_from: String,
    /// File storage.
    pub object_store: ObjectStoreConfig,
    /// Development or production.
    pub mode: RunMode,
    /// Maximum database connections held by this process.
    pub pool_size: u32,
    /// Background job workers in this process (0 disables them).
    pub workers: usize,
    /// Session idle and absolute lifetimes.
    pub sessions: crate::auth::session::Lifetimes,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("backend", &self.backend)
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("base_url", &self.base_url)
            .field("mode", &self.mode)
            .field("pool_size", &self.pool_size)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Validates raw settings. Generates and stores a development secret key when needed.
    pub fn from_raw(raw: RawSettings) -> Result<Self, ConfigError> {
        let mode = match raw.env.as_deref().map(str::trim) {
            None | Some("") | Some("development") | Some("dev") => RunMode::Development,
            Some("production") | Some("prod") => RunMode::Production,
            Some(other) => {
                return Err(ConfigError::new(
                    "KEEL_ENV",
                    format!("'{other}' is not a mode; use development or production"),
                ));
            }
        };
        let data_dir = PathBuf::from(raw.data_dir.unwrap_or_else(|| "./data".into()));
        let database_url = match raw.database_url.filter(|s| !s.trim().is_empty()) {
            Some(u) => u.trim().to_string(),
            None => format!("sqlite://{}", data_dir.join("keel.db").display()),
        };
        let backend = crate::db::parse_database_url(&database_url)
            .map_err(|m| ConfigError::new("KEEL_DATABASE_URL", m))?
            .0;
        let bind = raw.bind.unwrap_or_else(|| "127.0.0.1:8080".into());
        if bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new(
                "KEEL_BIND",
                format!("'{bind}' is not an address like 127.0.0.1:8080"),
            ));
        }
        let base_url = match raw.base_url.filter(|s| !s.trim().is_empty()) {
            Some(u) => {
                let u = u.trim().trim_end_matches('/').to_string();
                if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() < 10 {
                    return Err(ConfigError::new(
                        "KEEL_BASE_URL",
                        format!("'{u}' must start with http:// or https://"),
                    ));
                }
                u
            }
            None if mode == RunMode::Production => {
                return Err(ConfigError::new(
                    "KEEL_BASE_URL",
                    "is required in production (the public URL, e.g. https://status.example.com)",
                ));
            }
            None => format!("http://{bind}"),
        };
        let secret_key = match raw.secret_key.filter(|s| !s.trim().is_empty()) {
            Some(k) => decode_secret(&k)?,
            None if mode == RunMode::Production => {
                return Err(ConfigError::new(
                    "KEEL_SECRET_KEY",
                    "is required in production (64 random bytes, base64; `openssl rand -base64 64`)",
                ));
            }
            None => load_or_create_dev_secret(&data_dir)?,
        };
        let mail = parse_mail_url(raw.smtp_url.as_deref())?;
        let mail_from = raw.mail_from.unwrap_or_else(|| "Keel <no-reply@keel.localhost>".into());
        if !mail_from.contains('@') {
            return Err(ConfigError::new("KEEL_MAIL_FROM", format!("'{mail_from}' is not an email address")));
        }
        let object_store = match raw.object_store.filter(|s| !s.trim().is_empty()) {
            None => ObjectStoreConfig::Local(data_dir.join("files")),
            Some(s) if s == "memory://" => ObjectStoreConfig::Memory,
            Some(s) => match s.strip_prefix("file://") {
                Some(dir) if !dir.is_empty() => ObjectStoreConfig::Local(PathBuf::from(dir)),
                _ => {
                    return Err(ConfigError::new(
                        "KEEL_OBJECT_STORE",
                        format!("'{s}' is not supported; use file://DIR"),
                    ));
                }
            },
        };
        let default_pool = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 10,
        };
        let pool_size = parse_num(raw.pool_size, "KEEL_DB_POOL_SIZE", default_pool, 1, 200)?;
        let workers = parse_num(raw.workers, "KEEL_WORKERS", 2, 0, 64)? as usize;
        let idle = parse_num(raw.session_idle_minutes, "KEEL_SESSION_IDLE_MINUTES", 30, 5, 24 * 60)?;
        let max = parse_num(raw.session_max_hours, "KEEL_SESSION_MAX_HOURS", 12, 1, 24 * 30)?;
        let sessions = crate::auth::session::Lifetimes {
            idle: chrono::Duration::minutes(i64::from(idle)),
            absolute: chrono::Duration::hours(i64::from(max)),
        };
        Ok(Self {
            database_url,
            backend,
            data_dir,
            bind,
            base_url,
            secret_key,
            mail,
            mail_from,
            object_store,
            mode,
            pool_size,
            workers,
            sessions,
        })
    }

    /// True when the public URL is https (enables HSTS and `Secure` cookies).
    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// A configuration for tests: the given database, memory mail and storage, a fixed key.
    pub fn for_tests(database_url: &str, data_dir: &Path) -> Result<Self, ConfigError> {
        let mut cfg = Self::from_raw(RawSettings {
            database_url: Some(database_url.to_string()),
            data_dir: Some(data_dir.display().to_string()),
            secret_key: Some(B64.encode([7u8; SECRET_KEY_LEN])),
            object_store: Some("memory://".into()),
            base_url: Some("http://keel.test".into()),
            pool_size: Some("4".into()),
            ..RawSettings::default()
        })?;
        cfg.mail = MailConfig::Memory;
        Ok(cfg)
    }
}

fn parse_num(
    raw: Option<String>,
    var: &'static str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ConfigError> {
    match raw.filter(|s| !s.trim().is_empty()) {
        None => Ok(default),
        Some(s) => match s.trim().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError::new(var, format!("'{s}' must be a whole number from {min} to {max}"))),
        },
    }
}

fn decode_secret(k: &str) -> Result<Vec<u8>, ConfigError> {
    let bytes =
        B64.decode(k.trim()).map_err(|_| ConfigError::new("KEEL_SECRET_KEY", "is not valid base64"))?;
    if bytes.len() != SECRET_KEY_LEN {
        return Err(ConfigError::new(
            "KEEL_SECRET_KEY",
            format!("must decode to {SECRET_KEY_LEN} bytes, got {} (`openssl rand -base64 64`)", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// Reads `<data dir>/secret.key`, or creates it (mode 0600) with fresh random bytes.
fn load_or_create_dev_secret(data_dir: &Path) -> Result<Vec<u8>, ConfigError> {
    let path = data_dir.join("secret.key");
    let err = |m: String| ConfigError::new("KEEL_SECRET_KEY", m);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        return decode_secret(&text).map_err(|e| err(format!("{} {}", path.display(), e.message)));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| err(format!("cannot create data directory {}: {e}", data_dir.display())))?;
    let key = crate::web::token::random_bytes(SECRET_KEY_LEN);
    write_private(&path, B64.encode(&key).as_bytes())
        .map_err(|e| err(format!("cannot write {}: {e}", path.display())))?;
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

fn parse_mail_url(url: Option<&str>) -> Result<MailConfig, ConfigError> {
    let var = "KEEL_SMTP_URL";
    let Some(url) = url.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(MailConfig::LogOnly);
    };
    if let Some(dir) = url.strip_prefix("file://") {
        if dir.is_empty() {
            return Err(ConfigError::new(var, "file:// needs a directory, e.g. file://./data/mail"));
        }
        return Ok(MailConfig::File(PathBuf::from(dir)));
    }
    let (tls, rest) = if let Some(r) = url.strip_prefix("smtps://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("smtp://") {
        (false, r)
    } else {
        return Err(ConfigError::new(
            var,
            "must start with smtp://, smtps:// or file:// (or be unset to only store and log mail)",
        ));
    };
    let rest = rest.trim_end_matches('/');
    let (credentials, hostport) = match rest.rsplit_once('@') {
        Some((cred, hp)) => {
            let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
            (Some((percent_decode(u), percent_decode(p))), hp)
        }
        None => (None, rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => {
            let port =
                p.parse::<u16>().map_err(|_| ConfigError::new(var, format!("'{p}' is not a port number")))?;
            (h.to_string(), port)
        }
        None => (hostport.to_string(), if tls { 465 } else { 25 }),
    };
    if host.is_empty() {
        return Err(ConfigError::new(var, "has no host name"));
    }
    Ok(MailConfig::Smtp { tls, host, port, credentials })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(db: &str) -> RawSettings {
        RawSettings {
            database_url: Some(db.into()),
            secret_key: Some(B64.encode([1u8; 64])),
            ..Default::default()
        }
    }

    #[test]
    fn rejects_unknown_scheme_naming_the_variable() {
        let err = Config::from_raw(raw("mysql://x")).err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().starts_with("KEEL_DATABASE_URL:"));
    }

    #[test]
    fn picks_backend_from_scheme() {
        let c = Config::from_raw(raw("postgres://u@h/db")).map(|c| c.backend);
        assert!(matches!(c, Ok(Backend::Postgres)));
        let c = Config::from_raw(raw("sqlite:///tmp/x.db")).map(|c| c.backend);
        assert!(matches!(c, Ok(Backend::Sqlite)));
    }

    #[test]
    fn secret_must_be_64_bytes() {
        let mut r = raw("sqlite:///tmp/x.db");
        r.secret_key = Some(B64.encode([1u8; 10]));
        let e = Config::from_raw(r).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("KEEL_SECRET_KEY") && e.contains("64 bytes"), "{e}");
    }

    #[test]
    fn production_requires_secret_and_base_url() {
        let mut r = raw("sqlite:///tmp/x.db");
        r.env = Some("production".into());
        let e = Config::from_raw(r.clone()).err().map(|e| e.var);
        assert_eq!(e, Some("KEEL_BASE_URL"));
        r.base_url = Some("https://status.example.com/".into());
        let c = Config::from_raw(r);
        assert!(c.as_ref().is_ok_and(|c| c.is_https() && c.base_url == "https://status.example.com"));
    }

    #[test]
    fn parses_mail_urls() {
        assert_eq!(parse_mail_url(None).ok(), Some(MailConfig::LogOnly));
        assert_eq!(
            parse_mail_url(Some("smtp://127.0.0.1:2525")).ok(),
            Some(MailConfig::Smtp { tls: false, host: "127.0.0.1".into(), port: 2525, credentials: None })
        );
        assert_eq!(
            parse_mail_url(Some("smtps://me%40x.com:p%3Ass@mail.example.com")).ok(),
            Some(MailConfig::Smtp {
                tls: true,
                host: "mail.example.com".into(),
                port: 465,
                credentials: Some(("me@x.com".into(), "p:ss".into()))
            })
        );
        assert!(parse_mail_url(Some("http://x")).is_err());
        assert!(parse_mail_url(Some("smtp://host:notaport")).is_err());
    }

    #[test]
    fn bad_numbers_name_their_variable() {
        let mut r = raw("sqlite:///tmp/x.db");
        r.pool_size = Some("0".into());
        assert_eq!(Config::from_raw(r).err().map(|e| e.var), Some("KEEL_DB_POOL_SIZE"));
    }
}
