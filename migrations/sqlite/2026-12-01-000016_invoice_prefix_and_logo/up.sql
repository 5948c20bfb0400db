-- An optional prefix before every invoice number (e.g. BW -> BW-LINCOLN-2026-0007).
ALTER TABLE vendor_settings ADD COLUMN number_prefix TEXT NOT NULL DEFAULT '';

-- The vendor's logo on invoices (stored by SHA-256 in the object store).
ALTER TABLE vendor_settings ADD COLUMN logo_sha256 TEXT;
