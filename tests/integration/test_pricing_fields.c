/* test_pricing_fields.c - dm_pricing_fields (domain/pricing.h) against the real schema and the
 * real reprice statement, on a fresh migrated database:
 *   - every row names a column of pricing_rules with the row's type, nullability and
 *     "required" (NOT NULL without a default), and every column of pricing_rules has a row: a
 *     field added in one place only (row or migration) fails here;
 *   - every criterion compares a diamonds column of the matching type (the same scale for a
 *     numeric bound), so the C match and the SQL compare the same values;
 *   - the C match (rules loaded by dm_consolidator_load_rules, chosen by dm_pricing_apply) and
 *     the reprice statement (dm_reprice_all) choose the same rule and retail price for every
 *     stone: with one rule per criterion active alone (each matching some stones but not all,
 *     bounds taken from real stones so the inclusive edges are hit), then with all of them
 *     together (priorities, an id tie-break, a rule using every criterion, an inactive rule). */
#include "testlib.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/db.h"
#include "core/buf.h"
#include "core/num.h"
#include "domain/pricing.h"
#include "services/consolidator/consolidator.h"
#include "services/consolidator/reprice.h"

#define NSTONES 400

static struct dm_db *open_db(const char *prefix)
{
    char *url = dm_test_new_db(prefix);
    struct dm_error err = {0};
    struct dm_db *db = NULL;
    if (dm_db_open(url, 4, &db, &err) != DM_OK)
        fail_msg("dm_db_open: %s", err.message);
    free(url);
    return db;
}

/* All rows of sql; fails the test when it fails. */
static PGresult *rows(struct dm_db *db, const char *sql)
{
    PGresult *r = NULL;
    struct dm_error err = {0};
    if (dm_db_query(db, sql, 0, NULL, &r, &err) != DM_OK)
        fail_msg("%s: %s", sql, err.message);
    return r;
}

/* Columns of a table: name, format_type, NOT NULL, has a default (in attnum order). */
static PGresult *columns(struct dm_db *db, const char *table)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT attname, format_type(atttypid, atttypmod), attnotnull, atthasdef "
             "FROM pg_attribute WHERE attrelid = '%s'::regclass AND attnum > 0 AND NOT "
             "attisdropped ORDER BY attnum",
             table);
    return rows(db, sql);
}

static int column_row(const PGresult *r, const char *name)
{
    for (int i = 0; i < PQntuples(r); i++)
        if (!strcmp(PQgetvalue(r, i, 0), name))
            return i;
    return -1;
}

static void test_rows_are_the_columns(void **state)
{
    (void)state;
    struct dm_db *db = open_db("pricing_cols");
    PGresult *cols = columns(db, "pricing_rules");
    PGresult *stones = columns(db, "diamonds");
    assert_true(PQntuples(cols) > 0);
    for (int i = 0; i < PQntuples(cols); i++)
        if (dm_pricing_field_find(PQgetvalue(cols, i, 0)) == NULL)
            fail_msg("column pricing_rules.%s has no row in dm_pricing_fields "
                     "(src/domain/pricing.c)",
                     PQgetvalue(cols, i, 0));
    for (size_t k = 0; k < dm_pricing_nfields; k++) {
        const struct dm_pricing_field *f = &dm_pricing_fields[k];
        int i = column_row(cols, f->name);
        if (i < 0)
            fail_msg("dm_pricing_fields row %s has no column in pricing_rules (add it in a "
                     "migration)",
                     f->name);
        const char *type = PQgetvalue(cols, i, 1);
        bool notnull = PQgetvalue(cols, i, 2)[0] == 't', hasdef = PQgetvalue(cols, i, 3)[0] == 't';
        if (strcmp(type, f->sql_type))
            fail_msg("pricing_rules.%s is %s, its row says %s", f->name, type, f->sql_type);
        if (notnull == f->nullable)
            fail_msg("pricing_rules.%s: NOT NULL is %d, its row says nullable %d", f->name, notnull,
                     f->nullable);
        if ((notnull && !hasdef) != f->required)
            fail_msg("pricing_rules.%s: NOT NULL without default is %d, its row says required %d",
                     f->name, notnull && !hasdef, f->required);
        if (f->server != (f->type == DM_PRT_UUID || f->type == DM_PRT_TIME))
            fail_msg("row %s: only the id and timestamps are set by the server", f->name);
        if (f->server && !hasdef)
            fail_msg("pricing_rules.%s is set by the server but has no default", f->name);
        if (f->match == DM_PRM_NONE)
            continue;
        /* A criterion: the stone's column exists and holds the same kind of value. */
        int s = f->stone ? column_row(stones, f->stone) : -1;
        if (s < 0)
            fail_msg("criterion %s compares diamonds.%s, which does not exist", f->name,
                     f->stone ? f->stone : "(none)");
        const char *stype = PQgetvalue(stones, s, 1);
        char want[128];
        snprintf(want, sizeof(want), f->type == DM_PRT_SET ? "%s[]" : "%s", stype);
        if (strcmp(want, f->sql_type))
            fail_msg("criterion %s (%s) compares diamonds.%s (%s): the types differ", f->name,
                     f->sql_type, f->stone, stype);
        if (f->rule == DM_PRICING_NONE || f->input == DM_PRICING_NONE)
            fail_msg("criterion %s is not held by the rule and the stone", f->name);
    }
    PQclear(cols);
    PQclear(stones);
    dm_db_free(db);
}

/* ---- the C match and the reprice statement agree ---- */

/* Stones varied in every criterion's column: shapes in mixed case, both growths, two feeds,
 * carats and prices with repeats (so bounds taken from a stone are met exactly by others). */
static const char *const STONES =
    "INSERT INTO diamonds (feed, supplier_stone_id, offer_id, shape, carats, color, clarity, "
    "lab_grown, feed_price, price_per_carat, retail_price, markup_ratio, availability, "
    "content_hash) SELECT CASE WHEN g % 3 = 0 THEN 'other' ELSE 'nivoda' END, 's' || g, 'o' || g, "
    "(ARRAY['ROUND', 'OVAL', 'pear', 'Heart', 'CUSHION MODIFIED'])[1 + g % 5], "
    "0.30 + (g % 37) * 0.07, 'G', 'VS1', g % 2 = 0, 100 + (g * 37 % 2003) + (g % 7) * 0.01, 1, 1, "
    "1.1500, 'available', repeat('0', 64) FROM generate_series(1, 400) g";

/* The rule's value for criterion f taken from a stone: a MIN from a high stone, a MAX from a
 * low one (each matches a few stones, the taken one exactly), IN and EQ from the n-th stone;
 * with one_stone, every criterion from the n-th stone. */
static enum dm_err rule_value(struct dm_buf *b, const struct dm_pricing_field *f, int n,
                              bool one_stone)
{
    if (one_stone && f->match != DM_PRM_IN)
        return dm_buf_appendf(
            b, "(SELECT %s FROM diamonds ORDER BY supplier_stone_id OFFSET %d LIMIT 1)", f->stone,
            n);
    switch (f->match) {
    case DM_PRM_MIN:
        return dm_buf_appendf(b, "(SELECT %s FROM diamonds ORDER BY %s DESC OFFSET 40 LIMIT 1)",
                              f->stone, f->stone);
    case DM_PRM_MAX:
        return dm_buf_appendf(b, "(SELECT %s FROM diamonds ORDER BY %s OFFSET 40 LIMIT 1)",
                              f->stone, f->stone);
    case DM_PRM_IN: /* lower case: the match ignores case */
        return dm_buf_appendf(b,
                              "(SELECT ARRAY[lower(%s)] FROM diamonds ORDER BY supplier_stone_id "
                              "OFFSET %d LIMIT 1)",
                              f->stone, n);
    case DM_PRM_EQ:
        return dm_buf_appendf(
            b, "(SELECT %s FROM diamonds ORDER BY supplier_stone_id OFFSET %d LIMIT 1)", f->stone,
            n);
    case DM_PRM_NONE:
        break;
    }
    return DM_ERR_INTERNAL;
}

/* INSERT a rule named name with priority and markup and, for each criterion c with
 * use[c], its value from rule_value. */
static void add_rule(struct dm_db *db, const char *name, int priority, const char *markup,
                     const bool *use, int n, bool one_stone, bool active)
{
    struct dm_buf cols, vals;
    dm_buf_init(&cols, 4096);
    dm_buf_init(&vals, 16384);
    enum dm_err e = dm_buf_appendf(&cols, "name, priority, markup_ratio, rating, active");
    if (e == DM_OK)
        e = dm_buf_appendf(&vals, "'%s', %d, %s, %d, %s", name, priority, markup, 1 + priority % 10,
                           active ? "true" : "false");
    for (size_t k = 0; k < dm_pricing_nfields && e == DM_OK; k++) {
        if (!use[k])
            continue;
        e = dm_buf_appendf(&cols, ", %s", dm_pricing_fields[k].name);
        if (e == DM_OK)
            e = dm_buf_append_str(&vals, ", ");
        if (e == DM_OK)
            e = rule_value(&vals, &dm_pricing_fields[k], n, one_stone);
    }
    assert_int_equal(e, DM_OK);
    char *sql = dm_xasprintf("INSERT INTO pricing_rules (%s) VALUES (%s)", cols.data, vals.data);
    dm_test_exec(db, sql);
    free(sql);
    dm_buf_free(&cols);
    dm_buf_free(&vals);
}

/* The stones with the rule and retail price the reprice statement gave them, and each
 * criterion's stone value. */
static PGresult *priced_stones(struct dm_db *db)
{
    struct dm_buf sql;
    dm_buf_init(&sql, 8192);
    enum dm_err e = dm_buf_append_str(&sql, "SELECT supplier_stone_id, "
                                            "coalesce(pricing_rule_id::text, ''), retail_price");
    for (size_t k = 0; k < dm_pricing_nfields && e == DM_OK; k++)
        if (dm_pricing_fields[k].match != DM_PRM_NONE)
            e = dm_buf_appendf(&sql, ", %s", dm_pricing_fields[k].stone);
    if (e == DM_OK)
        e = dm_buf_append_str(&sql, " FROM diamonds ORDER BY supplier_stone_id");
    assert_int_equal(e, DM_OK);
    PGresult *r = rows(db, sql.data);
    dm_buf_free(&sql);
    assert_int_equal(PQntuples(r), NSTONES);
    return r;
}

/* Stone i of r as the match's input (pointers into r). */
static void stone_input(const PGresult *r, int i, struct dm_pricing_input *in)
{
    memset(in, 0, sizeof(*in));
    int col = 3;
    for (size_t k = 0; k < dm_pricing_nfields; k++) {
        const struct dm_pricing_field *f = &dm_pricing_fields[k];
        if (f->match == DM_PRM_NONE)
            continue;
        const char *v = PQgetisnull(r, i, col) ? NULL : PQgetvalue(r, i, col);
        char *at = (char *)in + f->input;
        col++;
        if (f->type == DM_PRT_FIXED) {
            assert_non_null(v);
            assert_int_equal(dm_parse_fixed(v, f->scale, (int64_t *)at), DM_OK);
        } else if (f->type == DM_PRT_BOOL) {
            *(bool *)at = v != NULL && v[0] == 't';
        } else {
            *(const char **)at = v;
        }
    }
}

/* Reprice with the active rules, then check every stone against the C match. Returns how many
 * stones the rule called only (if not NULL) chose. */
static int reprice_and_compare(struct dm_db *db, const char *only)
{
    struct dm_reprice_result res;
    struct dm_error err = {0};
    if (dm_reprice_all(db, NULL, &res, &err) != DM_OK)
        fail_msg("dm_reprice_all: %s", err.message);
    assert_int_equal(res.examined, NSTONES);
    struct dm_db_conn *c = NULL;
    assert_int_equal(dm_db_acquire(db, 5000, &c, &err), DM_OK);
    struct dm_pricing_rule *rules = NULL;
    size_t n = 0;
    if (dm_consolidator_load_rules(c, &rules, &n, &err) != DM_OK)
        fail_msg("dm_consolidator_load_rules: %s", err.message);
    dm_db_release(c);
    PGresult *r = priced_stones(db);
    int chosen = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        struct dm_pricing_input in;
        stone_input(r, i, &in);
        struct dm_pricing_result p;
        assert_int_equal(dm_pricing_apply(rules, n, &in, &p, &err), DM_OK);
        const char *c_rule = p.rule_id ? p.rule_id : "", *sql_rule = PQgetvalue(r, i, 1);
        int64_t sql_retail = 0;
        assert_int_equal(dm_parse_fixed(PQgetvalue(r, i, 2), 2, &sql_retail), DM_OK);
        if (strcmp(c_rule, sql_rule) || sql_retail != p.retail_price_cents)
            fail_msg("stone %s (%s): C chose rule '%s' retail %lld, the reprice SQL '%s' %s",
                     PQgetvalue(r, i, 0), only ? only : "all rules", c_rule,
                     (long long)p.retail_price_cents, sql_rule, PQgetvalue(r, i, 2));
        chosen += p.rule_id != NULL;
    }
    PQclear(r);
    dm_pricing_rules_free(rules, n);
    return chosen;
}

static void test_sql_matches_c(void **state)
{
    (void)state;
    struct dm_db *db = open_db("pricing_match");
    dm_test_exec(db, "DELETE FROM pricing_rules"); /* the migration's default rule */
    dm_test_exec(db, STONES);
    bool use[DM_PRICING_MAX_FIELDS] = {false}, all[DM_PRICING_MAX_FIELDS] = {false};
    int ncriteria = 0;
    for (size_t k = 0; k < dm_pricing_nfields; k++) {
        const struct dm_pricing_field *f = &dm_pricing_fields[k];
        if (f->match == DM_PRM_NONE)
            continue;
        all[k] = true;
        /* One rule using criterion f alone, the only active rule. */
        memset(use, 0, sizeof(use));
        use[k] = true;
        add_rule(db, f->name, 10 + ncriteria, "1.2345", use, 3 + ncriteria, false, true);
        char *only = dm_xasprintf("UPDATE pricing_rules SET active = (name = '%s')", f->name);
        dm_test_exec(db, only);
        free(only);
        int chosen = reprice_and_compare(db, f->name);
        if (chosen == 0 || chosen == NSTONES)
            fail_msg("criterion %s matched %d of %d stones: the test stones must vary in "
                     "diamonds.%s (STONES)",
                     f->name, chosen, NSTONES, f->stone);
        ncriteria++;
    }
    assert_true(ncriteria > 0);
    /* Together: a rule with every criterion first, then the criteria's rules all at one
     * priority (the smaller id wins), an inactive catch-all that never applies and an active
     * one last. */
    dm_test_exec(db, "UPDATE pricing_rules SET active = true");
    add_rule(db, "every criterion", 1, "1.5000", all, 7, true, true);
    memset(use, 0, sizeof(use));
    add_rule(db, "inactive", 0, "9.0000", use, 0, false, false);
    add_rule(db, "catch-all", 1000, "1.1000", use, 0, false, true);
    dm_test_exec(db, "UPDATE pricing_rules SET priority = 10 WHERE priority BETWEEN 10 AND 999");
    int chosen = reprice_and_compare(db, NULL);
    assert_int_equal(chosen, NSTONES); /* the catch-all */
    dm_test_check_scalar(db,
                         "SELECT count(DISTINCT pricing_rule_id) > 2 AND count(*) FILTER "
                         "(WHERE pricing_rule_id = (SELECT id FROM pricing_rules WHERE name = "
                         "'every criterion')) > 0 FROM diamonds",
                         "t");
    /* No rule at all: the default markup, no rule, for C and SQL alike. */
    dm_test_exec(db, "UPDATE pricing_rules SET active = false");
    assert_int_equal(reprice_and_compare(db, "no rule"), 0);
    dm_db_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_are_the_columns),
        cmocka_unit_test(test_sql_matches_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
