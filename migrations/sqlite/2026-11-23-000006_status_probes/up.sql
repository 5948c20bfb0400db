-- Automatic status: HTTP probes and heartbeats per component.
CREATE TABLE status_probes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component_id BIGINT NOT NULL REFERENCES status_components (id),
    kind TEXT NOT NULL CHECK (kind IN ('http', 'heartbeat')),
    url TEXT NOT NULL DEFAULT '',
    expect_min INTEGER NOT NULL DEFAULT 200,
    expect_max INTEGER NOT NULL DEFAULT 299,
    body_contains TEXT NOT NULL DEFAULT '',
    timeout_ms INTEGER NOT NULL DEFAULT 5000,
    interval_seconds INTEGER NOT NULL DEFAULT 60,
    failure_threshold INTEGER NOT NULL DEFAULT 3,
    heartbeat_token_hash TEXT UNIQUE,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_checked_at TIMESTAMP,
    last_ok_at TIMESTAMP,
    last_error TEXT,
    tripped BOOLEAN NOT NULL DEFAULT FALSE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
