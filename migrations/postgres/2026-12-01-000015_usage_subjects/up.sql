-- Each subject (e.g. a staff user) of a distinct-count metric, with the last day it was active
-- and its role then: "active in the last 30 days" is a count over this small table instead of
-- a distinct count over every active day.
CREATE TABLE usage_subjects (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    metric_id BIGINT NOT NULL REFERENCES metrics (id),
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    last_day DATE NOT NULL,
    PRIMARY KEY (tenant_id, metric_id, subject)
);
CREATE INDEX usage_subjects_recent ON usage_subjects (tenant_id, metric_id, last_day);

INSERT INTO usage_subjects (tenant_id, metric_id, subject, role, last_day)
SELECT u.tenant_id, u.metric_id, u.subject, MAX(u.role), u.day
FROM usage_uniques u
JOIN (SELECT tenant_id, metric_id, subject, MAX(day) AS day FROM usage_uniques GROUP BY tenant_id, metric_id, subject) l
  ON l.tenant_id = u.tenant_id AND l.metric_id = u.metric_id AND l.subject = u.subject AND l.day = u.day
GROUP BY u.tenant_id, u.metric_id, u.subject, u.day;
