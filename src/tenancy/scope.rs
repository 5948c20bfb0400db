//! The scope of a signed-in principal: which tenants it may see and with which roles. Built
//! once per request; every store function for tenant data takes it. A tenant outside the
//! scope is "not found" (404), never "forbidden".

use crate::auth::roles::{Action, Role, allowed};
use crate::error::AppError;

/// One tenant role, held directly or inherited from the school's district.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The tenant.
    pub tenant_id: i64,
    /// The role there.
    pub role: Role,
    /// The district this role comes from, for a school covered by a district role.
    pub via_district: Option<i64>,
}

/// What a principal may see and do, per tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The internal role, which covers every tenant.
    pub internal: Option<Role>,
    /// Tenant roles (direct and inherited).
    pub grants: Vec<Grant>,
}

impl Scope {
    /// True for the vendor's staff.
    pub fn is_internal(&self) -> bool {
        self.internal.is_some()
    }

    /// The roles held at `tenant_id` (direct or through its district).
    pub fn roles_at(&self, tenant_id: i64) -> Vec<Role> {
        self.grants.iter().filter(|g| g.tenant_id == tenant_id).map(|g| g.role).collect()
    }

    /// True when `action` is allowed on `tenant_id`.
    pub fn allows(&self, action: Action, tenant_id: i64) -> bool {
        self.internal.is_some_and(|r| allowed(r, action))
            || self.roles_at(tenant_id).into_iter().any(|r| allowed(r, action))
    }

    /// `Ok` when allowed; otherwise 404 (the tenant's data does not exist for this principal).
    pub fn require(&self, action: Action, tenant_id: i64) -> Result<(), AppError> {
        if self.allows(action, tenant_id) { Ok(()) } else { Err(AppError::NotFound) }
    }

    /// Tenants on which `action` is allowed: None means every tenant (internal staff),
    /// Some(list) otherwise (possibly empty).
    pub fn tenants_for(&self, action: Action) -> Option<Vec<i64>> {
        if self.internal.is_some_and(|r| allowed(r, action)) {
            return None;
        }
        let mut ids: Vec<i64> =
            self.grants.iter().filter(|g| allowed(g.role, action)).map(|g| g.tenant_id).collect();
        ids.sort_unstable();
        ids.dedup();
        Some(ids)
    }

    /// True when `action` is allowed somewhere.
    pub fn allows_anywhere(&self, action: Action) -> bool {
        self.tenants_for(action).is_none_or(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn district_admin() -> Scope {
        Scope {
            internal: None,
            grants: vec![
                Grant { tenant_id: 1, role: Role::DistrictAdmin, via_district: None },
                Grant { tenant_id: 11, role: Role::DistrictAdmin, via_district: Some(1) },
                Grant { tenant_id: 12, role: Role::DistrictAdmin, via_district: Some(1) },
            ],
        }
    }

    #[test]
    fn district_roles_cover_linked_schools_only() {
        let s = district_admin();
        assert!(s.allows(Action::ViewMembers, 11));
        assert!(!s.allows(Action::ViewMembers, 21), "another district's school");
        assert!(matches!(s.require(Action::ViewMembers, 2), Err(AppError::NotFound)));
        assert_eq!(s.tenants_for(Action::ViewMembers), Some(vec![1, 11, 12]));
    }

    #[test]
    fn internal_roles_cover_everything_they_are_allowed() {
        let s = Scope { internal: Some(Role::PlatformAdmin), grants: vec![] };
        assert!(s.allows(Action::ManageTenants, 999));
        assert_eq!(s.tenants_for(Action::ViewAudit), None);
        let agent = Scope { internal: Some(Role::SupportAgent), grants: vec![] };
        assert!(!agent.allows(Action::ManageTenants, 1));
        assert_eq!(agent.tenants_for(Action::ManageTenants), Some(vec![]));
    }
}
