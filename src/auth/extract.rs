//! Request extractors: [`Principal`] (who is signed in; 401 -> sign-in page otherwise),
//! [`MaybePrincipal`], and [`CsrfForm`] (a form whose synchronizer token and origin were
//! checked). Every state-changing HTML route takes a `CsrfForm`.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::roles::{Action, Role, allowed};
use super::session;
use super::store;
use crate::AppState;
use crate::db::now_micros;
use crate::error::AppError;
use crate::tenancy::scope::{Grant, Scope};
use crate::web::layout::{UserView, Viewer};
use crate::web::token;

/// One of the principal's tenant roles.
#[derive(Debug, Clone)]
pub struct TenantRole {
    /// The tenant.
    pub tenant_id: i64,
    /// Its name.
    pub tenant_name: String,
    /// `district | school`.
    pub tenant_kind: String,
    /// The school's district, if any.
    pub parent_id: Option<i64>,
    /// The role held there.
    pub role: Role,
}

/// The signed-in user of this request, loaded once from the session.
#[derive(Debug, Clone)]
pub struct Principal {
    /// User id.
    pub user_id: i64,
    /// Email.
    pub email: String,
    /// Name.
    pub display_name: String,
    /// Internal role, if any.
    pub platform_role: Option<Role>,
    /// Tenant roles.
    pub tenant_roles: Vec<TenantRole>,
    /// The session's id.
    pub session_id: i64,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// Which tenants it may see, with which roles.
    pub scope: Scope,
}

impl Principal {
    /// Every role the principal holds (internal role first).
    pub fn roles(&self) -> Vec<Role> {
        let mut v: Vec<Role> = self.platform_role.into_iter().collect();
        v.extend(self.tenant_roles.iter().map(|t| t.role));
        v
    }

    /// The role that decides the home page and the label in the top bar.
    pub fn primary_role(&self) -> Option<Role> {
        self.roles().into_iter().min()
    }

    /// True when any role the principal holds allows `action` (somewhere, for tenant actions).
    pub fn can(&self, action: Action) -> bool {
        // Everyone signed in may manage their own account, even with no role left.
        action == Action::UseAccount || self.roles().into_iter().any(|r| allowed(r, action))
    }

    /// True for the vendor's staff.
    pub fn is_internal(&self) -> bool {
        self.platform_role.is_some()
    }

    /// `Ok` when allowed; otherwise 404 (pages the user may not use do not exist for them).
    pub fn require(&self, action: Action) -> Result<(), AppError> {
        if self.can(action) { Ok(()) } else { Err(AppError::NotFound) }
    }

    /// The top bar's view of this user.
    pub fn view(&self) -> UserView {
        UserView {
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            role_label: self
                .primary_role()
                .map(|r| r.label().to_string())
                .unwrap_or_else(|| "No role".into()),
            unread: 0,
        }
    }
}

/// Loads the principal (cached in the request's extensions).
pub async fn load_principal(req: &HttpRequest) -> Result<Option<Principal>, AppError> {
    if let Some(p) = req.extensions().get::<Principal>() {
        return Ok(Some(p.clone()));
    }
    let state =
        req.app_data::<web::Data<AppState>>().ok_or_else(|| AppError::internal("AppState missing"))?.clone();
    let Some(tok) = session::token_from(req, state.config()) else { return Ok(None) };
    let now = now_micros(state.now());
    let life = state.config().sessions;
    let loaded = state
        .db(move |c| {
            let r = session::load(c, &tok, now, life)?;
            match r {
                Ok((s, u)) if s.stage == "full" => {
                    let ms = store::memberships_of(c, u.id)?;
                    let districts: Vec<i64> = ms
                        .iter()
                        .filter(|m| m.tenant_kind == "district" && m.tenant_status == "active")
                        .map(|m| m.membership.tenant_id)
                        .collect();
                    let schools = crate::tenancy::store::active_children_of(c, &districts)?;
                    let unread = crate::notify::inapp::unread(c, u.id)?;
                    Ok(Some((s, u, ms, schools, unread)))
                }
                _ => Ok(None),
            }
        })
        .await?;
    let Some((s, u, ms, schools, unread)) = loaded else { return Ok(None) };
    let mut tenant_roles = Vec::new();
    let mut grants = Vec::new();
    for m in ms {
        let Some(role) = Role::parse(&m.membership.role).filter(|r| !r.is_internal()) else { continue };
        if m.tenant_status != "active" {
            continue;
        }
        let tid = m.membership.tenant_id;
        grants.push(Grant { tenant_id: tid, role, via_district: None });
        if m.tenant_kind == "district" && role.is_district_role() {
            for (school, parent) in &schools {
                if *parent == tid {
                    grants.push(Grant { tenant_id: *school, role, via_district: Some(tid) });
                }
            }
        }
        tenant_roles.push(TenantRole {
            tenant_id: tid,
            tenant_name: m.tenant_name,
            tenant_kind: m.tenant_kind,
            parent_id: m.parent_id,
            role,
        });
    }
    let platform_role = u.platform_role.as_deref().and_then(Role::parse).filter(|r| r.is_internal());
    let p = Principal {
        user_id: u.id,
        email: u.email,
        display_name: u.display_name,
        platform_role,
        tenant_roles,
        session_id: s.id,
        csrf_token: s.csrf_token,
        scope: Scope { internal: platform_role, grants },
    };
    req.extensions_mut().insert(Viewer {
        user: Some(UserView { unread, ..p.view() }),
        nav: super::nav::nav_for(&p),
        csrf_token: p.csrf_token.clone(),
    });
    req.extensions_mut().insert(p.clone());
    Ok(Some(p))
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load_principal(&req).await?.ok_or(AppError::Unauthorized) })
    }
}

/// The principal when signed in, None otherwise.
#[derive(Debug, Clone)]
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequest for MaybePrincipal {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(MaybePrincipal(load_principal(&req).await?)) })
    }
}

/// True when the request comes from our own pages: `Sec-Fetch-Site` (when sent) is
/// same-origin or none, and `Origin` (when sent) is our base URL or this host.
pub fn same_origin(req: &HttpRequest, base_url: &str) -> bool {
    if let Some(site) = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match req.headers().get("origin").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let origin = origin.trim_end_matches('/');
            if origin == base_url {
                return true;
            }
            let host = req.connection_info().host().to_string();
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
    }
}

/// Message for a refused form.
pub const CSRF_MESSAGE: &str =
    "This form has expired or was sent from another site. Go back, reload the page and try again.";

/// A form body whose `csrf_token` matched the session's and whose origin is ours.
#[derive(Debug)]
pub struct CsrfForm<T> {
    /// The signed-in user who sent it.
    pub principal: Principal,
    /// The decoded form.
    pub form: T,
}

/// Largest form body accepted (64 KiB).
pub const FORM_LIMIT: usize = 64 * 1024;

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let principal = load_principal(&req).await?.ok_or(AppError::Unauthorized)?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::internal("AppState missing"))?;
            if !same_origin(&req, &state.config().base_url) {
                return Err(AppError::Forbidden(CSRF_MESSAGE.into()));
            }
            let bytes = body.await.map_err(|_| AppError::BadRequest("The form could not be read.".into()))?;
            if bytes.len() > FORM_LIMIT {
                return Err(AppError::BadRequest("The form is too large.".into()));
            }
            let sent = csrf_field(&bytes);
            if !token::constant_time_eq(sent.as_bytes(), principal.csrf_token.as_bytes()) {
                return Err(AppError::Forbidden(CSRF_MESSAGE.into()));
            }
            let cleaned = crate::web::form::strip_bidi_urlencoded(&bytes);
            let form = serde_urlencoded::from_bytes::<T>(&cleaned).map_err(|_| {
                AppError::BadRequest(
                    "The form could not be read. Please reload the page and try again.".into(),
                )
            })?;
            Ok(CsrfForm { principal, form })
        })
    }
}

/// The `csrf_token` field of a urlencoded body ("" when absent).
pub fn csrf_field(body: &[u8]) -> String {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf_token").map(|(_, v)| v))
        .unwrap_or_default()
}
