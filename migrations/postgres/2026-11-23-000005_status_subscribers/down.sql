DROP TABLE status_subscribers;
