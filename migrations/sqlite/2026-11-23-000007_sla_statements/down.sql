DROP TABLE sla_statements;
