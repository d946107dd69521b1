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

-- A run with its partitions all completed (or n_failed failed). Returns the run id.
CREATE OR REPLACE FUNCTION dm_test.make_run(rtype text, n_failed int DEFAULT 0, is_capped boolean DEFAULT false)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE r uuid;
BEGIN
    INSERT INTO run_metadata (run_type, updated_from, updated_to, expected_workers, capped)
    VALUES (rtype, '2000-01-01T00:00:00Z', date_trunc('milliseconds', now()), 3, is_capped) RETURNING run_id INTO r;
    INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, estimated_records, completed, failed)
    SELECT r, 'p' || k, k * 1000, k * 1000 + 999, 10, k >= n_failed, k < n_failed FROM generate_series(0, 2) k;
    RETURN r;
END $$;

-- Ingest items lo..hi with salt into raw rows for run r, as a worker would (pending when the
-- payload hash changed, last_seen_run_id always).
CREATE OR REPLACE FUNCTION dm_test.ingest(r uuid, lo bigint, hi bigint, salt int) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO raw_diamonds_nivoda (supplier_stone_id, offer_id, payload, payload_hash, run_id, last_seen_run_id)
    SELECT 'stone-' || i, 'offer-' || i, t::json, encode(sha256(convert_to(t, 'UTF8')), 'hex'), r, r
    FROM (SELECT i, dm_test.item(i, CASE WHEN salt > 0 AND dm_test.rnd(i, salt, 99, 100) < 10 THEN salt ELSE 0 END) AS t
          FROM generate_series(lo, hi) i) s
    ON CONFLICT (supplier_stone_id) DO UPDATE SET
        payload = CASE WHEN raw_diamonds_nivoda.payload_hash = EXCLUDED.payload_hash THEN raw_diamonds_nivoda.payload ELSE EXCLUDED.payload END,
        consolidation_status = CASE WHEN raw_diamonds_nivoda.payload_hash = EXCLUDED.payload_hash THEN raw_diamonds_nivoda.consolidation_status ELSE 'pending' END,
        run_id = CASE WHEN raw_diamonds_nivoda.payload_hash = EXCLUDED.payload_hash THEN raw_diamonds_nivoda.run_id ELSE EXCLUDED.run_id END,
        payload_hash = EXCLUDED.payload_hash,
        last_seen_run_id = EXCLUDED.last_seen_run_id, updated_at = now()
$$;
