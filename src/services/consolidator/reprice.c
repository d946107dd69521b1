/* reprice.c - set-based repricing of the active catalogue with the active pricing rules. */
#include "services/consolidator/reprice.h"

#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

/* The rule choice mirrors dm_pricing_match (domain/pricing.c); keep the two in step. */
static const char *REPRICE_SQL =
    "WITH rules AS MATERIALIZED (SELECT id, priority, carat_min, carat_max, "
    "ARRAY(SELECT upper(s) FROM unnest(shapes) s) AS shapes, lab_grown, feed, price_min, "
    "price_max, markup_ratio, rating FROM pricing_rules WHERE active), "
    "priced AS (SELECT d.id, d.retail_price AS old_retail, "
    "coalesce(m.markup_ratio, 1.1500::numeric(6,4)) AS markup, m.rating, m.id AS rule_id "
    "FROM diamonds d LEFT JOIN LATERAL (SELECT r.id, r.markup_ratio, r.rating FROM rules r "
    "WHERE (r.carat_min IS NULL OR d.carats >= r.carat_min) "
    "AND (r.carat_max IS NULL OR d.carats <= r.carat_max) "
    "AND (cardinality(r.shapes) = 0 OR upper(d.shape) = ANY (r.shapes)) "
    "AND (r.lab_grown IS NULL OR r.lab_grown = d.lab_grown) "
    "AND (r.feed IS NULL OR r.feed = d.feed) "
    "AND (r.price_min IS NULL OR d.feed_price >= r.price_min) "
    "AND (r.price_max IS NULL OR d.feed_price <= r.price_max) "
    "ORDER BY r.priority, r.id LIMIT 1) m ON true WHERE d.status = 'active'), "
    "upd AS (UPDATE diamonds d SET markup_ratio = p.markup, rating = p.rating, "
    "pricing_rule_id = p.rule_id, retail_price = round(d.feed_price * p.markup, 2), "
    "updated_at = now() FROM priced p WHERE d.id = p.id AND ("
    "d.markup_ratio IS DISTINCT FROM p.markup OR d.rating IS DISTINCT FROM p.rating "
    "OR d.pricing_rule_id IS DISTINCT FROM p.rule_id "
    "OR d.retail_price IS DISTINCT FROM round(d.feed_price * p.markup, 2)) "
    "RETURNING p.old_retail IS DISTINCT FROM d.retail_price AS price_changed) "
    "SELECT (SELECT count(*) FROM priced), count(*), count(*) FILTER (WHERE price_changed) "
    "FROM upd";

enum dm_err dm_reprice_all(struct dm_db *db, struct dm_reprice_result *out, struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    int64_t t0 = dm_mono_ms();
    PGresult *r = NULL;
    enum dm_err e = dm_db_query(db, REPRICE_SQL, 0, NULL, &r, err);
    if (e != DM_OK)
        return e;
    out->examined = strtoll(dm_db_get(r, 0, 0), NULL, 10);
    out->updated = strtoll(dm_db_get(r, 0, 1), NULL, 10);
    out->prices_changed = strtoll(dm_db_get(r, 0, 2), NULL, 10);
    PQclear(r);
    out->duration_ms = dm_mono_ms() - t0;
    return DM_OK;
}
