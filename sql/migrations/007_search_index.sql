-- 007: the change sequence the API's in-memory search index follows (issue 14).
--
-- Every write to diamonds (consolidation, removal, reprice, hold, purchase, release, or any
-- statement an operator runs) gets, in its own transaction, the next value of
-- diamond_change_seq and the writing transaction's id. A follower reads the rows past the last
-- sequence it applied plus the rows of transactions that were still in progress when it last
-- read (their sequences may be lower than ones it has already seen, since sequences are taken
-- when a row is written, not when its transaction commits); see services/api/index_follow.c.
-- A statement-level trigger wakes followers with NOTIFY diamonds_changed (sent at commit).
-- DELETE and TRUNCATE leave no row behind to follow: they bump catalogue_epoch, and a follower
-- that sees a new epoch reloads.

CREATE SEQUENCE diamond_change_seq;

ALTER TABLE diamonds ADD COLUMN change_seq bigint NOT NULL DEFAULT nextval('diamond_change_seq');
ALTER TABLE diamonds ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
-- The defaults only number the existing rows; from now on the trigger below stamps every row.
ALTER TABLE diamonds ALTER COLUMN change_seq DROP DEFAULT, ALTER COLUMN change_xid DROP DEFAULT;
CREATE INDEX diamonds_change_seq_idx ON diamonds (change_seq);
CREATE INDEX diamonds_change_xid_idx ON diamonds (change_xid);

CREATE FUNCTION dm_diamonds_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The transaction id first: a sequence value is then always taken after the id exists, so
    -- a transaction that started after a follower's snapshot only takes higher values.
    NEW.change_xid := pg_current_xact_id();
    NEW.change_seq := nextval('diamond_change_seq');
    RETURN NEW;
END $$;
CREATE TRIGGER diamonds_stamp BEFORE INSERT OR UPDATE ON diamonds
    FOR EACH ROW EXECUTE FUNCTION dm_diamonds_stamp();

CREATE TABLE catalogue_epoch (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    epoch bigint NOT NULL DEFAULT 1
);
INSERT INTO catalogue_epoch DEFAULT VALUES;

CREATE FUNCTION dm_diamonds_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        UPDATE catalogue_epoch SET epoch = epoch + 1;
    END IF;
    PERFORM pg_notify('diamonds_changed', '');
    RETURN NULL;
END $$;
CREATE TRIGGER diamonds_notify AFTER INSERT OR UPDATE OR DELETE ON diamonds
    FOR EACH STATEMENT EXECUTE FUNCTION dm_diamonds_notify();
CREATE TRIGGER diamonds_notify_truncate AFTER TRUNCATE ON diamonds
    FOR EACH STATEMENT EXECUTE FUNCTION dm_diamonds_notify();
