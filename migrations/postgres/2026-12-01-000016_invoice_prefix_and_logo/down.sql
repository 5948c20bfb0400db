ALTER TABLE vendor_settings DROP COLUMN logo_sha256;
ALTER TABLE vendor_settings DROP COLUMN number_prefix;
