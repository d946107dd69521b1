-- consol_lib.sql - test/bench helpers for the consolidator (not a migration): a deterministic
-- synthetic Nivoda item generator shaped like the feed's items (feed.md §1), and a run maker.
-- Load with: psql -f consol_lib.sql (creates functions in schema dm_test).
CREATE SCHEMA IF NOT EXISTS dm_test;

-- Pseudo-random integer in [0, n) from (i, salt, k).
CREATE OR REPLACE FUNCTION dm_test.rnd(i bigint, salt int, k int, n int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT ((hashtext(i::text || ':' || salt::text || ':' || k::text)::bigint & 2147483647) % n)::int
$$;

-- One item. salt changes price and availability (churn) while keeping the stone's identity.
CREATE OR REPLACE FUNCTION dm_test.item(i bigint, salt int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT json_build_object(
  'id', 'offer-' || i,
  'price', 20000 + dm_test.rnd(i, salt, 1, 100) * dm_test.rnd(i, salt, 2, 100) * 250 + dm_test.rnd(i, salt, 3, 100),
  'discount', NULL, 'diamond_price', 1000 + dm_test.rnd(i, 0, 4, 9000),
  'markup_price', NULL, 'markup_discount', NULL,
  'diamond', json_build_object(
    'id', 'stone-' || i,
    'availability', (ARRAY['AVAILABLE','available','Unavailable','NOT AVAILABLE','On Hold','Sold out','memo'])[1 + (CASE WHEN dm_test.rnd(i, salt, 5, 10) < 6 THEN 0 ELSE dm_test.rnd(i, salt, 6, 7) END)],
    'HoldId', CASE WHEN dm_test.rnd(i, 0, 7, 5) = 0 THEN 'hold-' || i END,
    'NivodaStockId', 'NS' || i, 'supplierStockId', 'SS' || i,
    'image', 'https://img.example.com/' || i || '.jpg',
    'video', CASE WHEN dm_test.rnd(i, 0, 8, 3) = 0 THEN 'https://video.example.com/' || i END,
    'eyeClean', CASE WHEN dm_test.rnd(i, 0, 9, 4) = 0 THEN NULL ELSE dm_test.rnd(i, 0, 9, 2) = 1 END,
    'brown', (ARRAY['none','faint',NULL])[1 + dm_test.rnd(i, 0, 10, 3)],
    'green', NULL, 'blue', 'none', 'gray', NULL, 'milky', (ARRAY['no','light'])[1 + dm_test.rnd(i, 0, 11, 2)],
    'bowtie', NULL, 'mine_of_origin', (ARRAY['Canada','Botswana',NULL])[1 + dm_test.rnd(i, 0, 12, 3)],
    'supplier_video_link', 'https://supplier.example.com/v/' || i,
    'approval_type', 'NONE', 'final_price', NULL, 'show_measurements', true,
    'show_certificate_number', true, 'return_window', 30, 'CertificateType', 'GIA',
    'delivery_time', json_build_object('express_timeline_applicable', false, 'min_business_days', 2, 'max_business_days', 5),
    'certificate', json_build_object(
      'id', 'cert-' || i, 'lab', (ARRAY['GIA','IGI','HRD'])[1 + dm_test.rnd(i, 0, 13, 3)],
      'certNumber', (1000000000 + i)::text, 'pdfUrl', 'https://certs.example.com/' || i || '.pdf',
      'shape', (ARRAY['ROUND','oval','Emerald','CUSHION B','PEAR','PRINCESS','HEART','round'])[1 + dm_test.rnd(i, 0, 14, 8)],
      'fullShape', 'shape',
      'carats', round((0.3 + dm_test.rnd(i, 0, 15, 470) / 100.0 + dm_test.rnd(i, 0, 16, 10) / 1000.0)::numeric, 3),
      'clarity', (ARRAY['IF','VVS1','VVS2','VS1','VS2','SI1','SI2','I1'])[1 + dm_test.rnd(i, 0, 17, 8)],
      'cut', (ARRAY['EX','vg','GD',NULL])[1 + dm_test.rnd(i, 0, 18, 4)],
      'polish', (ARRAY['EX','VG',NULL])[1 + dm_test.rnd(i, 0, 19, 3)],
      'symmetry', (ARRAY['EX','VG','gd'])[1 + dm_test.rnd(i, 0, 20, 3)],
      'color', (ARRAY['D','E','F','G','H','I','J','K'])[1 + dm_test.rnd(i, 0, 21, 8)],
      'length', round((4 + dm_test.rnd(i, 0, 22, 600) / 100.0)::numeric, 2),
      'width', round((4 + dm_test.rnd(i, 0, 23, 600) / 100.0)::numeric, 2),
      'depth', round((2.5 + dm_test.rnd(i, 0, 24, 400) / 100.0)::numeric, 2),
      'depthPercentage', 61.5, 'table', 57, 'crownAngle', 34.5, 'crownHeight', 15,
      'pavAngle', 40.8, 'pavHeight', 43, 'pavDepth', NULL,
      'floInt', (ARRAY['None','Faint','Medium',NULL])[1 + dm_test.rnd(i, 0, 25, 4)],
      'floCol', (ARRAY['Blue',NULL,NULL])[1 + dm_test.rnd(i, 0, 26, 3)],
      'verified', true,
      'labgrown', CASE WHEN dm_test.rnd(i, 0, 27, 10) < 4 THEN true WHEN dm_test.rnd(i, 0, 27, 10) < 9 THEN false END,
      'labgrown_type', CASE WHEN dm_test.rnd(i, 0, 27, 10) < 4 THEN 'CVD' END,
      'treated', dm_test.rnd(i, 0, 28, 20) = 0,
      'girdle', 'Medium', 'culetSize', 'None', 'girdleCondition', NULL, 'culet_condition', 'Pointed',
      'cut_style', NULL, 'keyToSymbols', 'Cloud, Feather', 'comments', CASE WHEN dm_test.rnd(i, 0, 29, 5) = 0 THEN 'Additional clouds' || chr(9) || 'not shown' END),
    'supplier', json_build_object('id', 'sup-' || dm_test.rnd(i, 0, 30, 50), 'name', 'Supplier ' || dm_test.rnd(i, 0, 30, 50), 'legal_name', 'Supplier ' || dm_test.rnd(i, 0, 30, 50) || ' Ltd'))
)::text
$$;

-- A run with three partitions, still running (as the scheduler plans it); n_failed of them are
-- marked to fail when dm_test.finish_run ends the run, after its raw rows were written (so no
-- sweeper or backstop sees a finished run before its stones are in). Returns the run id.
CREATE OR REPLACE FUNCTION dm_test.make_run(rtype text, n_failed int DEFAULT 0, is_capped boolean DEFAULT false)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE r uuid;
BEGIN
    INSERT INTO run_metadata (run_type, updated_from, updated_to, expected_workers, capped)
    VALUES (rtype, '2000-01-01T00:00:00Z', date_trunc('milliseconds', now()), 3, is_capped) RETURNING run_id INTO r;
    INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records, last_error)
    SELECT r, 'p' || k, k * 1000, k * 1000 + 999, 10, CASE WHEN k < n_failed THEN 'planned failure' END
    FROM generate_series(0, 2) k;
    RETURN r;
END $$;

-- The workers are done: every partition completed, or failed where planned.
CREATE OR REPLACE FUNCTION dm_test.finish_run(r uuid) RETURNS void LANGUAGE sql AS $$
    UPDATE partition_progress SET completed = last_error IS NULL, failed = last_error IS NOT NULL,
        updated_at = now()
    WHERE run_id = r AND NOT completed AND NOT failed
$$;

-- Ingest items lo..hi into raw rows for run r, as a worker would (pending when the payload hash
-- changed, last_seen_run_id always). salt 0: base items; salt > 0: ~10% of the stones churn
-- (price/availability); salt < 0: every stone gets the churned variant -salt.
CREATE OR REPLACE FUNCTION dm_test.ingest(r uuid, lo bigint, hi bigint, salt int) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO raw_diamonds_nivoda (supplier_stone_id, offer_id, payload, payload_hash, run_id, last_seen_run_id)
    SELECT 'stone-' || i, 'offer-' || i, t::json, encode(sha256(convert_to(t, 'UTF8')), 'hex'), r, r
    FROM (SELECT i, dm_test.item(i, CASE WHEN salt < 0 THEN -salt WHEN salt > 0 AND dm_test.rnd(i, salt, 99, 100) < 10 THEN salt ELSE 0 END) AS t
          FROM generate_series(lo, hi) i) s
    ON CONFLICT (supplier_stone_id) DO UPDATE SET
        payload = CASE WHEN raw_diamonds_nivoda.payload_hash = EXCLUDED.payload_hash THEN raw_diamonds_nivoda.payload ELSE EXCLUDED.payload END,
        consolidation_status = CASE WHEN raw_diamonds_nivoda.payload_hash = EXCLUDED.payload_hash THEN raw_diamonds_nivoda.consolidation_status ELSE 'pending' END,
        run_id = CASE WHEN raw_diamonds_nivoda.payload_hash = EXCLUDED.payload_hash THEN raw_diamonds_nivoda.run_id ELSE EXCLUDED.run_id END,
        payload_hash = EXCLUDED.payload_hash,
        last_seen_run_id = EXCLUDED.last_seen_run_id, updated_at = now()
$$;

-- Expected canonical values computed independently from the raw JSON (feed.md §2) with SQL,
-- compared with diamonds column by column for every consolidated raw row. The pricing
-- expectation takes the markup/rating the test expects for every stone (e.g. the seeded
-- default rule: 1.15, rating 5). Returns 'ok' or the count and the first mismatch.
CREATE OR REPLACE FUNCTION dm_test.check_catalogue(exp_markup numeric, exp_rating int)
RETURNS text LANGUAGE sql SET enable_nestloop = off SET jit = off AS $$
WITH raw0 AS MATERIALIZED (
    SELECT r.supplier_stone_id AS sid, r.payload::jsonb AS p
    FROM raw_diamonds_nivoda r WHERE r.consolidation_status = 'done'),
raw AS MATERIALIZED (SELECT sid, p, p->'diamond' AS d, p->'diamond'->'certificate' AS c FROM raw0),
e AS (
    SELECT sid, p->>'id' AS offer_id, upper(c->>'shape') AS shape,
        round((c->>'carats')::numeric, 2) AS carats, c->>'color' AS color, c->>'clarity' AS clarity,
        upper(nullif(c->>'cut', '')) AS cut, upper(nullif(c->>'polish', '')) AS polish,
        upper(nullif(c->>'symmetry', '')) AS symmetry,
        CASE WHEN coalesce(c->>'floInt', '') = '' THEN NULL
             WHEN coalesce(c->>'floCol', '') = '' THEN c->>'floInt'
             ELSE (c->>'floInt') || ' ' || (c->>'floCol') END AS fluorescence,
        CASE WHEN jsonb_typeof(c->'labgrown') = 'boolean' THEN (c->>'labgrown')::boolean
             ELSE coalesce(c->>'labgrown_type', '') <> '' END AS lab_grown,
        coalesce(jsonb_typeof(c->'treated') = 'boolean' AND (c->>'treated')::boolean, false) AS treated,
        round((p->>'price')::numeric / 100, 2) AS feed_price,
        CASE WHEN lower(d->>'availability') LIKE '%unavailable%'
               OR lower(d->>'availability') LIKE '%not available%' THEN 'unavailable'
             WHEN lower(d->>'availability') LIKE '%available%' THEN 'available'
             WHEN lower(d->>'availability') LIKE '%hold%' THEN 'on_hold'
             WHEN lower(d->>'availability') LIKE '%sold%' THEN 'sold'
             ELSE 'unavailable' END AS availability,
        d->>'availability' AS raw_availability, nullif(d->>'HoldId', '') AS hold_id,
        nullif(d->>'image', '') AS image_url,
        coalesce(nullif(d->>'video', ''), nullif(d->>'supplier_video_link', '')) AS video_url,
        nullif(c->>'lab', '') AS certificate_lab, nullif(c->>'certNumber', '') AS certificate_number,
        nullif(c->>'pdfUrl', '') AS certificate_pdf_url,
        nullif(jsonb_strip_nulls(jsonb_build_object('length', c->'length', 'width', c->'width',
            'depth', c->'depth', 'depthPercentage', c->'depthPercentage', 'table', c->'table',
            'crownAngle', c->'crownAngle', 'crownHeight', c->'crownHeight', 'pavAngle', c->'pavAngle',
            'pavHeight', c->'pavHeight', 'pavDepth', c->'pavDepth', 'girdle', c->'girdle',
            'culetSize', c->'culetSize', 'girdleCondition', c->'girdleCondition',
            'culetCondition', c->'culet_condition')), '{}'::jsonb) AS measurements,
        nullif(jsonb_strip_nulls(jsonb_build_object('eyeClean', d->'eyeClean', 'brown', d->'brown',
            'green', d->'green', 'blue', d->'blue', 'gray', d->'gray', 'milky', d->'milky',
            'bowtie', d->'bowtie', 'mineOfOrigin', d->'mine_of_origin', 'cutStyle', c->'cut_style',
            'keyToSymbols', c->'keyToSymbols', 'comments', c->'comments')), '{}'::jsonb) AS attributes,
        nullif(d->'supplier'->>'name', '') AS supplier_name,
        nullif(d->'supplier'->>'legal_name', '') AS supplier_legal_name
    FROM raw),
cmp AS (
    SELECT e.sid, x.id IS NULL AS missing,
        ARRAY_REMOVE(ARRAY[
            CASE WHEN x.offer_id IS DISTINCT FROM e.offer_id THEN 'offer_id' END,
            CASE WHEN x.shape IS DISTINCT FROM e.shape THEN 'shape' END,
            CASE WHEN x.carats IS DISTINCT FROM e.carats THEN 'carats' END,
            CASE WHEN x.color IS DISTINCT FROM e.color THEN 'color' END,
            CASE WHEN x.clarity IS DISTINCT FROM e.clarity THEN 'clarity' END,
            CASE WHEN x.cut IS DISTINCT FROM e.cut THEN 'cut' END,
            CASE WHEN x.polish IS DISTINCT FROM e.polish THEN 'polish' END,
            CASE WHEN x.symmetry IS DISTINCT FROM e.symmetry THEN 'symmetry' END,
            CASE WHEN x.fluorescence IS DISTINCT FROM e.fluorescence THEN 'fluorescence' END,
            CASE WHEN x.lab_grown IS DISTINCT FROM e.lab_grown THEN 'lab_grown' END,
            CASE WHEN x.treated IS DISTINCT FROM e.treated THEN 'treated' END,
            CASE WHEN x.feed_price IS DISTINCT FROM e.feed_price THEN 'feed_price' END,
            CASE WHEN x.markup_ratio IS DISTINCT FROM exp_markup THEN 'markup_ratio' END,
            CASE WHEN x.rating IS DISTINCT FROM exp_rating THEN 'rating' END,
            CASE WHEN x.retail_price IS DISTINCT FROM round(e.feed_price * exp_markup, 2) THEN 'retail_price' END,
            CASE WHEN x.price_per_carat IS DISTINCT FROM round(e.feed_price / e.carats, 2) THEN 'price_per_carat' END,
            CASE WHEN x.availability IS DISTINCT FROM e.availability THEN 'availability' END,
            CASE WHEN x.raw_availability IS DISTINCT FROM e.raw_availability THEN 'raw_availability' END,
            CASE WHEN x.hold_id IS DISTINCT FROM e.hold_id THEN 'hold_id' END,
            CASE WHEN x.image_url IS DISTINCT FROM e.image_url THEN 'image_url' END,
            CASE WHEN x.video_url IS DISTINCT FROM e.video_url THEN 'video_url' END,
            CASE WHEN x.certificate_lab IS DISTINCT FROM e.certificate_lab THEN 'certificate_lab' END,
            CASE WHEN x.certificate_number IS DISTINCT FROM e.certificate_number THEN 'certificate_number' END,
            CASE WHEN x.certificate_pdf_url IS DISTINCT FROM e.certificate_pdf_url THEN 'certificate_pdf_url' END,
            CASE WHEN x.measurements IS DISTINCT FROM e.measurements THEN 'measurements' END,
            CASE WHEN x.attributes IS DISTINCT FROM e.attributes THEN 'attributes' END,
            CASE WHEN x.supplier_name IS DISTINCT FROM e.supplier_name THEN 'supplier_name' END,
            CASE WHEN x.supplier_legal_name IS DISTINCT FROM e.supplier_legal_name THEN 'supplier_legal_name' END,
            CASE WHEN x.status <> 'active' THEN 'status' END], NULL) AS bad
    FROM e LEFT JOIN diamonds x ON x.feed = 'nivoda' AND x.supplier_stone_id = e.sid)
SELECT CASE WHEN count(*) FILTER (WHERE missing OR cardinality(bad) > 0) = 0
            THEN 'ok (' || count(*) || ' rows)'
            ELSE count(*) FILTER (WHERE missing OR cardinality(bad) > 0) || ' mismatches, e.g. ' ||
                 (SELECT sid || ': ' || CASE WHEN missing THEN 'missing' ELSE array_to_string(bad, ',') END
                  FROM cmp WHERE missing OR cardinality(bad) > 0 ORDER BY sid LIMIT 1) END
FROM cmp
$$;

-- Bulk variant for large tests and benchmarks: 5,000 distinct generated items replicated under
-- the stone ids lo..hi (new rows only, pending). Each replica is its own physical stone: it gets
-- its own certificate number (3000000000 + n), as every stone of a real feed has; replicas that
-- shared their base item's certificate would all be one listing (domain/offer.h).
CREATE OR REPLACE FUNCTION dm_test.ingest_bulk(r uuid, lo bigint, hi bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TABLE IF NOT EXISTS dm_test.base AS SELECT i, dm_test.item(i, 0) AS t FROM generate_series(1, 5000) i;
    INSERT INTO raw_diamonds_nivoda (supplier_stone_id, offer_id, payload, payload_hash, run_id, last_seen_run_id)
    SELECT 'stone-' || n, 'offer-' || n, x::json, encode(sha256(convert_to(x, 'UTF8')), 'hex'), r, r
    FROM (SELECT n, replace(replace(replace(b.t, '"stone-' || b.i || '"', '"stone-' || n || '"'),
                                    '"offer-' || b.i || '"', '"offer-' || n || '"'),
                            '"' || (1000000000 + b.i) || '"', '"' || (3000000000 + n) || '"') AS x
          FROM generate_series(lo, hi) n JOIN dm_test.base b ON b.i = 1 + n % 5000) s;
END $$;
