DROP TABLE incident_components;
DROP TABLE incident_updates;
DROP TABLE incidents;
DROP TABLE component_status_changes;
DROP TABLE status_components;
