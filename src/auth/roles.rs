//! Roles and the one permission table: (role, action) -> allowed. Handlers ask it through
//! `Principal::require`; templates hide what it refuses.

use std::fmt;

/// Every role Keel knows: two internal (platform) roles and five tenant roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The vendor's administrators: everything.
    PlatformAdmin,
    /// The vendor's support staff: support queue, read tenants, post incident updates.
    SupportAgent,
    /// Runs a district (covers its linked schools).
    DistrictAdmin,
    /// Read-only across a district, including billing and audit.
    Auditor,
    /// Billing profile, invoices and PO documents of a district.
    Procurement,
    /// Runs one school.
    SchoolAdmin,
    /// Works at one school; sees little.
    Staff,
}

impl Role {
    /// All roles, internal first.
    pub const ALL: [Role; 7] = [
        Role::PlatformAdmin,
        Role::SupportAgent,
        Role::DistrictAdmin,
        Role::Auditor,
        Role::Procurement,
        Role::SchoolAdmin,
        Role::Staff,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::SupportAgent => "support_agent",
            Role::DistrictAdmin => "district_admin",
            Role::Auditor => "auditor",
            Role::Procurement => "procurement",
            Role::SchoolAdmin => "school_admin",
            Role::Staff => "staff",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "Platform admin",
            Role::SupportAgent => "Support agent",
            Role::DistrictAdmin => "District admin",
            Role::Auditor => "Auditor",
            Role::Procurement => "Procurement officer",
            Role::SchoolAdmin => "School admin",
            Role::Staff => "Staff",
        }
    }

    /// True for the vendor's own staff.
    pub fn is_internal(self) -> bool {
        matches!(self, Role::PlatformAdmin | Role::SupportAgent)
    }

    /// True for roles held on a district (they cover its schools).
    pub fn is_district_role(self) -> bool {
        matches!(self, Role::DistrictAdmin | Role::Auditor | Role::Procurement)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Things a principal may try to do. Each route names the action it needs; tenant-scoped
/// actions are checked against the tenant through `tenancy::Scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Manage one's own account (password, two-factor, sessions).
    UseAccount,
    /// See the internal overview (`/admin`).
    ViewAdminOverview,
    /// See the job queue.
    ViewJobs,
    /// Retry dead jobs.
    ManageJobs,
    /// See the email outbox.
    ViewEmails,
    /// Resend emails, send test emails.
    ManageEmails,
    /// See every tenant (`/admin/tenants`).
    ViewTenants,
    /// Create, link, unlink and suspend tenants.
    ManageTenants,
    /// See every user (`/admin/users`).
    ViewUsers,
    /// Invite anyone, disable and enable users.
    ManageUsers,
    /// See a district's schools (tenant-scoped).
    ViewSchools,
    /// See a tenant's members (tenant-scoped).
    ViewMembers,
    /// Invite members, change and remove their roles (tenant-scoped).
    ManageMembers,
    /// Read the audit trail (tenant-scoped; platform admins see everything).
    ViewAudit,
    /// Download a signed checkpoint of the audit chain.
    ExportAuditCheckpoint,
    /// See the status page's operator side (`/admin/status`).
    ViewStatusAdmin,
    /// Post updates to incidents and maintenance.
    PostIncidentUpdate,
    /// Create incidents and maintenance, write postmortems, correct impact windows.
    ManageIncidents,
    /// Create components and set their status by hand.
    ManageComponents,
    /// See the reliability panel (uptime, incidents, maintenance, SLA commitment).
    ViewReliability,
    /// See a tenant's billing profile and invoices (tenant-scoped).
    ViewBilling,
    /// Edit a tenant's billing profile (tenant-scoped).
    ManageBillingProfile,
    /// Edit the vendor's invoicing details.
    ManageVendorSettings,
    /// Create, issue and mark invoices paid (the vendor's staff).
    ManageInvoices,
    /// See a tenant's usage against its caps (`/usage`, rollups).
    ViewUsage,
    /// Set caps (district admins for their district and schools; staff for anyone).
    ManageCaps,
    /// See the metering set-up: metrics, ingest keys, rejected events.
    ViewMetering,
    /// Change the metering set-up: metrics, ingest keys, re-submitting rejected events.
    ManageMetering,
    /// See the tenant's support tier and targets, file support requests, see one's own
    /// (tenant-scoped; everyone in a tenant).
    UseSupport,
    /// See every support request of the tenant, not only one's own (tenant-scoped).
    ViewTenantRequests,
    /// Work the support queue: assign, reply, notes, status (the vendor's staff).
    WorkSupportQueue,
    /// Edit SLA tiers and set a tenant's tier; review SLA credit claims and disputes.
    ManageSla,
    /// Claim SLA credits and open invoice disputes (tenant-scoped).
    ClaimCredits,
}

impl Action {
    /// Every action (the route × role test walks them).
    pub const ALL: [Action; 33] = [
        Action::UseAccount,
        Action::ViewAdminOverview,
        Action::ViewJobs,
        Action::ManageJobs,
        Action::ViewEmails,
        Action::ManageEmails,
        Action::ViewTenants,
        Action::ManageTenants,
        Action::ViewUsers,
        Action::ManageUsers,
        Action::ViewSchools,
        Action::ViewMembers,
        Action::ManageMembers,
        Action::ViewAudit,
        Action::ExportAuditCheckpoint,
        Action::ViewStatusAdmin,
        Action::PostIncidentUpdate,
        Action::ManageIncidents,
        Action::ManageComponents,
        Action::ViewReliability,
        Action::ViewBilling,
        Action::ManageBillingProfile,
        Action::ManageVendorSettings,
        Action::ManageInvoices,
        Action::ViewUsage,
        Action::ManageCaps,
        Action::ViewMetering,
        Action::ManageMetering,
        Action::UseSupport,
        Action::ViewTenantRequests,
        Action::WorkSupportQueue,
        Action::ManageSla,
        Action::ClaimCredits,
    ];
}

/// The permission table: may `role` do `action`? For tenant-scoped actions this says whether
/// the role may do it in a tenant where it holds (or inherits) the role.
pub fn allowed(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match action {
        UseAccount => true,
        ViewAdminOverview | ViewJobs | ViewEmails | ViewTenants | ViewUsers | ViewStatusAdmin
        | PostIncidentUpdate => {
            matches!(role, PlatformAdmin | SupportAgent)
        }
        ManageJobs
        | ManageEmails
        | ManageTenants
        | ManageUsers
        | ExportAuditCheckpoint
        | ManageIncidents
        | ManageComponents => role == PlatformAdmin,
        ViewSchools => matches!(role, PlatformAdmin | SupportAgent | DistrictAdmin | Auditor | Procurement),
        ViewMembers => matches!(role, PlatformAdmin | SupportAgent | DistrictAdmin | Auditor | SchoolAdmin),
        ManageMembers => matches!(role, PlatformAdmin | DistrictAdmin | SchoolAdmin),
        ViewAudit => matches!(role, PlatformAdmin | DistrictAdmin | Auditor),
        ViewReliability => matches!(role, PlatformAdmin | SupportAgent | DistrictAdmin | Auditor),
        ViewBilling => matches!(role, PlatformAdmin | SupportAgent | DistrictAdmin | Auditor | Procurement),
        ManageBillingProfile => matches!(role, PlatformAdmin | DistrictAdmin | Procurement),
        ManageVendorSettings | ManageInvoices => role == PlatformAdmin,
        ViewUsage => {
            matches!(role, PlatformAdmin | SupportAgent | DistrictAdmin | Auditor | Procurement | SchoolAdmin)
        }
        ManageCaps => matches!(role, PlatformAdmin | DistrictAdmin),
        ViewMetering => matches!(role, PlatformAdmin | SupportAgent),
        ManageMetering => role == PlatformAdmin,
        UseSupport => true,
        ViewTenantRequests => matches!(role, PlatformAdmin | SupportAgent | DistrictAdmin | Auditor),
        WorkSupportQueue => matches!(role, PlatformAdmin | SupportAgent),
        ManageSla => role == PlatformAdmin,
        ClaimCredits => matches!(role, PlatformAdmin | DistrictAdmin | Procurement),
    }
}

/// Roles that `granter` may hand out (in invitations and role changes).
pub fn grantable_by(granter: Role) -> &'static [Role] {
    match granter {
        Role::PlatformAdmin => &Role::ALL,
        Role::DistrictAdmin => {
            &[Role::DistrictAdmin, Role::Auditor, Role::Procurement, Role::SchoolAdmin, Role::Staff]
        }
        Role::SchoolAdmin => &[Role::SchoolAdmin, Role::Staff],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn only_platform_admin_manages_jobs() {
        for r in Role::ALL {
            assert_eq!(allowed(r, Action::ManageJobs), r == Role::PlatformAdmin);
            assert!(allowed(r, Action::UseAccount));
        }
        assert!(allowed(Role::SupportAgent, Action::ViewJobs));
        assert!(!allowed(Role::DistrictAdmin, Action::ViewJobs));
        assert!(allowed(Role::Auditor, Action::ViewAudit));
        assert!(!allowed(Role::Staff, Action::ViewAudit));
        assert!(!allowed(Role::SupportAgent, Action::ManageMembers));
    }

    #[test]
    fn school_admins_grant_school_roles_only() {
        assert_eq!(grantable_by(Role::SchoolAdmin), &[Role::SchoolAdmin, Role::Staff]);
        assert!(grantable_by(Role::Auditor).is_empty());
        assert!(!grantable_by(Role::DistrictAdmin).contains(&Role::PlatformAdmin));
    }
}
