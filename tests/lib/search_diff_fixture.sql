-- search_diff_fixture.sql - the catalogue of tests/integration/search_index_diff.sh: a few
-- thousand diamonds with the data a search index gets wrong. Deterministic (hashtext picks),
-- psql variables :lo and :hi: the generator's stones lo..hi (a later call adds more).
--   * enumerated columns with lower-case, mixed-case, empty, padded and non-ASCII values
--     ('d', 'fancy', 'N', 'ñ', 'Ñ', '', ' D', 'Cushion Modified', 'ÉTOILE'), NULL cut / polish /
--     symmetry / fluorescence / certificate lab, several feeds (one upper-case, never matched
--     by the lower-cased feed filter), all four availabilities, lab_grown both;
--   * many ties in retail_price, feed_price, carats and created_at (ordering falls to the id);
--   * numbers at the edges of their columns (carats 0.01 / 9999.99, prices 0.00 /
--     9999999999.99, markup 0.0001 / 99.9999, trailing zeros), timestamps before 1970 and in
--     year 0099, microseconds;
--   * strings with quotes, backslashes, commas, spaces, unicode (BMP, astral, U+2028) and
--     control characters (tab, 0x01, 0x1f, DEL) in supplier_stone_id, urls, certificate
--     numbers and supplier names; one certificate number shared by several stones;
--   * measurements / attributes JSON with nulls, nesting, arrays holding nulls, big and small
--     numbers, escapes, empty objects;
--   * about 4 % status = 'deleted'.
CREATE OR REPLACE FUNCTION pg_temp.h(g bigint, k int, n int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT ((hashtext(g::text || ':' || k::text)::bigint & 2147483647) % n)::int
$$;
CREATE OR REPLACE FUNCTION pg_temp.pick(a text[], g bigint, k int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT a[1 + pg_temp.h(g, k, cardinality(a))]
$$;

INSERT INTO diamonds (id, feed, supplier_stone_id, offer_id, shape, carats, color, clarity, cut,
    polish, symmetry, fluorescence, lab_grown, treated, feed_price, price_per_carat, retail_price,
    markup_ratio, rating, pricing_rule_id, availability, raw_availability, hold_id, image_url,
    video_url, certificate_lab, certificate_number, certificate_pdf_url, measurements,
    attributes, supplier_name, supplier_legal_name, status, deleted_at, content_hash, created_at,
    updated_at)
SELECT md5('diamond-' || g)::uuid,
    pg_temp.pick(ARRAY['nivoda','nivoda','nivoda','nivoda','rapnet','idex','Other-Feed'], g, 1),
    CASE WHEN g % 41 = 0 THEN pg_temp.pick(ARRAY['q"uote-', 'back\slash-', '石-', '💎-', 'ctl' || chr(1) || '-',
              'tab' || chr(9), 'comma,', ' sp ', 'del' || chr(127), 'ls' || chr(8232), 'us' || chr(31), 'it''s-'], g, 2) || g
         ELSE 'S-' || g END,
    'O-' || g,
    pg_temp.pick(ARRAY['ROUND','ROUND','ROUND','ROUND','OVAL','OVAL','oval','Round','EMERALD','CUSHION',
        'Cushion Modified','PEAR','PRINCESS','HEART','ÉTOILE'], g, 3),
    CASE WHEN g % 211 = 0 THEN 0.01 WHEN g % 223 = 0 THEN 9999.99
         ELSE (0.30 + pg_temp.h(g, 4, 36) * 0.1)::numeric(6,2) END,
    pg_temp.pick(ARRAY['D','E','F','G','H','I','J','K','D','E','F','G','H','d','e','fancy',
        'Fancy Intense Yellow','N','z','ñ','Ñ','',' D','L','M'], g, 5),
    pg_temp.pick(ARRAY['FL','IF','VVS1','VVS2','VS1','VS2','SI1','SI2','VS1','VS2','SI1','SI3','I1','I2','I3',
        'vs1','vvs2','n/a','','Si1'], g, 6),
    pg_temp.pick(ARRAY[NULL,'EX','VG','GD','EX','ex','Excellent','F'], g, 7),
    pg_temp.pick(ARRAY[NULL,'EX','VG','gd','EX'], g, 8),
    pg_temp.pick(ARRAY[NULL,'EX','VG','G','EX'], g, 9),
    pg_temp.pick(ARRAY[NULL,'NONE','FAINT','MEDIUM BLUE','none','Strong','NONE'], g, 10),
    pg_temp.h(g, 11, 3) = 0,
    pg_temp.h(g, 12, 17) = 0,
    fp.p, round(fp.p / c.c, 2), round(fp.p * m.m, 2), m.m,
    CASE WHEN pg_temp.h(g, 14, 4) = 0 THEN NULL ELSE 1 + pg_temp.h(g, 14, 10) END,
    CASE WHEN pg_temp.h(g, 15, 3) = 0 THEN NULL ELSE md5('rule-' || pg_temp.h(g, 15, 5))::uuid END,
    pg_temp.pick(ARRAY['available','available','available','on_hold','sold','unavailable'], g, 16),
    pg_temp.pick(ARRAY[NULL,'AVAILABLE','On Hold','memo','Sold out'], g, 17),
    CASE WHEN pg_temp.h(g, 18, 5) = 0 THEN 'hold-' || g END,
    pg_temp.pick(ARRAY[NULL, 'https://img.example/' || g || '.jpg', 'https://img.example/a b"c\d?x=1&y=' || g,
        'https://ex.例/é/' || g, 'https://img.example/' || g || chr(10) || 'x'], g, 19),
    CASE WHEN pg_temp.h(g, 20, 3) = 0 THEN 'https://video.example/' || g END,
    pg_temp.pick(ARRAY[NULL,'GIA','GIA','IGI','gia','HRD'], g, 21),
    CASE WHEN g % 53 = 0 THEN 'DUP-1'
         WHEN g % 37 = 0 THEN pg_temp.pick(ARRAY['C"', 'C\', '証', 'C ', 'C,'], g, 22) || g
         WHEN pg_temp.h(g, 22, 9) = 0 THEN NULL
         ELSE 'C' || (1000000 + g) END,
    CASE WHEN pg_temp.h(g, 23, 2) = 0 THEN 'https://certs.example/' || g || '.pdf' END,
    (ARRAY[NULL, '{}', '{"length":6.5,"width":null,"depth":4.0}',
        '{"a":{"b":null,"c":[1,null,{"d":null,"e":"x"}]},"z":[]}',
        '{"big":123456789012345678901234567890,"neg":-0.0,"tiny":1e-7,"s":"q\"b\\\n\u0001é💎"}',
        '{"length":6.50,"width":6.40,"depth":4.00,"ratio":1.015625}'])[1 + pg_temp.h(g, 24, 6)]::jsonb,
    (ARRAY[NULL, '{"eyeClean":true,"milky":null}', '{"keys":["Cloud",null,"Feather"],"n":{"m":{"k":null}}}',
        '{"ünï":"cødé","tab":"a\tb","ctl":"\u001f"}', '[1,2,null]', '"just a string"'])[1 + pg_temp.h(g, 25, 6)]::jsonb,
    pg_temp.pick(ARRAY[NULL, 'Supplier 1', 'Supplier 2', 'Søren & "Co"', 'back\slash', 'ctl' || chr(2)], g, 26),
    CASE WHEN pg_temp.h(g, 27, 2) = 0 THEN 'Legal ' || pg_temp.h(g, 27, 9) END,
    CASE WHEN pg_temp.h(g, 28, 25) = 0 THEN 'deleted' ELSE 'active' END,
    CASE WHEN pg_temp.h(g, 28, 25) = 0 THEN timestamptz '2026-01-02 03:04:05+00' END,
    md5(g::text) || md5((g + 1)::text),
    CASE WHEN g % 101 = 0 THEN timestamptz '1969-12-31 23:59:59.999999+00'
         WHEN g % 103 = 0 THEN timestamptz '0099-06-01 12:00:00+00'
         WHEN g % 107 = 0 THEN timestamptz '2030-01-01 00:00:00.1+00' + (g || ' microseconds')::interval
         ELSE timestamptz '2025-01-01 00:00:00+00' + (pg_temp.h(g, 29, 60) || ' minutes')::interval END,
    timestamptz '2026-01-01 00:00:00+00' + (pg_temp.h(g, 30, 1000) || ' seconds')::interval
FROM generate_series(:lo, :hi) g,
LATERAL (SELECT CASE WHEN g % 211 = 0 THEN 0.01 WHEN g % 223 = 0 THEN 9999.99
                     ELSE (0.30 + pg_temp.h(g, 4, 36) * 0.1)::numeric(6,2) END AS c) c,
LATERAL (SELECT CASE WHEN g % 229 = 0 THEN 0.00 WHEN g % 233 = 0 THEN 9999999.99
                     ELSE (100 * (1 + pg_temp.h(g, 13, 60)) + 0.5 * pg_temp.h(g, 31, 2))::numeric(12,2) END AS p) fp,
LATERAL (SELECT (ARRAY[1.1500, 1.1500, 1.1500, 1.2000, 1.3333, 0.0001, 99.9999])[1 + pg_temp.h(g, 32, 7)]::numeric(6,4) AS m) m;
