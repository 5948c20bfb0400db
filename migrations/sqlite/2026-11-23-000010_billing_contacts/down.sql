ALTER TABLE outbound_emails DROP COLUMN attachment_name;
ALTER TABLE outbound_emails DROP COLUMN attachment_sha256;
DROP TABLE billing_contacts;
