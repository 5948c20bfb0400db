-- Plans are versioned: a change makes a new version; tenants keep theirs until moved.
CREATE TABLE plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    seat_price TEXT NOT NULL,
    period TEXT NOT NULL CHECK (period IN ('year', 'month')),
    features TEXT NOT NULL DEFAULT '',
    created_by BIGINT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (key, version)
);

-- What a plan includes of each metric, and the price of each unit beyond it.
CREATE TABLE plan_metrics (
    plan_id BIGINT NOT NULL REFERENCES plans (id),
    metric_id BIGINT NOT NULL REFERENCES metrics (id),
    included DOUBLE NOT NULL,
    overage_price TEXT NOT NULL,
    PRIMARY KEY (plan_id, metric_id)
);

-- The plan (version) a tenant is on, and its seats.
CREATE TABLE tenant_plans (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants (id),
    plan_id BIGINT NOT NULL REFERENCES plans (id),
    seats INTEGER NOT NULL,
    assigned_by BIGINT,
    assigned_at TIMESTAMP NOT NULL
);
