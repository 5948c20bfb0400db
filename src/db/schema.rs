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
        attachment_sha256 -> Nullable<Text>,
        attachment_name -> Nullable<Text>,
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
        sla_tier_id -> Nullable<BigInt>,
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

diesel::table! {
    metrics (id) {
        id -> BigInt,
        key -> Text,
        name -> Text,
        unit -> Text,
        aggregation -> Text,
        property -> Text,
        window_days -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ingest_keys (id) {
        id -> BigInt,
        name -> Text,
        prefix -> Text,
        key_hash -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    usage_events (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        metric_id -> BigInt,
        idempotency_key -> Text,
        occurred_at -> Timestamp,
        value -> Double,
        role -> Text,
        subject -> Text,
        properties -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    usage_daily (tenant_id, metric_id, day, role) {
        tenant_id -> BigInt,
        metric_id -> BigInt,
        day -> Date,
        role -> Text,
        value -> Double,
        events -> BigInt,
        latest_at -> Timestamp,
    }
}

diesel::table! {
    usage_uniques (tenant_id, metric_id, day, role, subject) {
        tenant_id -> BigInt,
        metric_id -> BigInt,
        day -> Date,
        role -> Text,
        subject -> Text,
    }
}

diesel::table! {
    usage_rejected (id) {
        id -> BigInt,
        received_at -> Timestamp,
        tenant_ref -> Text,
        metric_key -> Text,
        idempotency_key -> Text,
        code -> Text,
        reason -> Text,
        payload -> Text,
        resubmitted_at -> Nullable<Timestamp>,
        outcome -> Text,
    }
}

diesel::table! {
    usage_caps (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        metric_id -> BigInt,
        limit_value -> Double,
        enforcement -> Text,
        updated_by -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    cap_alerts (id) {
        id -> BigInt,
        cap_id -> BigInt,
        period -> Text,
        threshold -> Integer,
        value -> Double,
        fired_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        user_id -> BigInt,
        tenant_id -> Nullable<BigInt>,
        kind -> Text,
        title -> Text,
        body -> Text,
        link -> Text,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    plans (id) {
        id -> BigInt,
        key -> Text,
        version -> Integer,
        name -> Text,
        currency -> Text,
        seat_price -> Text,
        period -> Text,
        features -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    plan_metrics (plan_id, metric_id) {
        plan_id -> BigInt,
        metric_id -> BigInt,
        included -> Double,
        overage_price -> Text,
    }
}

diesel::table! {
    tenant_plans (tenant_id) {
        tenant_id -> BigInt,
        plan_id -> BigInt,
        seats -> Integer,
        assigned_by -> Nullable<BigInt>,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    usage_subjects (tenant_id, metric_id, subject) {
        tenant_id -> BigInt,
        metric_id -> BigInt,
        subject -> Text,
        role -> Text,
        last_day -> Date,
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(sessions -> users (user_id));

diesel::table! {
    status_components (id) {
        id -> BigInt,
        public_id -> Text,
        name -> Text,
        description -> Text,
        group_id -> Nullable<BigInt>,
        is_group -> Bool,
        position -> Integer,
        showcase -> Bool,
        only_show_if_degraded -> Bool,
        start_date -> Nullable<Timestamp>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    component_status_changes (id) {
        id -> BigInt,
        component_id -> BigInt,
        status -> Text,
        from_at -> Timestamp,
        to_at -> Nullable<Timestamp>,
        source -> Text,
        actor_user_id -> Nullable<BigInt>,
        incident_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    incidents (id) {
        id -> BigInt,
        public_id -> Text,
        code -> Text,
        kind -> Text,
        name -> Text,
        status -> Text,
        impact -> Text,
        started_at -> Nullable<Timestamp>,
        monitoring_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        scheduled_for -> Nullable<Timestamp>,
        scheduled_until -> Nullable<Timestamp>,
        published -> Bool,
        postmortem_body -> Nullable<Text>,
        postmortem_published_at -> Nullable<Timestamp>,
        ics_sequence -> Integer,
        reminder_sent -> Bool,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    incident_updates (id) {
        id -> BigInt,
        public_id -> Text,
        incident_id -> BigInt,
        status -> Text,
        body -> Text,
        display_at -> Timestamp,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    incident_components (incident_id, component_id) {
        incident_id -> BigInt,
        component_id -> BigInt,
        status -> Text,
    }
}

diesel::table! {
    status_subscribers (id) {
        id -> BigInt,
        email -> Text,
        components -> Text,
        confirmed_at -> Nullable<Timestamp>,
        unsubscribed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    status_probes (id) {
        id -> BigInt,
        component_id -> BigInt,
        kind -> Text,
        url -> Text,
        expect_min -> Integer,
        expect_max -> Integer,
        body_contains -> Text,
        timeout_ms -> Integer,
        interval_seconds -> Integer,
        failure_threshold -> Integer,
        heartbeat_token_hash -> Nullable<Text>,
        consecutive_failures -> Integer,
        last_checked_at -> Nullable<Timestamp>,
        last_ok_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        tripped -> Bool,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sla_statements (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        month -> Text,
        generated_at -> Timestamp,
        figures -> Text,
        pdf_sha256 -> Text,
    }
}

diesel::table! {
    invoice_counters (tenant_id, year) {
        tenant_id -> BigInt,
        year -> Integer,
        last_number -> BigInt,
    }
}

diesel::table! {
    invoices (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        number -> Nullable<Text>,
        status -> Text,
        currency -> Text,
        issue_date -> Nullable<Date>,
        due_date -> Nullable<Date>,
        po_number -> Nullable<Text>,
        notes -> Text,
        tax_rate_bp -> Integer,
        subtotal_minor -> BigInt,
        tax_minor -> BigInt,
        total_minor -> BigInt,
        pdf_sha256 -> Nullable<Text>,
        issued_at -> Nullable<Timestamp>,
        paid_at -> Nullable<Timestamp>,
        paid_method -> Nullable<Text>,
        paid_reference -> Nullable<Text>,
        voided_at -> Nullable<Timestamp>,
        void_reason -> Nullable<Text>,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        void_pdf_sha256 -> Nullable<Text>,
        replaces_id -> Nullable<BigInt>,
        renewal_for -> Nullable<Date>,
        issue_snapshot -> Nullable<Text>,
        disputed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    renewals (tenant_id, renewal_date) {
        tenant_id -> BigInt,
        renewal_date -> Date,
        invoice_id -> BigInt,
        prepared_at -> Timestamp,
    }
}

diesel::table! {
    po_documents (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        po_number -> Text,
        filename -> Text,
        sha256 -> Text,
        size_bytes -> BigInt,
        uploaded_by -> Nullable<BigInt>,
        uploaded_at -> Timestamp,
    }
}

diesel::table! {
    invoice_lines (id) {
        id -> BigInt,
        invoice_id -> BigInt,
        position -> Integer,
        description -> Text,
        kind -> Text,
        quantity -> Text,
        unit_price -> Text,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    vendor_settings (id) {
        id -> Integer,
        legal_name -> Text,
        address -> Text,
        tax_id -> Text,
        remit_to -> Text,
        invoice_footer -> Text,
        default_currency -> Text,
        default_terms_days -> Integer,
        updated_at -> Timestamp,
        renewal_lead_days -> Integer,
        number_prefix -> Text,
        logo_sha256 -> Nullable<Text>,
    }
}

diesel::table! {
    billing_profiles (tenant_id) {
        tenant_id -> BigInt,
        mode -> Text,
        po_number -> Nullable<Text>,
        po_amount_minor -> Nullable<BigInt>,
        po_expires -> Nullable<Date>,
        address_line1 -> Text,
        address_line2 -> Text,
        city -> Text,
        region -> Text,
        postal_code -> Text,
        country -> Text,
        tax_id -> Text,
        tax_exempt_note -> Text,
        currency -> Text,
        terms_days -> Integer,
        renewal_date -> Nullable<Date>,
        schedule -> Text,
        cost_centre -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    billing_contacts (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        email -> Text,
        phone -> Text,
        role -> Text,
        verified_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sla_tiers (id) {
        id -> BigInt,
        key -> Text,
        name -> Text,
        position -> Integer,
        support_email -> Text,
        support_phone -> Text,
        routing_email -> Text,
        time_zone -> Text,
        working_days -> Text,
        opens -> Text,
        closes -> Text,
        uptime_commitment -> Text,
        credit_schedule -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sla_targets (tier_id, severity) {
        tier_id -> BigInt,
        severity -> Text,
        response_amount -> Nullable<Integer>,
        response_unit -> Text,
        resolution_amount -> Nullable<Integer>,
        resolution_unit -> Text,
    }
}

diesel::table! {
    sla_holidays (id) {
        id -> BigInt,
        tier_id -> BigInt,
        day -> Date,
        name -> Text,
    }
}

diesel::table! {
    support_requests (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        requester_id -> BigInt,
        tier_id -> Nullable<BigInt>,
        category -> Text,
        severity -> Text,
        subject -> Text,
        description -> Text,
        status -> Text,
        assignee_id -> Nullable<BigInt>,
        response_due_at -> Nullable<Timestamp>,
        resolution_due_at -> Nullable<Timestamp>,
        first_response_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        metadata -> Text,
        attachment_sha256 -> Nullable<Text>,
        attachment_name -> Nullable<Text>,
        attachment_type -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    support_messages (id) {
        id -> BigInt,
        request_id -> BigInt,
        author_id -> Nullable<BigInt>,
        kind -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sla_credit_claims (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        month -> Text,
        claimant_id -> BigInt,
        description -> Text,
        affected_dates -> Text,
        measured_uptime -> Text,
        commitment -> Text,
        credit_percent -> Integer,
        currency -> Text,
        fee_minor -> Nullable<BigInt>,
        computed_minor -> BigInt,
        status -> Text,
        approved_minor -> Nullable<BigInt>,
        decision_reason -> Text,
        decided_by -> Nullable<BigInt>,
        decided_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    invoice_disputes (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        invoice_id -> BigInt,
        opened_by -> BigInt,
        category -> Text,
        description -> Text,
        document_sha256 -> Nullable<Text>,
        document_name -> Nullable<Text>,
        status -> Text,
        outcome -> Text,
        resolution_reason -> Text,
        resolved_by -> Nullable<BigInt>,
        resolved_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    account_credits (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        source -> Text,
        source_id -> BigInt,
        description -> Text,
        amount_minor -> BigInt,
        currency -> Text,
        invoice_id -> Nullable<BigInt>,
        line_id -> Nullable<BigInt>,
        applied_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(invoice_lines -> invoices (invoice_id));
diesel::joinable!(support_messages -> support_requests (request_id));
diesel::joinable!(incident_updates -> incidents (incident_id));
diesel::joinable!(incident_components -> incidents (incident_id));
diesel::joinable!(incident_components -> status_components (component_id));
diesel::joinable!(component_status_changes -> status_components (component_id));

diesel::allow_tables_to_appear_in_same_query!(
    sla_tiers,
    sla_targets,
    sla_holidays,
    support_requests,
    support_messages,
    sla_credit_claims,
    invoice_disputes,
    account_credits,
    usage_subjects,
    plans,
    plan_metrics,
    tenant_plans,
    renewals,
    metrics,
    ingest_keys,
    usage_events,
    usage_daily,
    usage_uniques,
    usage_rejected,
    usage_caps,
    cap_alerts,
    notifications,
    status_components,
    component_status_changes,
    incidents,
    incident_updates,
    incident_components,
    status_subscribers,
    status_probes,
    sla_statements,
    invoice_counters,
    invoices,
    invoice_lines,
    vendor_settings,
    billing_profiles,
    billing_contacts,
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
