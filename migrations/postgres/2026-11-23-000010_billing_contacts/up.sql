-- Billing contacts of a tenant; an address receives invoices only once verified.
CREATE TABLE billing_contacts (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL CHECK (role IN ('accounts_payable', 'procurement', 'other')),
    verified_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, email)
);

-- Emails may carry one stored file (an invoice PDF), attached when sent.
ALTER TABLE outbound_emails ADD COLUMN attachment_sha256 TEXT;
ALTER TABLE outbound_emails ADD COLUMN attachment_name TEXT;
