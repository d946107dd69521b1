-- 009_listings: one listing per physical stone (issue 18; rules in src/domain/offer.h, SQL in
-- src/store/listings.c). Every row of diamonds stays an offer (feed + supplier stone id); search
-- shows one listing per listing_key, from its chosen offer.
--
--   identity_key  the offer's stone identity as dm_offer_identity computes it ("cert:LAB:NUMBER"
--                 or "feed:FEED:ID"); NULL until the consolidator has computed it (rows written
--                 before this migration, or inserted by hand)
--   listing_key   identity_key, or the offer's feed identity when its grading clashes with the
--                 reference offer of its certificate (or while identity_key is NULL)
--   listing_id    dm_offer_listing_id(listing_key): the id search and storefront links use
--   chosen        the offer the listing shows (OFFER_POLICY), among the key's active offers
--   clash_fields  "carat,colour,clarity,shape" (the fields that disagreed) for a split offer
--
-- Backfill: every existing row gets its feed identity here and every active row is chosen (its
-- key is unique), so a single-feed catalogue is one listing per stone at once, as before. The
-- consolidator computes the certificate identities (C normalisation of lab and number) of rows
-- with identity_key NULL at the start of its next consolidation and merges overlapping offers
-- then (store/listings.h dm_listings_backfill).

-- dm_offer_listing_id in SQL: SHA-256 over the namespace's 16 bytes and the key's UTF-8 bytes,
-- first 16 bytes, version 8, variant 10 (it.test_listings_order compares the two).
CREATE FUNCTION dm_listing_uuid(key text) RETURNS uuid LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 128), 8,
                           (get_byte(h, 8) & 63) | 128), 'hex')::uuid
    FROM (SELECT substr(sha256(decode('3f0c5a1e9b7d4c2a8e61d1a4b2c7e905', 'hex')
                               || convert_to(key, 'UTF8')), 1, 16) AS h) s $$;

ALTER TABLE diamonds
    ADD COLUMN identity_key text,
    ADD COLUMN listing_key text,
    ADD COLUMN listing_id uuid,
    ADD COLUMN chosen boolean NOT NULL DEFAULT false,
    ADD COLUMN clash_fields text;

UPDATE diamonds SET listing_key = 'feed:' || feed || ':' || supplier_stone_id,
    listing_id = dm_listing_uuid('feed:' || feed || ':' || supplier_stone_id),
    chosen = (status = 'active');

-- A row inserted without a key (by hand, by a test fixture, by an older binary) is its own
-- listing under its feed identity until the consolidator computes its identity.
CREATE FUNCTION dm_diamonds_listing_default() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.listing_key IS NULL THEN
        NEW.listing_key := 'feed:' || NEW.feed || ':' || NEW.supplier_stone_id;
        NEW.listing_id := dm_listing_uuid(NEW.listing_key);
        NEW.chosen := NEW.status = 'active';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER diamonds_listing_default BEFORE INSERT ON diamonds
    FOR EACH ROW EXECUTE FUNCTION dm_diamonds_listing_default();

ALTER TABLE diamonds ALTER COLUMN listing_key SET NOT NULL, ALTER COLUMN listing_id SET NOT NULL;

-- One chosen offer per listing; the offers of a key (choice, GET by id, trading).
CREATE UNIQUE INDEX diamonds_listing_chosen_idx ON diamonds (listing_key) WHERE chosen;
CREATE INDEX diamonds_listing_key_idx ON diamonds (listing_key);
CREATE INDEX diamonds_listing_id_idx ON diamonds (listing_id);
-- Rows whose identity is still to be computed, and offers split off a clash (both few).
CREATE INDEX diamonds_identity_todo_idx ON diamonds (id) WHERE identity_key IS NULL;
CREATE INDEX diamonds_identity_split_idx ON diamonds (identity_key)
    WHERE identity_key IS DISTINCT FROM listing_key;

-- Search sees chosen active offers: the covering index of shape + price searches keeps its
-- index-only scans with the new condition in its predicate.
DROP INDEX IF EXISTS diamonds_active_shape_price_idx;
CREATE INDEX diamonds_active_shape_price_idx ON diamonds (shape, retail_price, id)
    INCLUDE (carats, color, clarity, lab_grown, availability) WHERE status = 'active' AND chosen;
