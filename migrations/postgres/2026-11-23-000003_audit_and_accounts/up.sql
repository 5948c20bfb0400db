-- Append-only, hash-chained audit trail. seq is assigned by the writer under the chain-head lock.
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor_user_id BIGINT,
    actor_label TEXT NOT NULL,
    tenant_id BIGINT,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- One row: the chain's last sequence number and hash; writers lock it.
CREATE TABLE audit_chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Single-use tokens for password reset and invitations; only the SHA-256 is stored.
CREATE TABLE auth_tokens (
    id BIGSERIAL PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('reset', 'invite')),
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    tenant_id BIGINT REFERENCES tenants (id),
    role TEXT,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX auth_tokens_email ON auth_tokens (email);

-- Sign-in throttling per account ('email:...') and per address ('ip:...').
CREATE TABLE login_attempts (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);

CREATE TABLE user_recovery_codes (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX user_recovery_codes_user ON user_recovery_codes (user_id);

ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
-- 'full' sessions may use Keel; 'mfa' waits for a second factor; 'enroll' must set one up first.
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full';
-- The tenant the user is looking at (for users with several).
ALTER TABLE sessions ADD COLUMN tenant_id BIGINT;
