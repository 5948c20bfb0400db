-- Signed purchase orders uploaded by a tenant (PDF, stored by SHA-256 in the object store).
CREATE TABLE po_documents (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    po_number TEXT NOT NULL,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    uploaded_by BIGINT,
    uploaded_at TIMESTAMP NOT NULL
);
CREATE INDEX po_documents_tenant ON po_documents (tenant_id, po_number);

-- Voiding renders a stamped copy once (the issued PDF stays stored, unchanged);
-- a correction points at the invoice it replaces; a renewal draft names its term start.
ALTER TABLE invoices ADD COLUMN void_pdf_sha256 TEXT;
ALTER TABLE invoices ADD COLUMN replaces_id BIGINT;
ALTER TABLE invoices ADD COLUMN renewal_for DATE;
CREATE UNIQUE INDEX invoices_renewal ON invoices (tenant_id, renewal_for);

-- How many days before a renewal date its draft invoice is prepared.
ALTER TABLE vendor_settings ADD COLUMN renewal_lead_days INTEGER NOT NULL DEFAULT 60;
