//! The section navigation: one list of sections, each shown only to roles whose permission
//! table entry allows its action.

use super::Principal;
use super::roles::Action;

/// (path, label, action needed) for every section, in display order.
const SECTIONS: &[(&str, &str, Action)] = &[
    ("/admin", "Overview", Action::ViewAdminOverview),
    ("/admin/jobs", "Jobs", Action::ViewJobs),
    ("/admin/emails", "Emails", Action::ViewEmails),
    ("/account", "Account", Action::UseAccount),
];

/// The sections `p` may use.
pub fn nav_for(p: &Principal) -> Vec<(String, String)> {
    SECTIONS.iter().filter(|(_, _, a)| p.can(*a)).map(|(h, l, _)| (h.to_string(), l.to_string())).collect()
}
