-- What the vendor's product reports, and how it is counted.
CREATE TABLE metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    aggregation TEXT NOT NULL CHECK (aggregation IN ('count', 'sum', 'max', 'latest', 'unique_count')),
    property TEXT NOT NULL DEFAULT '',
    window_days INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- API keys the product uses to send events and ask for entitlements (only a hash is kept).
CREATE TABLE ingest_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_by BIGINT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);

-- Accepted events, one per (tenant, idempotency key).
CREATE TABLE usage_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    metric_id BIGINT NOT NULL REFERENCES metrics (id),
    idempotency_key TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    value DOUBLE NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    properties TEXT NOT NULL DEFAULT '{}',
    received_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX usage_events_tenant_metric ON usage_events (tenant_id, metric_id, occurred_at);

-- Daily buckets per tenant, metric, day and role, kept current as events arrive.
CREATE TABLE usage_daily (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    metric_id BIGINT NOT NULL REFERENCES metrics (id),
    day DATE NOT NULL,
    role TEXT NOT NULL,
    value DOUBLE NOT NULL,
    events BIGINT NOT NULL,
    latest_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, metric_id, day, role)
);

-- Who was active on which day, for unique counts over a window.
CREATE TABLE usage_uniques (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    metric_id BIGINT NOT NULL REFERENCES metrics (id),
    day DATE NOT NULL,
    role TEXT NOT NULL,
    subject TEXT NOT NULL,
    PRIMARY KEY (tenant_id, metric_id, day, role, subject)
);

-- Events refused by validation, kept with the reason until re-submitted.
CREATE TABLE usage_rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TIMESTAMP NOT NULL,
    tenant_ref TEXT NOT NULL DEFAULT '',
    metric_key TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    resubmitted_at TIMESTAMP,
    outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX usage_rejected_open ON usage_rejected (resubmitted_at, id);

-- Caps per tenant and metric; a district's cap covers its linked schools too.
CREATE TABLE usage_caps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    metric_id BIGINT NOT NULL REFERENCES metrics (id),
    limit_value DOUBLE NOT NULL,
    enforcement TEXT NOT NULL CHECK (enforcement IN ('soft', 'hard')),
    updated_by BIGINT,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, metric_id)
);

-- Each threshold crossing of a cap, once per period.
CREATE TABLE cap_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cap_id BIGINT NOT NULL REFERENCES usage_caps (id) ON DELETE CASCADE,
    period TEXT NOT NULL,
    threshold INTEGER NOT NULL,
    value DOUBLE NOT NULL,
    fired_at TIMESTAMP NOT NULL,
    UNIQUE (cap_id, period, threshold)
);

-- In-app notifications (the bell).
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    tenant_id BIGINT,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
CREATE INDEX notifications_user ON notifications (user_id, read_at, id);
