/* fuzz_graphql.c - libFuzzer driver for the feed simulator's GraphQL input: the parser alone
 * (dm_gql_parse with a fixed variables object) and whole POST /graphql bodies through
 * dm_feedsim_graphql against a small inventory. The marker @TOKEN@ in the input is replaced by
 * a valid token so inputs reach the authenticated operations. Any bytes must give a reply with
 * an errors array or data, never a crash, hang or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "services/feedsim/feedsim.h"
#include "services/feedsim/graphql.h"

static struct dm_feedsim *sim;
static json_t *vars;
static char token[256];

static void init(void)
{
    dm_log_init("fuzz", DM_LOG_FATAL);
    struct dm_feedsim_opts o = {.seed = 9, .count = 60};
    o.faults.price_min = o.faults.price_max = -1;
    sim = dm_feedsim_new(&o);
    vars = json_pack("{s:s,s:i,s:{s:{s:i,s:i}},s:[s,s]}", "token", "x", "limit", 5, "query",
                     "dollar_value", "from", 100, "to", 90000, "shapes", "ROUND", "OVAL");
    const char *auth = "{\"query\":\"{ authenticate { username_and_password(username: \\\"sim\\\", "
                       "password: \\\"sim\\\") { token } } }\"}";
    struct dm_feedsim_reply r = {0};
    dm_buf_init(&r.body, 1u << 20);
    dm_feedsim_graphql(sim, auth, strlen(auth), &r);
    struct dm_error err = {0};
    json_t *j = dm_json_parse(r.body.data, r.body.len, r.body.len, &err);
    const char *t = json_string_value(
        json_object_get(json_object_get(json_object_get(json_object_get(j, "data"), "authenticate"),
                                        "username_and_password"),
                        "token"));
    if (t == NULL)
        abort();
    if (dm_strlcpy(token, t, sizeof(token)) != DM_OK)
        abort();
    json_decref(j);
    dm_buf_free(&r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sim == NULL)
        init();
    if (size > 200000)
        return 0;
    /* 1. The parser on the raw bytes. */
    struct dm_gql_doc *doc = NULL;
    struct dm_error err = {0};
    if (dm_gql_parse((const char *)data, size, vars, &doc, &err) == DM_OK)
        dm_gql_doc_free(doc);

    /* 2. A whole request body, with @TOKEN@ replaced by a live token. */
    struct dm_buf body;
    dm_buf_init(&body, 1u << 20);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *m = memmem(p, (size_t)(end - p), "@TOKEN@", 7);
        size_t n = m ? (size_t)(m - p) : (size_t)(end - p);
        if (dm_buf_append(&body, p, n) != DM_OK)
            break;
        if (!m)
            break;
        if (dm_buf_append_str(&body, token) != DM_OK)
            break;
        p = m + 7;
    }
    struct dm_feedsim_reply r = {0};
    dm_buf_init(&r.body, 64u << 20);
    dm_feedsim_graphql(sim, body.data ? body.data : "", body.len, &r);
    /* The reply is always JSON. */
    json_t *j = dm_json_parse(r.body.data, r.body.len, r.body.len, &err);
    if (j == NULL || !json_is_object(j))
        abort();
    json_decref(j);
    dm_buf_free(&r.body);
    dm_buf_free(&body);
    return 0;
}
