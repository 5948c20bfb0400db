ALTER TABLE sessions DROP COLUMN tenant_id;
ALTER TABLE sessions DROP COLUMN stage;
ALTER TABLE users DROP COLUMN totp_last_step;
DROP TABLE user_recovery_codes;
DROP TABLE login_attempts;
DROP TABLE auth_tokens;
DROP TABLE audit_chain_head;
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
