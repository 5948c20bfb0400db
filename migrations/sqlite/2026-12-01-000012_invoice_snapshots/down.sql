DROP TABLE renewals;
ALTER TABLE invoices DROP COLUMN issue_snapshot;
