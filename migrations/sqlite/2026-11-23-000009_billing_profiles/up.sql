-- The vendor's own invoicing details (one row).
CREATE TABLE vendor_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    legal_name TEXT NOT NULL,
    address TEXT NOT NULL,
    tax_id TEXT NOT NULL DEFAULT '',
    remit_to TEXT NOT NULL,
    invoice_footer TEXT NOT NULL DEFAULT '',
    default_currency TEXT NOT NULL DEFAULT 'USD',
    default_terms_days INTEGER NOT NULL DEFAULT 30,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO vendor_settings (id, legal_name, address, remit_to, updated_at)
VALUES (1, 'Your company, Inc.', 'Street, City, State ZIP, Country', 'Bank name, account and routing number', CURRENT_TIMESTAMP);

-- How a district (or stand-alone school) buys: card or invoice with a purchase order.
CREATE TABLE billing_profiles (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants (id),
    mode TEXT NOT NULL DEFAULT 'invoice_po' CHECK (mode IN ('card', 'invoice_po')),
    po_number TEXT,
    po_amount_minor BIGINT,
    po_expires DATE,
    address_line1 TEXT NOT NULL DEFAULT '',
    address_line2 TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    postal_code TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT 'US',
    tax_id TEXT NOT NULL DEFAULT '',
    tax_exempt_note TEXT NOT NULL DEFAULT '',
    currency TEXT NOT NULL DEFAULT 'USD',
    terms_days INTEGER NOT NULL DEFAULT 30,
    renewal_date DATE,
    schedule TEXT NOT NULL DEFAULT 'annual' CHECK (schedule IN ('annual', 'semi_annual')),
    cost_centre TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMP NOT NULL
);
