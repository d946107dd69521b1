/* test_pricing_fields.c - the rows of dm_pricing_fields (domain/pricing.h) are complete for what
 * reads them: a criterion is held by the rule and by the stone and compares like with like; a
 * lower bound has its upper bound (the API checks min <= max per pair); validation has its
 * bounds and messages; and each criterion, set alone on an otherwise "any" rule, is what
 * decides dm_pricing_match (the table drives the match, row by row). The schema side is
 * it.test_pricing_fields. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "domain/pricing.h"

#define NONE DM_PRICING_NONE

static void test_rows_complete(void **state)
{
    (void)state;
    assert_true(dm_pricing_nfields > 0 && dm_pricing_nfields <= DM_PRICING_MAX_FIELDS);
    int criteria = 0;
    for (size_t i = 0; i < dm_pricing_nfields; i++) {
        const struct dm_pricing_field *f = &dm_pricing_fields[i];
        assert_non_null(f->name);
        assert_non_null(f->sql_type);
        assert_ptr_equal(dm_pricing_field_find(f->name), f); /* names are unique */
        if (f->server)
            assert_false(f->required);
        if (f->type == DM_PRT_INT || f->type == DM_PRT_FIXED) {
            if (f->range_msg == NULL || !(f->lo < f->hi))
                fail_msg("%s: a number needs its bounds and range message", f->name);
        }
        if (f->type == DM_PRT_TEXT || f->type == DM_PRT_SET)
            assert_true(f->max > 0);
        if (f->type == DM_PRT_SET) {
            assert_non_null(f->known);
            assert_non_null(f->item);
            assert_int_not_equal(f->flag, NONE);
        }
        if (f->type == DM_PRT_FIXED && f->nullable && f->rule != NONE)
            assert_int_not_equal(f->flag, NONE); /* NULL needs its "has" flag */
        if (f->match == DM_PRM_NONE)
            continue;
        criteria++;
        if (f->rule == NONE || f->input == NONE || f->stone == NULL)
            fail_msg("criterion %s: held by the rule and the stone, named in diamonds", f->name);
        switch (f->match) {
        case DM_PRM_MIN:
        case DM_PRM_MAX: {
            assert_int_equal(f->type, DM_PRT_FIXED);
            enum dm_pricing_match other = f->match == DM_PRM_MIN ? DM_PRM_MAX : DM_PRM_MIN;
            int pairs = 0;
            for (size_t j = 0; j < dm_pricing_nfields; j++)
                pairs += dm_pricing_fields[j].match == other &&
                         !strcmp(dm_pricing_fields[j].stone, f->stone) &&
                         dm_pricing_fields[j].scale == f->scale;
            if (pairs != 1)
                fail_msg("bound %s: exactly one opposite bound on %s", f->name, f->stone);
            break;
        }
        case DM_PRM_IN:
            assert_int_equal(f->type, DM_PRT_SET);
            break;
        case DM_PRM_EQ:
            assert_true(f->type == DM_PRT_BOOL || f->type == DM_PRT_TEXT);
            assert_true(f->nullable); /* NULL is "any" */
            break;
        case DM_PRM_NONE:
            break;
        }
    }
    assert_true(criteria > 0);
    /* The loader reads the id and priority; the price needs the markup. */
    assert_int_not_equal(dm_pricing_field_find("id")->rule, NONE);
    assert_int_not_equal(dm_pricing_field_find("priority")->rule, NONE);
    assert_int_not_equal(dm_pricing_field_find("markup_ratio")->rule, NONE);
}

/* A rule that matches any stone. */
static void any_rule(struct dm_pricing_rule *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "00000000-0000-4000-8000-000000000001");
    r->lab_grown = -1;
    r->markup_e4 = 12000;
}

/* Set criterion f of r to the stone's own value (so the stone matches) or, with miss, to one
 * the stone does not meet. */
static void set_criterion(const struct dm_pricing_field *f, struct dm_pricing_rule *r,
                          const struct dm_pricing_input *in, bool miss, char **owned)
{
    char *rv = (char *)r + f->rule;
    const char *iv = (const char *)in + f->input;
    switch (f->match) {
    case DM_PRM_MIN:
    case DM_PRM_MAX:
        if (f->flag != NONE)
            *(bool *)((char *)r + f->flag) = true;
        *(int64_t *)rv = *(const int64_t *)iv + (miss ? (f->match == DM_PRM_MIN ? 1 : -1) : 0);
        break;
    case DM_PRM_IN:
        owned[0] = dm_xstrdup(miss ? "NO SUCH NAME" : *(const char *const *)iv);
        for (char *p = owned[0]; *p; p++) /* another case: the match ignores case */
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        *(char ***)rv = owned;
        *(int *)((char *)r + f->flag) = 1;
        break;
    case DM_PRM_EQ:
        if (f->type == DM_PRT_BOOL) {
            *(int *)rv = (*(const bool *)iv != miss) ? 1 : 0;
        } else {
            owned[0] = miss ? dm_xstrdup("no such value") : dm_xstrdup(*(const char *const *)iv);
            *(char **)rv = owned[0];
        }
        break;
    case DM_PRM_NONE:
        break;
    }
}

static void test_each_criterion_decides(void **state)
{
    (void)state;
    struct dm_pricing_input in = {.shape = "CUSHION MODIFIED",
                                  .carats_c2 = 151,
                                  .lab_grown = true,
                                  .feed = "nivoda",
                                  .feed_price_cents = 123456};
    for (size_t i = 0; i < dm_pricing_nfields; i++) {
        const struct dm_pricing_field *f = &dm_pricing_fields[i];
        if (f->match == DM_PRM_NONE)
            continue;
        for (int miss = 0; miss <= 1; miss++) {
            struct dm_pricing_rule r;
            char *owned[1] = {NULL};
            any_rule(&r);
            assert_int_equal(dm_pricing_match(&r, 1, &in), 0);
            set_criterion(f, &r, &in, miss, owned);
            if (dm_pricing_match(&r, 1, &in) != (miss ? -1 : 0))
                fail_msg("criterion %s: a rule %s the stone's value %s", f->name,
                         miss ? "missing" : "equal to", miss ? "matched" : "did not match");
            free(owned[0]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_complete),
        cmocka_unit_test(test_each_criterion_decides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
