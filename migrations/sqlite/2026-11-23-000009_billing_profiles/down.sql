DROP TABLE billing_profiles;
DROP TABLE vendor_settings;
