-- Exports are events now (kim.reporting.CsvExported, one stream export-<id> each, listed by GET /exports): chained
-- and anchored like the rest of the store. The mutable table they went to before goes.
DROP TABLE IF EXISTS exports;
