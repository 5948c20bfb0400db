//! Every mounted route × {anonymous, each of the 7 roles} × {own tenant, linked school, other
//! district}, compared with the permission table. A route that is mounted but missing from
//! this table fails the test.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use keel::auth::roles::{Action, Role, allowed};

use crate::harness::{Backend, Client, TestApp};

/// Who a route is for, beyond the permission table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// No sign-in needed.
    Public,
    /// Internal staff only (tenant roles get 404 even where the table would allow).
    Internal,
    /// Anyone signed in whose roles allow the action.
    SignedIn,
    /// Tested by dedicated tests (sessions in the middle of signing in, one-time tokens...).
    Elsewhere(&'static str),
}

/// What the `{t}` / `{m}` placeholders point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// No tenant in the route.
    None,
    /// A tenant id.
    Tenant,
    /// A membership in the tenant.
    Membership,
}

struct RouteCase {
    method: &'static str,
    /// The mounted pattern (compared with the source).
    pattern: &'static str,
    /// The concrete path to request; `{t}` = tenant id, `{m}` = membership id, `{job}`, `{email}`, `{user}`.
    path: &'static str,
    action: Action,
    audience: Audience,
    target: Target,
}

const fn r(
    method: &'static str,
    pattern: &'static str,
    path: &'static str,
    action: Action,
    audience: Audience,
    target: Target,
) -> RouteCase {
    RouteCase { method, pattern, path, action, audience, target }
}

use Action as A;
use Audience::*;
use Target as T;

const ROUTES: &[RouteCase] = &[
    r("get", "/healthz", "/healthz", A::UseAccount, Public, T::None),
    r("get", "/readyz", "/readyz", A::UseAccount, Public, T::None),
    r("get", "/static/{path:.*}", "/static/css/keel.css", A::UseAccount, Public, T::None),
    r("get", "/favicon.ico", "/favicon.ico", A::UseAccount, Public, T::None),
    r(
        "post",
        "/csp-report",
        "/csp-report",
        A::UseAccount,
        Elsewhere("csp::* (browsers send violation reports on their own: no session, no CSRF)"),
        T::None,
    ),
    r("get", "/", "/", A::UseAccount, Public, T::None),
    r("get", "/login", "/login", A::UseAccount, Public, T::None),
    r("post", "/login", "/login", A::UseAccount, Elsewhere("auth::sign_in_*"), T::None),
    r("get", "/login/2fa", "/login/2fa", A::UseAccount, Elsewhere("identity::two_factor_*"), T::None),
    r("post", "/login/2fa", "/login/2fa", A::UseAccount, Elsewhere("identity::two_factor_*"), T::None),
    r(
        "post",
        "/logout",
        "/logout",
        A::UseAccount,
        Elsewhere("auth::sign_in_rotates_the_session_and_sign_out_ends_it"),
        T::None,
    ),
    r("get", "/forgot", "/forgot", A::UseAccount, Public, T::None),
    r("post", "/forgot", "/forgot", A::UseAccount, Elsewhere("identity::password_reset_*"), T::None),
    r("get", "/reset/{token}", "/reset/x", A::UseAccount, Elsewhere("identity::password_reset_*"), T::None),
    r("post", "/reset/{token}", "/reset/x", A::UseAccount, Elsewhere("identity::password_reset_*"), T::None),
    r("get", "/invite/{token}", "/invite/x", A::UseAccount, Elsewhere("identity::invitations_*"), T::None),
    r("post", "/invite/{token}", "/invite/x", A::UseAccount, Elsewhere("identity::invitations_*"), T::None),
    r("get", "/account", "/account", A::UseAccount, SignedIn, T::None),
    r("get", "/account/password", "/account/password", A::UseAccount, SignedIn, T::None),
    r("post", "/account/password", "/account/password", A::UseAccount, SignedIn, T::None),
    r("get", "/account/sessions", "/account/sessions", A::UseAccount, SignedIn, T::None),
    r(
        "post",
        "/account/sessions/revoke-others",
        "/account/sessions/revoke-others",
        A::UseAccount,
        SignedIn,
        T::None,
    ),
    r(
        "post",
        "/account/sessions/{id}/revoke",
        "/account/sessions/1/revoke",
        A::UseAccount,
        Elsewhere("identity::sessions_*"),
        T::None,
    ),
    r("get", "/account/2fa/setup", "/account/2fa/setup", A::UseAccount, SignedIn, T::None),
    r("post", "/account/2fa/setup", "/account/2fa/setup", A::UseAccount, SignedIn, T::None),
    r("post", "/account/2fa/disable", "/account/2fa/disable", A::UseAccount, SignedIn, T::None),
    r(
        "post",
        "/account/2fa/recovery-codes",
        "/account/2fa/recovery-codes",
        A::UseAccount,
        Elsewhere("identity::two_factor_*"),
        T::None,
    ),
    r("get", "/admin", "/admin", A::ViewAdminOverview, Internal, T::None),
    r("get", "/admin/jobs", "/admin/jobs", A::ViewJobs, Internal, T::None),
    r("get", "/admin/jobs/{id}", "/admin/jobs/{job}", A::ViewJobs, Internal, T::None),
    r("post", "/admin/jobs/{id}/retry", "/admin/jobs/{job}/retry", A::ManageJobs, Internal, T::None),
    r("get", "/admin/emails", "/admin/emails", A::ViewEmails, Internal, T::None),
    r("get", "/admin/emails/{id}", "/admin/emails/{email}", A::ViewEmails, Internal, T::None),
    r(
        "post",
        "/admin/emails/{id}/resend",
        "/admin/emails/{email}/resend",
        A::ManageEmails,
        Internal,
        T::None,
    ),
    r("post", "/admin/emails/test", "/admin/emails/test", A::ManageEmails, Internal, T::None),
    r("get", "/admin/tenants", "/admin/tenants", A::ViewTenants, Internal, T::None),
    r("post", "/admin/tenants", "/admin/tenants", A::ManageTenants, Internal, T::None),
    r("get", "/admin/tenants/new", "/admin/tenants/new", A::ManageTenants, Internal, T::None),
    r("get", "/admin/tenants/{id}", "/admin/tenants/{t}", A::ViewTenants, Internal, T::Tenant),
    r("post", "/admin/tenants/{id}/link", "/admin/tenants/{t}/link", A::ManageTenants, Internal, T::Tenant),
    r(
        "post",
        "/admin/tenants/{id}/unlink",
        "/admin/tenants/{t}/unlink",
        A::ManageTenants,
        Internal,
        T::Tenant,
    ),
    r(
        "post",
        "/admin/tenants/{id}/status",
        "/admin/tenants/{t}/status",
        A::ManageTenants,
        Internal,
        T::Tenant,
    ),
    r("get", "/admin/users", "/admin/users", A::ViewUsers, Internal, T::None),
    r("post", "/admin/users/invite", "/admin/users/invite", A::ManageUsers, Internal, T::None),
    r("get", "/admin/users/{id}", "/admin/users/{user}", A::ViewUsers, Internal, T::None),
    r("post", "/admin/users/{id}/status", "/admin/users/{user}/status", A::ManageUsers, Internal, T::None),
    r(
        "get",
        "/admin/audit/checkpoint",
        "/admin/audit/checkpoint",
        A::ExportAuditCheckpoint,
        Internal,
        T::None,
    ),
    r("get", "/audit", "/audit", A::ViewAudit, SignedIn, T::None),
    r("get", "/audit", "/audit?tenant={t}", A::ViewAudit, SignedIn, T::Tenant),
    r("get", "/audit.csv", "/audit.csv?tenant={t}", A::ViewAudit, SignedIn, T::Tenant),
    r("get", "/status", "/status", A::UseAccount, Public, T::None),
    r("get", "/status/incidents/{code}", "/status/incidents/{code}", A::UseAccount, Public, T::None),
    r("get", "/status/history", "/status/history", A::UseAccount, Public, T::None),
    r("get", "/status/uptime", "/status/uptime", A::UseAccount, Public, T::None),
    r("get", "/status/uptime/{component}", "/status/uptime/{component}", A::UseAccount, Public, T::None),
    r("get", "/history.atom", "/history.atom", A::UseAccount, Public, T::None),
    r("get", "/history.rss", "/history.rss", A::UseAccount, Public, T::None),
    r("get", "/status/maintenance.ics", "/status/maintenance.ics", A::UseAccount, Public, T::None),
    r("get", "/status/badge.svg", "/status/badge.svg", A::UseAccount, Public, T::None),
    r(
        "get",
        "/status/badge/{component}.svg",
        "/status/badge/{component}.svg",
        A::UseAccount,
        Public,
        T::None,
    ),
    r("get", "/status/subscribe", "/status/subscribe", A::UseAccount, Public, T::None),
    r(
        "post",
        "/status/subscribe",
        "/status/subscribe",
        A::UseAccount,
        Elsewhere("status::subscriptions_*"),
        T::None,
    ),
    r(
        "get",
        "/status/subscriptions/{token}",
        "/status/subscriptions/x",
        A::UseAccount,
        Elsewhere("status::subscriptions_*"),
        T::None,
    ),
    r(
        "post",
        "/status/subscriptions/{token}",
        "/status/subscriptions/x",
        A::UseAccount,
        Elsewhere("status::subscriptions_*"),
        T::None,
    ),
    r(
        "post",
        "/status/subscriptions/{token}/unsubscribe",
        "/status/subscriptions/x/unsubscribe",
        A::UseAccount,
        Elsewhere("status::subscriptions_* (one-click, RFC 8058: no CSRF by design)"),
        T::None,
    ),
    r(
        "post",
        "/api/v1/heartbeat/{token}",
        "/api/v1/heartbeat/x",
        A::UseAccount,
        Elsewhere("status::probes_* (token-authenticated API, no CSRF)"),
        T::None,
    ),
    r("post", "/admin/status/probes", "/admin/status/probes", A::ManageComponents, Internal, T::None),
    r(
        "post",
        "/admin/status/probes/{id}/delete",
        "/admin/status/probes/1/delete",
        A::ManageComponents,
        Elsewhere("status::probes_*"),
        T::None,
    ),
    r("get", "/api/status/health", "/api/status/health", A::UseAccount, Public, T::None),
    r("get", "/admin/status", "/admin/status", A::ViewStatusAdmin, Internal, T::None),
    r("post", "/admin/status/components", "/admin/status/components", A::ManageComponents, Internal, T::None),
    r(
        "post",
        "/admin/status/components/{id}/status",
        "/admin/status/components/{comp}/status",
        A::ManageComponents,
        Internal,
        T::None,
    ),
    r(
        "get",
        "/admin/status/incidents/new",
        "/admin/status/incidents/new",
        A::ManageIncidents,
        Internal,
        T::None,
    ),
    r("post", "/admin/status/incidents", "/admin/status/incidents", A::ManageIncidents, Internal, T::None),
    r(
        "get",
        "/admin/status/incidents/{id}",
        "/admin/status/incidents/{inc}",
        A::ViewStatusAdmin,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/status/incidents/{id}/updates",
        "/admin/status/incidents/{inc}/updates",
        A::PostIncidentUpdate,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/status/incidents/{id}/postmortem",
        "/admin/status/incidents/{inc}/postmortem",
        A::ManageIncidents,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/status/incidents/{id}/window",
        "/admin/status/incidents/{inc}/window",
        A::ManageIncidents,
        Internal,
        T::None,
    ),
    r("get", "/reliability", "/reliability", A::ViewReliability, SignedIn, T::None),
    r(
        "post",
        "/reliability/statements",
        "/reliability/statements",
        A::ViewReliability,
        Elsewhere("status::sla_statements_*"),
        T::None,
    ),
    r(
        "get",
        "/reliability/statements/{id}.pdf",
        "/reliability/statements/1.pdf",
        A::ViewReliability,
        Elsewhere("status::sla_statements_*"),
        T::None,
    ),
    r(
        "get",
        "/reliability/statements/{id}.csv",
        "/reliability/statements/1.csv",
        A::ViewReliability,
        Elsewhere("status::sla_statements_*"),
        T::None,
    ),
    r("get", "/billing", "/billing", A::ViewBilling, SignedIn, T::None),
    r("post", "/billing", "/billing", A::ManageBillingProfile, Elsewhere("billing::profiles_*"), T::None),
    r(
        "get",
        "/admin/tenants/{id}/billing",
        "/admin/tenants/{t}/billing",
        A::ViewTenants,
        Internal,
        T::Tenant,
    ),
    r(
        "get",
        "/admin/billing/settings",
        "/admin/billing/settings",
        A::ManageVendorSettings,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/billing/settings",
        "/admin/billing/settings",
        A::ManageVendorSettings,
        Internal,
        T::None,
    ),
    r(
        "get",
        "/admin/billing/settings/logo",
        "/admin/billing/settings/logo",
        A::ManageVendorSettings,
        Elsewhere("invoices::a_vendor_logo_*"),
        T::None,
    ),
    r(
        "post",
        "/admin/billing/settings/logo",
        "/admin/billing/settings/logo",
        A::ManageVendorSettings,
        Elsewhere("invoices::a_vendor_logo_*"),
        T::None,
    ),
    r("get", "/admin/invoices", "/admin/invoices", A::ViewTenants, Internal, T::None),
    r("post", "/admin/invoices", "/admin/invoices", A::ManageInvoices, Internal, T::None),
    r("get", "/admin/invoices/{id}", "/admin/invoices/{invoice}", A::ViewTenants, Internal, T::None),
    r(
        "post",
        "/admin/invoices/{id}/lines",
        "/admin/invoices/{invoice}/lines",
        A::ManageInvoices,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/invoices/{id}/lines/{line}/delete",
        "/admin/invoices/1/lines/1/delete",
        A::ManageInvoices,
        Elsewhere("billing::invoice_pages_*"),
        T::None,
    ),
    r(
        "post",
        "/admin/invoices/{id}/issue",
        "/admin/invoices/{invoice}/issue",
        A::ManageInvoices,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/invoices/{id}/paid",
        "/admin/invoices/{invoice}/paid",
        A::ManageInvoices,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/invoices/{id}/unpaid",
        "/admin/invoices/{invoice}/unpaid",
        A::ManageInvoices,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/invoices/{id}/details",
        "/admin/invoices/{invoice}/details",
        A::ManageInvoices,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/invoices/{id}/void",
        "/admin/invoices/{invoice}/void",
        A::ManageInvoices,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/invoices/{id}/delete",
        "/admin/invoices/1/delete",
        A::ManageInvoices,
        Elsewhere("invoices::drafts_take_details_*"),
        T::None,
    ),
    r("get", "/billing/invoices", "/billing/invoices", A::ViewBilling, SignedIn, T::None),
    r("get", "/help", "/help", A::UseAccount, SignedIn, T::None),
    r("get", "/notifications", "/notifications", A::UseAccount, SignedIn, T::None),
    r("post", "/notifications/read", "/notifications/read", A::UseAccount, SignedIn, T::None),
    r("get", "/usage", "/usage?tenant={t}", A::ViewUsage, SignedIn, T::Tenant),
    r("get", "/usage/caps", "/usage/caps?tenant={t}", A::ManageCaps, SignedIn, T::Tenant),
    r("get", "/district/rollups", "/district/rollups", A::ViewUsage, SignedIn, T::None),
    r("post", "/usage/caps", "/usage/caps", A::ManageCaps, Elsewhere("usage::caps_*"), T::None),
    r(
        "get",
        "/admin/usage",
        "/admin/usage",
        A::UseAccount,
        Elsewhere("a redirect to /admin/usage/metrics"),
        T::None,
    ),
    r("get", "/admin/usage/metrics", "/admin/usage/metrics", A::ViewMetering, Internal, T::None),
    r("get", "/admin/usage/plans", "/admin/usage/plans", A::ViewMetering, Internal, T::None),
    r("post", "/admin/usage/plans", "/admin/usage/plans", A::ManageMetering, Internal, T::None),
    r("post", "/usage/plan", "/usage/plan", A::ManageMetering, Elsewhere("usage::plans_*"), T::None),
    r("post", "/admin/usage/metrics", "/admin/usage/metrics", A::ManageMetering, Internal, T::None),
    r("get", "/admin/usage/keys", "/admin/usage/keys", A::ViewMetering, Internal, T::None),
    r("post", "/admin/usage/keys", "/admin/usage/keys", A::ManageMetering, Internal, T::None),
    r(
        "post",
        "/admin/usage/keys/{id}/revoke",
        "/admin/usage/keys/1/revoke",
        A::ManageMetering,
        Internal,
        T::None,
    ),
    r("get", "/admin/usage/rejected", "/admin/usage/rejected", A::ViewMetering, Internal, T::None),
    r(
        "post",
        "/admin/usage/rejected/resubmit",
        "/admin/usage/rejected/resubmit",
        A::ManageMetering,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/api/v1/events",
        "/api/v1/events",
        A::UseAccount,
        Elsewhere("usage::events_* (ingest-key API, no CSRF)"),
        T::None,
    ),
    r(
        "post",
        "/api/v1/entitlements/check",
        "/api/v1/entitlements/check",
        A::UseAccount,
        Elsewhere("usage::entitlements_* (ingest-key API, no CSRF)"),
        T::None,
    ),
    r("get", "/help/{name}", "/help/procurement-quick-start", A::UseAccount, SignedIn, T::None),
    r("get", "/help/img/{file}", "/help/img/procurement-profile.png", A::UseAccount, SignedIn, T::None),
    r(
        "post",
        "/billing/po-documents",
        "/billing/po-documents",
        A::ManageBillingProfile,
        Elsewhere("invoices::po_documents_*"),
        T::None,
    ),
    r(
        "get",
        "/billing/po-documents/{id}.pdf",
        "/billing/po-documents/1.pdf",
        A::ViewBilling,
        Elsewhere("invoices::po_documents_*"),
        T::None,
    ),
    r(
        "get",
        "/billing/invoices/{id}.pdf",
        "/billing/invoices/1.pdf",
        A::ViewBilling,
        Elsewhere("billing::invoice_pages_*"),
        T::None,
    ),
    r(
        "post",
        "/billing/contacts",
        "/billing/contacts",
        A::ManageBillingProfile,
        Elsewhere("billing::contacts_*"),
        T::None,
    ),
    r(
        "post",
        "/billing/contacts/{id}/delete",
        "/billing/contacts/1/delete",
        A::ManageBillingProfile,
        Elsewhere("billing::contacts_*"),
        T::None,
    ),
    r(
        "get",
        "/billing/contacts/verify/{token}",
        "/billing/contacts/verify/x",
        A::UseAccount,
        Elsewhere("billing::contacts_*"),
        T::None,
    ),
    r(
        "post",
        "/billing/contacts/verify/{token}",
        "/billing/contacts/verify/x",
        A::UseAccount,
        Elsewhere("billing::contacts_*"),
        T::None,
    ),
    r("get", "/district/schools", "/district/schools", A::ViewSchools, SignedIn, T::None),
    r("get", "/district/members", "/district/members", A::ViewMembers, SignedIn, T::None),
    r("get", "/district/members", "/district/members?tenant={t}", A::ViewMembers, SignedIn, T::Tenant),
    r("post", "/district/members/invite", "/district/members/invite", A::ManageMembers, SignedIn, T::None),
    r(
        "post",
        "/district/members/{id}/role",
        "/district/members/{m}/role",
        A::ManageMembers,
        SignedIn,
        T::Membership,
    ),
    r(
        "post",
        "/district/members/{id}/remove",
        "/district/members/{m}/remove",
        A::ManageMembers,
        SignedIn,
        T::Membership,
    ),
    r("get", "/admin/support/tiers", "/admin/support/tiers", A::WorkSupportQueue, Internal, T::None),
    r("post", "/admin/support/tiers", "/admin/support/tiers", A::ManageSla, Internal, T::None),
    r("get", "/admin/support/tiers/{id}", "/admin/support/tiers/1", A::WorkSupportQueue, Internal, T::None),
    r("post", "/admin/support/tiers/{id}", "/admin/support/tiers/1", A::ManageSla, Internal, T::None),
    r(
        "post",
        "/admin/support/tiers/{id}/holidays",
        "/admin/support/tiers/1/holidays",
        A::ManageSla,
        Internal,
        T::None,
    ),
    r(
        "post",
        "/admin/support/tiers/{id}/holidays/{hid}/delete",
        "/admin/support/tiers/1/holidays/1/delete",
        A::ManageSla,
        Elsewhere("support::tiers_*"),
        T::None,
    ),
    r("post", "/admin/tenants/{id}/tier", "/admin/tenants/{t}/tier", A::ManageSla, Internal, T::None),
    r("get", "/support", "/support?tenant={t}", A::UseSupport, SignedIn, T::Tenant),
    r("get", "/support/new", "/support/new?tenant={t}", A::UseSupport, SignedIn, T::Tenant),
    r(
        "post",
        "/support/new",
        "/support/new",
        A::UseSupport,
        Elsewhere("support::requests_* (multipart)"),
        T::None,
    ),
    r("get", "/support/requests", "/support/requests", A::UseSupport, SignedIn, T::None),
    r(
        "get",
        "/support/requests/{id}",
        "/support/requests/1",
        A::UseSupport,
        Elsewhere("support::requests_*"),
        T::None,
    ),
    r(
        "post",
        "/support/requests/{id}/reply",
        "/support/requests/1/reply",
        A::UseSupport,
        Elsewhere("support::requests_*"),
        T::None,
    ),
    r(
        "get",
        "/support/requests/{id}/attachment",
        "/support/requests/1/attachment",
        A::UseSupport,
        Elsewhere("support::requests_*"),
        T::None,
    ),
    r("get", "/admin/support", "/admin/support", A::WorkSupportQueue, Internal, T::None),
    r("get", "/admin/support/report", "/admin/support/report", A::WorkSupportQueue, Internal, T::None),
    r(
        "get",
        "/admin/support/requests/{id}",
        "/admin/support/requests/1",
        A::WorkSupportQueue,
        Elsewhere("support::queue_*"),
        T::None,
    ),
    r(
        "post",
        "/admin/support/requests/{id}/assign",
        "/admin/support/requests/1/assign",
        A::WorkSupportQueue,
        Elsewhere("support::queue_*"),
        T::None,
    ),
    r(
        "post",
        "/admin/support/requests/{id}/message",
        "/admin/support/requests/1/message",
        A::WorkSupportQueue,
        Elsewhere("support::queue_*"),
        T::None,
    ),
    r(
        "post",
        "/admin/support/requests/{id}/status",
        "/admin/support/requests/1/status",
        A::WorkSupportQueue,
        Elsewhere("support::queue_*"),
        T::None,
    ),
    // Claims are per invoiced tenant (districts, stand-alone schools); cross-tenant: support::credits_*.
    r("get", "/support/sla-credits", "/support/sla-credits", A::ViewBilling, SignedIn, T::None),
    r(
        "post",
        "/support/sla-credits",
        "/support/sla-credits",
        A::ClaimCredits,
        Elsewhere("support::credits_*"),
        T::None,
    ),
    r("get", "/admin/sla-credits", "/admin/sla-credits", A::WorkSupportQueue, Internal, T::None),
    r(
        "get",
        "/admin/sla-credits/{id}",
        "/admin/sla-credits/1",
        A::WorkSupportQueue,
        Elsewhere("support::credits_*"),
        T::None,
    ),
    r(
        "post",
        "/admin/sla-credits/{id}/approve",
        "/admin/sla-credits/1/approve",
        A::ManageSla,
        Elsewhere("support::credits_*"),
        T::None,
    ),
    r(
        "post",
        "/admin/sla-credits/{id}/reject",
        "/admin/sla-credits/1/reject",
        A::ManageSla,
        Elsewhere("support::credits_*"),
        T::None,
    ),
    r("get", "/support/disputes", "/support/disputes", A::ViewBilling, SignedIn, T::None),
    r(
        "get",
        "/support/disputes/new",
        "/support/disputes/new",
        A::ClaimCredits,
        Elsewhere("support::disputes_*"),
        T::None,
    ),
    r(
        "post",
        "/support/disputes/new",
        "/support/disputes/new",
        A::ClaimCredits,
        Elsewhere("support::disputes_*"),
        T::None,
    ),
    r(
        "get",
        "/support/disputes/{id}/document",
        "/support/disputes/1/document",
        A::ViewBilling,
        Elsewhere("support::disputes_*"),
        T::None,
    ),
    r("get", "/admin/disputes", "/admin/disputes", A::WorkSupportQueue, Internal, T::None),
    r("get", "/support/suspended", "/support/suspended", A::UseAccount, Public, T::None),
    r(
        "post",
        "/support/suspended",
        "/support/suspended",
        A::UseAccount,
        Elsewhere("support::suspended_* (a signed pass, no session)"),
        T::None,
    ),
    r(
        "get",
        "/admin/disputes/{id}",
        "/admin/disputes/1",
        A::WorkSupportQueue,
        Elsewhere("support::disputes_*"),
        T::None,
    ),
    r(
        "post",
        "/admin/disputes/{id}/resolve",
        "/admin/disputes/1/resolve",
        A::ManageSla,
        Elsewhere("support::disputes_*"),
        T::None,
    ),
];

/// Routes mounted in a loop (not as `.route("PATH", ...)` literals); tested in `status::v2_*`.
pub(crate) const LOOP_MOUNTED: &[&str] = &[
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
];

/// Every `.route("PATH", web::METHOD()` in the source.
pub(crate) fn mounted_routes() -> BTreeSet<(String, String)> {
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let src = std::fs::read_to_string(&p).unwrap();
                let mut rest = src.as_str();
                while let Some(i) = rest.find(".route(\"") {
                    rest = &rest[i + 8..];
                    let Some(end) = rest.find('"') else { break };
                    let path = rest[..end].to_string();
                    let after = &rest[end..];
                    let method = ["get", "post", "put", "delete", "patch"].into_iter().find(|m| {
                        after
                            .trim_start_matches(['"', ',', ' ', '\n'])
                            .trim_start_matches("a")
                            .starts_with(&format!("web::{m}()"))
                    });
                    out.insert((method.unwrap_or("?").to_string(), path));
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(std::path::Path::new("src"), &mut out);
    // The v2 API is mounted in a loop over its paths; check the loop's list instead.
    let api = std::fs::read_to_string("src/status/api.rs").unwrap();
    for p in LOOP_MOUNTED {
        assert!(api.contains(&format!("(\"{p}\", Which::")), "{p} not mounted");
    }
    out.remove(&("?".to_string(), "/api/status/health".to_string()));
    out
}

#[test]
fn every_mounted_route_is_in_the_matrix() {
    let mounted = mounted_routes();
    assert!(mounted.len() > 30, "parsed {} routes", mounted.len());
    let listed: BTreeSet<(String, String)> =
        ROUTES.iter().map(|r| (r.method.to_string(), r.pattern.to_string())).collect();
    let missing: Vec<_> = mounted.difference(&listed).collect();
    assert!(missing.is_empty(), "routes missing from the permission matrix: {missing:?}");
    let stale: Vec<_> = listed.difference(&mounted).collect();
    assert!(stale.is_empty(), "matrix lists routes that are not mounted: {stale:?}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Own,
    LinkedSchool,
    OtherDistrict,
}

struct Fixture {
    d1: i64,
    s1: i64,
    s2: i64,
    d2: i64,
    s3: i64,
    job: i64,
    email: i64,
    user: i64,
    comp: i64,
    comp_public: String,
    inc: i64,
    code: String,
    invoice: i64,
}

/// Fills a route's placeholders.
fn fill(path: &str, f: &Fixture, tenant: i64, membership: i64) -> String {
    path.replace("{t}", &tenant.to_string())
        .replace("{m}", &membership.to_string())
        .replace("{job}", &f.job.to_string())
        .replace("{email}", &f.email.to_string())
        .replace("{user}", &f.user.to_string())
        .replace("{comp}", &f.comp.to_string())
        .replace("{component}", &f.comp_public)
        .replace("{inc}", &f.inc.to_string())
        .replace("{code}", &f.code)
        .replace("{invoice}", &f.invoice.to_string())
}

async fn fixture(app: &TestApp) -> Fixture {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let s1 = app.tenant("school", Some(d1), "Lincoln High School");
    let s2 = app.tenant("school", Some(d1), "Roper Elementary");
    let d2 = app.tenant("district", None, "Riverside Unified");
    let s3 = app.tenant("school", Some(d2), "Arlington High");
    let now = keel::db::now_micros(app.state.now());
    let mut conn = app.conn();
    let job = keel::jobs::store::enqueue(
        &mut conn,
        &keel::jobs::NewJob::new("jobs.purge", serde_json::json!({})),
        now,
    )
    .unwrap()
    .unwrap();
    let email = keel::db::write_tx(&mut conn, |c| {
        keel::notify::queue(
            c,
            &keel::notify::Email {
                to: "x@y.example".into(),
                subject: "s".into(),
                text: "t".into(),
                html: None,
                headers: vec![],
                dedupe_key: None,
            },
            now,
        )
    })
    .unwrap()
    .unwrap();
    drop(conn);
    let (e, _) = app.user(Role::Staff, Some(s3));
    let user = keel::auth::store::user_by_email(&mut app.conn(), &e).unwrap().unwrap().id;
    let (comp, comp_public, inc, code) = {
        let mut c = app.conn();
        keel::db::write_tx(&mut c, |c| {
            let comp = keel::status::store::insert_component(
                c,
                &keel::status::model::NewComponent {
                    public_id: "webapp000001".into(),
                    name: "Web app".into(),
                    description: String::new(),
                    group_id: None,
                    is_group: false,
                    position: 0,
                    showcase: true,
                    only_show_if_degraded: false,
                    start_date: Some(now),
                    status: "operational".into(),
                    created_at: now,
                    updated_at: now,
                },
            )?;
            let inc = keel::status::service::create(
                c,
                &keel::audit::Actor::system("test"),
                &keel::status::service::NewIncident {
                    kind: "incident",
                    name: "Slow uploads".into(),
                    impact: "minor".into(),
                    status: "investigating".into(),
                    body: "Looking".into(),
                    components: vec![(comp, "degraded_performance".into())],
                    started_at: Some(now),
                    scheduled_for: None,
                    scheduled_until: None,
                    published: true,
                },
                now,
            )?;
            Ok::<_, diesel::result::Error>((comp, "webapp000001".to_string(), inc.id, inc.code))
        })
        .unwrap()
    };
    keel::status::refresh(&app.state).await.unwrap();
    let invoice = {
        let p = keel::billing::model::BillingProfile::empty(d1, "USD", 30, now);
        keel::db::write_tx(&mut app.conn(), |c| {
            keel::billing::invoice::create_draft(c, &keel::audit::Actor::system("test"), d1, &p, now)
        })
        .unwrap()
    };
    Fixture { d1, s1, s2, d2, s3, job, email, user, comp, comp_public, inc, code, invoice }
}

/// A fresh staff membership in `tenant` (so removing it cannot disturb other cases).
fn membership_in(app: &TestApp, tenant: i64) -> i64 {
    let (e, _) = app.user(Role::Staff, Some(tenant));
    let mut conn = app.conn();
    let u = keel::auth::store::user_by_email(&mut conn, &e).unwrap().unwrap();
    keel::auth::store::memberships_of(&mut conn, u.id).unwrap()[0].membership.id
}

fn home_tenant(f: &Fixture, role: Role) -> Option<i64> {
    if role.is_internal() {
        None
    } else if role.is_district_role() {
        Some(f.d1)
    } else {
        Some(f.s1)
    }
}

fn target_tenant(f: &Fixture, role: Role, rel: Rel) -> i64 {
    match rel {
        Rel::Own => home_tenant(f, role).unwrap_or(f.d1),
        Rel::LinkedSchool => f.s2,
        Rel::OtherDistrict => {
            if role.is_district_role() {
                f.d2
            } else {
                f.s3
            }
        }
    }
}

/// What the permission table says.
fn expected_allowed(route: &RouteCase, role: Role, rel: Option<Rel>) -> bool {
    if route.audience == Internal && !role.is_internal() {
        return false;
    }
    if !allowed(role, route.action) {
        return false;
    }
    match rel {
        None => true,
        Some(_) if role.is_internal() => true,
        Some(Rel::Own) => true,
        Some(Rel::LinkedSchool) => role.is_district_role(),
        Some(Rel::OtherDistrict) => false,
    }
}

async fn request(c: &Client, route: &RouteCase, path: &str) -> crate::harness::Resp {
    if route.method == "get" { c.get(path).await } else { c.post(path, &[]).await }
}

async fn run_matrix(backend: Backend) {
    let Some(app) = TestApp::new(backend) else { return };
    let f = fixture(&app).await;
    let mut cases = 0usize;
    // Anonymous.
    let anon = app.client().await;
    for route in ROUTES {
        if matches!(route.audience, Elsewhere(_)) {
            continue;
        }
        let path = fill(route.path, &f, f.d1, membership_in(&app, f.s1));
        let r = request(&anon, route, &path).await;
        cases += 1;
        if route.audience == Public {
            assert!(
                r.status.is_success() || r.status.is_redirection(),
                "anonymous {} {path}: {}",
                route.method,
                r.status
            );
        } else {
            assert_eq!(r.status, StatusCode::SEE_OTHER, "anonymous {} {path}", route.method);
            assert!(
                r.location().starts_with("/login"),
                "anonymous {} {path} -> {}",
                route.method,
                r.location()
            );
        }
    }
    for role in Role::ALL {
        let c = app.signed_in(role, home_tenant(&f, role)).await;
        for route in ROUTES {
            if matches!(route.audience, Elsewhere(_) | Public) {
                continue;
            }
            let rels: Vec<Option<Rel>> = if route.target == T::None {
                vec![None]
            } else {
                vec![Some(Rel::Own), Some(Rel::LinkedSchool), Some(Rel::OtherDistrict)]
            };
            for rel in rels {
                let tenant = rel.map(|rel| target_tenant(&f, role, rel)).unwrap_or(f.d1);
                let m = if route.target == T::Membership { membership_in(&app, tenant) } else { 0 };
                let path = fill(route.path, &f, tenant, m);
                let r = request(&c, route, &path).await;
                cases += 1;
                let want = expected_allowed(route, role, rel);
                if want {
                    assert!(
                        r.status != StatusCode::NOT_FOUND
                            && r.status != StatusCode::FORBIDDEN
                            && !r.status.is_server_error(),
                        "{role:?} {rel:?} {} {path}: expected allowed, got {}\n{}",
                        route.method,
                        r.status,
                        &r.body[..r.body.len().min(400)]
                    );
                } else {
                    assert_eq!(
                        r.status,
                        StatusCode::NOT_FOUND,
                        "{role:?} {rel:?} {} {path}: expected 404",
                        route.method
                    );
                    assert!(
                        !r.body.contains(&format!("/{tenant}/")) || tenant == 0,
                        "a 404 never echoes the id"
                    );
                }
            }
        }
        let _ = f.s3;
    }
    println!("route matrix ({backend:?}): {cases} cases over {} routes and 8 principals", ROUTES.len());
}

#[actix_web::test]
async fn route_role_tenant_matrix_sqlite() {
    run_matrix(Backend::Sqlite).await;
}

#[actix_web::test]
async fn route_role_tenant_matrix_postgres() {
    run_matrix(Backend::Postgres).await;
}

/// Every unsafe route refuses a missing or wrong CSRF token and a cross-site origin.
async fn csrf_everywhere(backend: Backend) {
    let Some(app) = TestApp::new(backend) else { return };
    let f = fixture(&app).await;
    let c = app.signed_in(Role::PlatformAdmin, None).await;
    let good = c.csrf.borrow().clone();
    let mut n = 0;
    // RFC 8058 one-click unsubscribe is posted by mail clients: the secret link is its authenticator.
    // Token-authenticated API routes are exempt from CSRF by design.
    // CSP violation reports are posted by the browser itself and change nothing but a counter.
    for route in ROUTES.iter().filter(|r| {
        r.method == "post"
            && !r.pattern.ends_with("/unsubscribe")
            && !r.pattern.starts_with("/api/")
            && r.pattern != "/csp-report"
    }) {
        let path = fill(route.path, &f, f.d1, membership_in(&app, f.s1));
        for token in ["", "0000000000000000000000000000000000000000000000000000000000000000"] {
            let r = c.post(&path, &[("csrf_token", token)]).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "POST {path} with token {token:?}");
        }
        let form = [("csrf_token", good.as_str())];
        let r = c
            .send(
                actix_web::test::TestRequest::post()
                    .uri(&path)
                    .insert_header(("origin", "https://evil.example"))
                    .set_form(form),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "POST {path} from another origin");
        let r = c
            .send(
                actix_web::test::TestRequest::post()
                    .uri(&path)
                    .insert_header(("sec-fetch-site", "cross-site"))
                    .set_form(form),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "POST {path} cross-site");
        n += 4;
    }
    assert_eq!(c.get("/account").await.status, StatusCode::OK, "still signed in: nothing was done");
    println!("CSRF refusals ({backend:?}): {n} cases");
}

#[actix_web::test]
async fn every_unsafe_route_checks_csrf_and_origin_sqlite() {
    csrf_everywhere(Backend::Sqlite).await;
}

#[actix_web::test]
async fn every_unsafe_route_checks_csrf_and_origin_postgres() {
    csrf_everywhere(Backend::Postgres).await;
}
