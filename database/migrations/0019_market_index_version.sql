-- journeygate store, version 19: the market value indices are registry data too (docs/registry.md,
-- "Registry version"): a statement that changes a row of `market_value_index` moves
-- `registry_version` as one on `vehicles` or `consent_changes` does (migration 0018), so the
-- signals processor, which keeps each vehicle's registry row with its market's index, reads
-- them again at its next batch.

CREATE TRIGGER market_value_index_insert AFTER INSERT ON market_value_index
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION registry_rows_changed();
CREATE TRIGGER market_value_index_update AFTER UPDATE ON market_value_index
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION registry_rows_changed();
CREATE TRIGGER market_value_index_delete AFTER DELETE ON market_value_index
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION registry_rows_changed();
CREATE TRIGGER market_value_index_truncate AFTER TRUNCATE ON market_value_index
    FOR EACH STATEMENT EXECUTE FUNCTION registry_truncated();
