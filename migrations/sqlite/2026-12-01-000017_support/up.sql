-- SLA tiers: what a tenant is promised (response and resolution targets per severity on a
-- business calendar, contact methods, a monthly uptime commitment with a credit schedule).
CREATE TABLE sla_tiers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    support_email TEXT NOT NULL DEFAULT '',
    support_phone TEXT NOT NULL DEFAULT '',
    routing_email TEXT NOT NULL DEFAULT '',
    time_zone TEXT NOT NULL DEFAULT 'America/Chicago',
    working_days TEXT NOT NULL DEFAULT 'Mon-Fri',
    opens TEXT NOT NULL DEFAULT '08:00',
    closes TEXT NOT NULL DEFAULT '18:00',
    uptime_commitment TEXT NOT NULL DEFAULT '',
    credit_schedule TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Per tier and severity: first-response and resolution targets (amount and unit; NULL: none).
CREATE TABLE sla_targets (
    tier_id BIGINT NOT NULL REFERENCES sla_tiers (id) ON DELETE CASCADE,
    severity TEXT NOT NULL CHECK (severity IN ('P1', 'P2', 'P3', 'P4')),
    response_amount INTEGER,
    response_unit TEXT NOT NULL DEFAULT 'business_hours'
        CHECK (response_unit IN ('calendar_hours', 'business_hours', 'business_days')),
    resolution_amount INTEGER,
    resolution_unit TEXT NOT NULL DEFAULT 'business_days'
        CHECK (resolution_unit IN ('calendar_hours', 'business_hours', 'business_days')),
    PRIMARY KEY (tier_id, severity)
);

-- Days nobody works on a tier's calendar.
CREATE TABLE sla_holidays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tier_id BIGINT NOT NULL REFERENCES sla_tiers (id) ON DELETE CASCADE,
    day DATE NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    UNIQUE (tier_id, day)
);

-- A tenant's tier (a school without one inherits its district's).
ALTER TABLE tenants ADD COLUMN sla_tier_id BIGINT;

-- Support requests filed in Keel, with the targets they were given when filed.
CREATE TABLE support_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    requester_id BIGINT NOT NULL REFERENCES users (id),
    tier_id BIGINT REFERENCES sla_tiers (id),
    category TEXT NOT NULL CHECK (category IN ('login', 'recording', 'reporting', 'billing', 'other')),
    severity TEXT NOT NULL CHECK (severity IN ('P1', 'P2', 'P3', 'P4')),
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'open', 'waiting_on_customer', 'resolved', 'closed')),
    assignee_id BIGINT REFERENCES users (id),
    response_due_at TIMESTAMP,
    resolution_due_at TIMESTAMP,
    first_response_at TIMESTAMP,
    resolved_at TIMESTAMP,
    metadata TEXT NOT NULL DEFAULT '{}',
    attachment_sha256 TEXT,
    attachment_name TEXT,
    attachment_type TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX support_requests_queue ON support_requests (status, response_due_at);
CREATE INDEX support_requests_tenant ON support_requests (tenant_id, created_at);

-- The conversation: replies to the requester, the tenant's follow-ups, internal notes.
CREATE TABLE support_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id BIGINT NOT NULL REFERENCES support_requests (id),
    author_id BIGINT REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'note', 'customer')),
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX support_messages_request ON support_messages (request_id, id);

-- SLA credit claims for a month whose measured uptime fell short of the commitment.
CREATE TABLE sla_credit_claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    month TEXT NOT NULL,
    claimant_id BIGINT NOT NULL REFERENCES users (id),
    description TEXT NOT NULL,
    affected_dates TEXT NOT NULL DEFAULT '',
    measured_uptime TEXT NOT NULL,
    commitment TEXT NOT NULL,
    credit_percent INTEGER NOT NULL,
    currency TEXT NOT NULL,
    fee_minor BIGINT,
    computed_minor BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'rejected')),
    approved_minor BIGINT,
    decision_reason TEXT NOT NULL DEFAULT '',
    decided_by BIGINT REFERENCES users (id),
    decided_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX sla_credit_claims_month ON sla_credit_claims (tenant_id, month) WHERE status <> 'rejected';

-- Disputes of issued invoices.
CREATE TABLE invoice_disputes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    opened_by BIGINT NOT NULL REFERENCES users (id),
    category TEXT NOT NULL CHECK (category IN ('amount', 'duplicate', 'not_received', 'po_mismatch', 'other')),
    description TEXT NOT NULL,
    document_sha256 TEXT,
    document_name TEXT,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected')),
    outcome TEXT NOT NULL DEFAULT '',
    resolution_reason TEXT NOT NULL DEFAULT '',
    resolved_by BIGINT REFERENCES users (id),
    resolved_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Set while an invoice has an open dispute (shown as "Disputed"; reminders pause).
ALTER TABLE invoices ADD COLUMN disputed_at TIMESTAMP;
CREATE UNIQUE INDEX invoice_disputes_open ON invoice_disputes (invoice_id) WHERE status = 'open';
CREATE INDEX invoice_disputes_tenant ON invoice_disputes (tenant_id, created_at);

-- Credits owed to a tenant (an approved SLA claim, an accepted dispute): each lands once, as a
-- negative line on the tenant's next draft invoice.
CREATE TABLE account_credits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    source TEXT NOT NULL CHECK (source IN ('sla_claim', 'dispute')),
    source_id BIGINT NOT NULL,
    description TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    invoice_id BIGINT REFERENCES invoices (id),
    line_id BIGINT,
    applied_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (source, source_id)
);
CREATE INDEX account_credits_pending ON account_credits (tenant_id, applied_at);

-- The three standard tiers (internal admins may change them and add more).
INSERT INTO sla_tiers (key, name, position, time_zone, working_days, opens, closes, uptime_commitment, credit_schedule, created_at, updated_at) VALUES
    ('none', 'None', 0, 'America/Chicago', 'Mon-Fri', '08:00', '18:00', '', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('standard', 'Standard', 1, 'America/Chicago', 'Mon-Fri', '08:00', '18:00', '99.5', '[{"below":"99.5","credit":10},{"below":"99.0","credit":25},{"below":"95.0","credit":50}]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('enterprise', 'Enterprise', 2, 'America/Chicago', 'Mon-Fri', '08:00', '18:00', '99.9', '[{"below":"99.9","credit":10},{"below":"99.0","credit":25},{"below":"95.0","credit":50}]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
INSERT INTO sla_targets (tier_id, severity, response_amount, response_unit, resolution_amount, resolution_unit)
    SELECT id, 'P1', 4, 'business_hours', 2, 'business_days' FROM sla_tiers WHERE key = 'standard';
INSERT INTO sla_targets (tier_id, severity, response_amount, response_unit, resolution_amount, resolution_unit)
    SELECT id, 'P2', 1, 'business_days', 5, 'business_days' FROM sla_tiers WHERE key = 'standard';
INSERT INTO sla_targets (tier_id, severity, response_amount, response_unit, resolution_amount, resolution_unit)
    SELECT id, 'P3', 2, 'business_days', 10, 'business_days' FROM sla_tiers WHERE key = 'standard';
INSERT INTO sla_targets (tier_id, severity, response_amount, response_unit, resolution_amount, resolution_unit)
    SELECT id, 'P4', 5, 'business_days', NULL, 'business_days' FROM sla_tiers WHERE key = 'standard';
INSERT INTO sla_targets (tier_id, severity, response_amount, response_unit, resolution_amount, resolution_unit)
    SELECT id, 'P1', 1, 'calendar_hours', 8, 'calendar_hours' FROM sla_tiers WHERE key = 'enterprise';
INSERT INTO sla_targets (tier_id, severity, response_amount, response_unit, resolution_amount, resolution_unit)
    SELECT id, 'P2', 4, 'business_hours', 2, 'business_days' FROM sla_tiers WHERE key = 'enterprise';
INSERT INTO sla_targets (tier_id, severity, response_amount, response_unit, resolution_amount, resolution_unit)
    SELECT id, 'P3', 1, 'business_days', 5, 'business_days' FROM sla_tiers WHERE key = 'enterprise';
INSERT INTO sla_targets (tier_id, severity, response_amount, response_unit, resolution_amount, resolution_unit)
    SELECT id, 'P4', 3, 'business_days', 10, 'business_days' FROM sla_tiers WHERE key = 'enterprise';
