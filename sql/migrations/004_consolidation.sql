-- 004_consolidation: consolidator failure accounting (for `diamond check`: consolidator
-- failures > 1 per day) and the index the removal / reactivation passes use.

ALTER TABLE run_metadata
    ADD COLUMN consolidation_failures integer NOT NULL DEFAULT 0 CHECK (consolidation_failures >= 0),
    ADD COLUMN consolidation_failed_at timestamptz,
    ADD COLUMN stats_reactivated bigint NOT NULL DEFAULT 0;

CREATE INDEX run_metadata_consolidation_failed_idx ON run_metadata (consolidation_failed_at)
    WHERE consolidation_failed_at IS NOT NULL;

-- Reactivation looks at deleted stones only.
CREATE INDEX diamonds_deleted_idx ON diamonds (supplier_stone_id) WHERE status = 'deleted';
