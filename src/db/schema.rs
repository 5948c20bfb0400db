//! Table definitions shared by both backends. Hand-written: only types both backends
//! share (`BigInt` ids, `Text`, `Bool`, `Timestamp` in UTC, `Nullable`, `Integer`).

diesel::table! {
    jobs (id) {
        id -> BigInt,
        kind -> Text,
        payload -> Text,
        status -> Text,
        run_at -> Timestamp,
        attempts -> Integer,
        max_attempts -> Integer,
        locked_until -> Nullable<Timestamp>,
        locked_by -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbound_emails (id) {
        id -> BigInt,
        to_addr -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Nullable<Text>,
        headers -> Text,
        message_id -> Text,
        dedupe_key -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tenants (id) {
        id -> BigInt,
        kind -> Text,
        parent_id -> Nullable<BigInt>,
        name -> Text,
        slug -> Text,
        status -> Text,
        region -> Text,
        time_zone -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        display_name -> Text,
        password_hash -> Nullable<Text>,
        platform_role -> Nullable<Text>,
        status -> Text,
        totp_secret -> Nullable<Text>,
        totp_enabled -> Bool,
        password_changed_at -> Nullable<Timestamp>,
        last_sign_in_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        totp_last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    memberships (id) {
        id -> BigInt,
        user_id -> BigInt,
        tenant_id -> BigInt,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        ip -> Text,
        user_agent -> Text,
        stage -> Text,
        tenant_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor_user_id -> Nullable<BigInt>,
        actor_label -> Text,
        tenant_id -> Nullable<BigInt>,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        request_id -> Text,
        ip -> Text,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_chain_head (id) {
        id -> Integer,
        last_seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    auth_tokens (id) {
        id -> BigInt,
        purpose -> Text,
        token_hash -> Text,
        user_id -> Nullable<BigInt>,
        email -> Text,
        tenant_id -> Nullable<BigInt>,
        role -> Nullable<Text>,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_attempts (key) {
        key -> Text,
        failures -> Integer,
        last_failure_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    user_recovery_codes (id) {
        id -> BigInt,
        user_id -> BigInt,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    jobs,
    outbound_emails,
    tenants,
    users,
    memberships,
    sessions,
    audit_events,
    audit_chain_head,
    auth_tokens,
    login_attempts,
    user_recovery_codes,
);
