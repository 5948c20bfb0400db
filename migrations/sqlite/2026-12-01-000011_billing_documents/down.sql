ALTER TABLE vendor_settings DROP COLUMN renewal_lead_days;
DROP INDEX invoices_renewal;
ALTER TABLE invoices DROP COLUMN renewal_for;
ALTER TABLE invoices DROP COLUMN replaces_id;
ALTER TABLE invoices DROP COLUMN void_pdf_sha256;
DROP TABLE po_documents;
