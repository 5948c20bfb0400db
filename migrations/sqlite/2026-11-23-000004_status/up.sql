-- Components of the vendor's product shown on the status page; groups are components too.
CREATE TABLE status_components (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    group_id BIGINT REFERENCES status_components (id),
    is_group BOOLEAN NOT NULL DEFAULT FALSE,
    position INTEGER NOT NULL DEFAULT 0,
    showcase BOOLEAN NOT NULL DEFAULT TRUE,
    only_show_if_degraded BOOLEAN NOT NULL DEFAULT FALSE,
    start_date TIMESTAMP,
    status TEXT NOT NULL DEFAULT 'operational' CHECK (status IN
        ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Every status a component has had, as intervals; uptime is recomputed from these.
CREATE TABLE component_status_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component_id BIGINT NOT NULL REFERENCES status_components (id),
    status TEXT NOT NULL,
    from_at TIMESTAMP NOT NULL,
    to_at TIMESTAMP,
    source TEXT NOT NULL CHECK (source IN ('manual', 'probe', 'incident', 'maintenance')),
    actor_user_id BIGINT,
    incident_id BIGINT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX component_status_changes_component ON component_status_changes (component_id, from_at);

-- Incidents and scheduled maintenance share one table (kind); maintenance uses scheduled_*.
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('incident', 'maintenance')),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    impact TEXT NOT NULL CHECK (impact IN ('none', 'minor', 'major', 'critical', 'maintenance')),
    started_at TIMESTAMP,
    monitoring_at TIMESTAMP,
    resolved_at TIMESTAMP,
    scheduled_for TIMESTAMP,
    scheduled_until TIMESTAMP,
    published BOOLEAN NOT NULL DEFAULT TRUE,
    postmortem_body TEXT,
    postmortem_published_at TIMESTAMP,
    ics_sequence INTEGER NOT NULL DEFAULT 0,
    reminder_sent BOOLEAN NOT NULL DEFAULT FALSE,
    created_by BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX incidents_kind_status ON incidents (kind, status);

CREATE TABLE incident_updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL UNIQUE,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    display_at TIMESTAMP NOT NULL,
    created_by BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, display_at);

CREATE TABLE incident_components (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    component_id BIGINT NOT NULL REFERENCES status_components (id),
    status TEXT NOT NULL,
    PRIMARY KEY (incident_id, component_id)
);
