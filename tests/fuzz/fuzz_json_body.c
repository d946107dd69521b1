/*
 * fuzz_json_body.c - libFuzzer driver for the API's JSON request bodies: bounded parsing
 * (core/json.h, 100 kB like the server) and the allowlisted analytics query builder
 * (api_query_build) for each table; the first input byte picks the table. Invalid bodies must
 * be refused cleanly, valid ones must produce SQL whose values are all parameters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "adapters/db/search_sql.h"
#include "domain/search_query.h"
#include "services/api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > API_MAX_BODY + 1)
        return 0;
    static const char *tables[] = {"diamonds", "run_metadata", "worker_runs", "api_keys"};
    const char *table = tables[data[0] % 4];
    struct dm_error err = {0};
    json_t *body = dm_json_parse((const char *)data + 1, size - 1, API_MAX_BODY, &err);
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    struct dm_sql s;
    dm_sql_init(&s);
    int64_t limit = 0, offset = 0;
    struct dm_sq_error qe;
    memset(&qe, 0, sizeof(qe));
    if (api_query_build(table, body, &s, &limit, &offset, &qe) == DM_OK) {
        if (limit < 1 || limit > 1000 || offset < 0)
            abort();
        /* No quote from the input can reach the SQL text. */
        if (strchr(s.text.data, '\'') != NULL)
            abort();
    } else if (qe.param[0] == '\0') {
        abort(); /* every refusal names the offending parameter */
    }
    dm_sql_free(&s);
    json_decref(body);
    return 0;
}
