DROP TABLE tenant_plans;
DROP TABLE plan_metrics;
DROP TABLE plans;
