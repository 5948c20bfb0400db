DROP TABLE outbound_emails;
DROP TABLE jobs;
