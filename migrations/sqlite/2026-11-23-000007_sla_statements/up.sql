-- Monthly SLA statements: a frozen record of a month's figures for one tenant.
CREATE TABLE sla_statements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    month TEXT NOT NULL,
    generated_at TIMESTAMP NOT NULL,
    figures TEXT NOT NULL,
    pdf_sha256 TEXT NOT NULL,
    UNIQUE (tenant_id, month)
);
