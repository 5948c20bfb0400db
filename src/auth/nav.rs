//! The section navigation: one list of sections, each shown only to principals whose
//! permission table entries allow its action (somewhere in their scope).

use super::Principal;
use super::roles::Action;

/// Who a section is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum For {
    /// The vendor's staff.
    Internal,
    /// District and school users.
    Tenant,
    /// Everyone allowed.
    Anyone,
}

/// (path, label, action needed, audience) for every section, in display order.
const SECTIONS: &[(&str, &str, Action, For)] = &[
    ("/admin", "Overview", Action::ViewAdminOverview, For::Internal),
    ("/admin/tenants", "Tenants", Action::ViewTenants, For::Internal),
    ("/admin/users", "Users", Action::ViewUsers, For::Internal),
    ("/admin/status", "Status page", Action::ViewStatusAdmin, For::Internal),
    ("/admin/invoices", "Invoices", Action::ViewTenants, For::Internal),
    ("/admin/billing/settings", "Invoicing", Action::ManageVendorSettings, For::Internal),
    ("/admin/usage", "Metering", Action::ViewMetering, For::Internal),
    ("/admin/support", "Support", Action::WorkSupportQueue, For::Internal),
    ("/reliability", "Reliability", Action::ViewReliability, For::Anyone),
    ("/usage", "Usage", Action::ViewUsage, For::Tenant),
    ("/billing/invoices", "Invoices", Action::ViewBilling, For::Tenant),
    ("/billing", "Billing", Action::ViewBilling, For::Tenant),
    ("/district/schools", "Schools", Action::ViewSchools, For::Tenant),
    ("/district/members", "Members", Action::ViewMembers, For::Tenant),
    ("/support", "Support", Action::UseSupport, For::Tenant),
    ("/audit", "Audit log", Action::ViewAudit, For::Anyone),
    ("/admin/jobs", "Jobs", Action::ViewJobs, For::Internal),
    ("/admin/emails", "Emails", Action::ViewEmails, For::Internal),
    ("/account", "Account", Action::UseAccount, For::Anyone),
];

/// The sections `p` may use.
pub fn nav_for(p: &Principal) -> Vec<(String, String)> {
    SECTIONS
        .iter()
        .filter(|(_, _, a, who)| match who {
            For::Internal => p.is_internal() && p.can(*a),
            For::Tenant => !p.is_internal() && p.scope.allows_anywhere(*a),
            For::Anyone => *a == Action::UseAccount || p.scope.allows_anywhere(*a),
        })
        .map(|(h, l, _, _)| (h.to_string(), l.to_string()))
        .collect()
}
