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
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(jobs, outbound_emails, tenants, users, memberships, sessions);
