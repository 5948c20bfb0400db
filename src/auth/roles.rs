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

/// Things a principal may try to do. Each route names the action it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
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
    /// Sign in and manage one's own account.
    UseAccount,
}

impl Action {
    /// Every action (the route × role test walks them).
    pub const ALL: [Action; 6] = [
        Action::ViewAdminOverview,
        Action::ViewJobs,
        Action::ManageJobs,
        Action::ViewEmails,
        Action::ManageEmails,
        Action::UseAccount,
    ];
}

/// The permission table.
pub fn allowed(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match action {
        UseAccount => true,
        ViewAdminOverview | ViewJobs | ViewEmails => matches!(role, PlatformAdmin | SupportAgent),
        ManageJobs | ManageEmails => role == PlatformAdmin,
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
    }
}
