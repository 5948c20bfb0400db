-- Districts (parents) and schools (children): a tree of depth two.
CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('district', 'school')),
    parent_id BIGINT REFERENCES tenants (id),
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    region TEXT NOT NULL DEFAULT '',
    time_zone TEXT NOT NULL DEFAULT 'America/Chicago',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (kind = 'school' OR parent_id IS NULL)
);
CREATE INDEX tenants_parent ON tenants (parent_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    platform_role TEXT CHECK (platform_role IN ('platform_admin', 'support_agent')),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    totp_secret TEXT,
    totp_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    password_changed_at TIMESTAMP,
    last_sign_in_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE memberships (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    role TEXT NOT NULL CHECK (role IN ('district_admin', 'auditor', 'procurement', 'school_admin', 'staff')),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, tenant_id)
);
CREATE INDEX memberships_tenant ON memberships (tenant_id);

-- Server-side sessions: the cookie holds a random id; only its SHA-256 is stored.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
