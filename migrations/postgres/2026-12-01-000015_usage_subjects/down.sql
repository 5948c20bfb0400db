DROP TABLE usage_subjects;
