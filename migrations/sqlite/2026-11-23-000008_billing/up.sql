-- Per-tenant, per-year invoice counters: locked inside the issuing transaction (gapless).
CREATE TABLE invoice_counters (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    year INTEGER NOT NULL,
    last_number BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, year)
);

-- Invoices: drafts are editable; issuing assigns the number and freezes the invoice.
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    number TEXT UNIQUE,
    status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'issued', 'paid', 'void')),
    currency TEXT NOT NULL,
    issue_date DATE,
    due_date DATE,
    po_number TEXT,
    notes TEXT NOT NULL DEFAULT '',
    tax_rate_bp INTEGER NOT NULL DEFAULT 0,
    subtotal_minor BIGINT NOT NULL DEFAULT 0,
    tax_minor BIGINT NOT NULL DEFAULT 0,
    total_minor BIGINT NOT NULL DEFAULT 0,
    pdf_sha256 TEXT,
    issued_at TIMESTAMP,
    paid_at TIMESTAMP,
    paid_method TEXT,
    paid_reference TEXT,
    voided_at TIMESTAMP,
    void_reason TEXT,
    created_by BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX invoices_tenant ON invoices (tenant_id, status);

CREATE TABLE invoice_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('license', 'add_on', 'service', 'credit')),
    quantity TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    amount_minor BIGINT NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id, position);
