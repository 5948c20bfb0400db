-- What an issued invoice's PDF showed of the profile, vendor and contacts, so a voided copy
-- is the same document with a VOID stamp even after those details change.
ALTER TABLE invoices ADD COLUMN issue_snapshot TEXT;

-- Renewals already prepared (one per tenant and renewal date, even if the draft is deleted).
CREATE TABLE renewals (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    renewal_date DATE NOT NULL,
    invoice_id BIGINT NOT NULL,
    prepared_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, renewal_date)
);
