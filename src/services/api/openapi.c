/*
 * openapi.c - GET /openapi.json, an OpenAPI 3.0 document generated from the route table (so it
 * covers every route by construction) with both security schemes, and GET /api-docs, a
 * self-contained HTML page (no external scripts or styles) that renders it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/search_query.h"
#include "services/api/api.h"

static json_t *param(const char *name, const char *in, bool required, const char *type,
                     const char *desc)
{
    json_t *p = json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", name, "in", in, "required", required,
                          "schema", "type", type);
    if (desc)
        json_object_set_new(p, "description", json_string(desc));
    return p;
}

static json_t *multi(const char *name, const char *desc)
{
    json_t *p = json_pack("{s:s,s:s,s:b,s:{s:s,s:{s:s}},s:s,s:b}", "name", name, "in", "query",
                          "required", 0, "schema", "type", "array", "items", "type", "string",
                          "style", "form", "explode", 1);
    json_object_set_new(p, "description", json_string(desc));
    return p;
}

static json_t *search_params(void)
{
    json_t *a = json_array();
    /* The filters from their one table (domain/search_query.h). */
    for (size_t i = 0; i < dm_sq_nfilters; i++) {
        const struct dm_sq_filter *f = &dm_sq_filters[i];
        json_array_append_new(a,
                              f->kind == DM_SQF_LIST
                                  ? multi(f->name, f->doc)
                                  : param(f->name, "query", false,
                                          f->kind == DM_SQF_BOOL ? "boolean" : "number", f->doc));
    }
    json_t *sort = param("sort_by", "query", false, "string", "default created_at");
    json_object_set_new(json_object_get(sort, "schema"), "enum",
                        json_pack("[s,s,s,s,s,s,s]", "created_at", "retail_price", "feed_price",
                                  "price_model_price", "carats", "color", "clarity"));
    json_array_append_new(a, sort);
    json_t *order = param("sort_order", "query", false, "string", "default desc");
    json_object_set_new(json_object_get(order, "schema"), "enum",
                        json_pack("[s,s]", "asc", "desc"));
    json_array_append_new(a, order);
    json_array_append_new(a, param("page", "query", false, "integer", ">= 1, default 1"));
    char limit_doc[64];
    snprintf(limit_doc, sizeof(limit_doc), "1..%d, default %d", DM_SQ_MAX_LIMIT,
             DM_SQ_DEFAULT_LIMIT);
    json_array_append_new(a, param("limit", "query", false, "integer", limit_doc));
    json_array_append_new(
        a, param("cursor", "query", false, "string", "keyset cursor from pagination.nextCursor"));
    json_t *inc = param("include", "query", false, "string",
                        "facets: add a top-level \"facets\" member (the Facets schema) for the "
                        "same filters; needs the search index (503 without it)");
    json_object_set_new(json_object_get(inc, "schema"), "enum", json_pack("[s]", "facets"));
    json_array_append_new(a, inc);
    json_array_append_new(a, param("If-None-Match", "header", false, "string", "ETag"));
    return a;
}

static json_t *body_schema(const char *method, const char *pattern)
{
    if (strstr(pattern, "/purchase"))
        return json_pack("{s:s,s:[s],s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}}", "type", "object",
                         "required", "destination_id", "properties", "destination_id", "type",
                         "string", "reference", "type", "string", "comments", "type", "string",
                         "return_option", "type", "string");
    if (strstr(pattern, "/triggers/scheduler"))
        return json_pack("{s:s,s:{s:{s:s,s:[s,s]},s:{s:s,s:s}}}", "type", "object", "properties",
                         "run_type", "type", "string", "enum", "full", "incremental", "feed",
                         "type", "string", "description",
                         "one of FEEDS (default: the first); 400 otherwise");
    if (strstr(pattern, "/triggers/consolidate"))
        return json_pack("{s:s,s:[s],s:{s:{s:s,s:s},s:{s:s}}}", "type", "object", "required",
                         "run_id", "properties", "run_id", "type", "string", "format", "uuid",
                         "force", "type", "boolean");
    if (strstr(pattern, "/triggers/retry-workers"))
        return json_pack("{s:s,s:[s],s:{s:{s:s,s:s},s:{s:s}}}", "type", "object", "required",
                         "run_id", "properties", "run_id", "type", "string", "format", "uuid",
                         "partition_id", "type", "string");
    if (strstr(pattern, "/triggers/cancel-run"))
        return json_pack("{s:s,s:[s],s:{s:{s:s,s:s}}}", "type", "object", "required", "run_id",
                         "properties", "run_id", "type", "string", "format", "uuid");
    if (strstr(pattern, "/analytics/query"))
        return json_loads(
            "{\"type\":\"object\",\"properties\":{"
            "\"select\":{\"description\":\"columns, or count|sum|avg|min|max(column|*), each "
            "optionally 'as alias'; absent, empty or * = every allowlisted column\","
            "\"oneOf\":[{\"type\":\"string\",\"example\":\"id, shape, carats\"},"
            "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}]},"
            "\"filters\":{\"description\":\"ANDed; 'in' takes an array or a comma-separated "
            "string, 'is' null, true, false or the strings 'null', 'true', 'false' (other "
            "strings: IS NOT NULL)\",\"oneOf\":[{\"type\":\"object\",\"description\":"
            "\"{column: {operator: value}}\",\"additionalProperties\":{\"type\":\"object\"}},"
            "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
            "\"column\":{\"type\":\"string\"},\"operator\":{\"type\":\"string\",\"enum\":["
            "\"eq\",\"neq\",\"gt\",\"gte\",\"lt\",\"lte\",\"like\",\"ilike\",\"in\","
            "\"is\"]},\"value\":{}}}}]},"
            "\"order\":{\"type\":\"object\",\"properties\":{\"column\":{\"type\":\"string\"},"
            "\"ascending\":{\"type\":\"boolean\"},\"direction\":{\"type\":\"string\","
            "\"enum\":[\"asc\",\"desc\"]}}},\"order_by\":{\"description\":\"as order\"},"
            "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"default\":100},"
            "\"offset\":{\"type\":\"integer\",\"minimum\":0,\"default\":0}}}",
            0, NULL);
    if (strstr(pattern, "/pricing-rules") && !strstr(pattern, "reprice") &&
        (!strcmp(method, "POST") || !strcmp(method, "PUT")))
        return api_rules_schema(!strcmp(method, "POST"));
    return NULL;
}

/* The shapes the analytics and trigger routes serve: the reference's (shared/spec/
 * reference-contract.md §4) with ours beside them. Parsed once per request of this document. */
/* clang-format off */
static const char schemas_text[] =
"{"
"\"Time\":{\"type\":\"string\",\"format\":\"date-time\",\"example\":\"2025-01-31T12:00:00.000Z\"},"
"\"Uuid\":{\"type\":\"string\",\"format\":\"uuid\"},"
"\"Listing\":{\"type\":\"object\",\"description\":\"one listing per physical stone: the chosen offer's fields (id is the listing id) and every active offer of the stone\","
" \"required\":[\"id\",\"feed\",\"supplierStoneId\",\"retailPrice\",\"availability\",\"offers\"],"
" \"properties\":{\"id\":{\"$ref\":\"#/components/schemas/Uuid\"},\"feed\":{\"type\":\"string\"},"
" \"supplierStoneId\":{\"type\":\"string\"},\"retailPrice\":{\"type\":\"number\"},\"availability\":{\"type\":\"string\"},"
" \"offers\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Offer\"}}}},"
"\"Offer\":{\"type\":\"object\",\"required\":[\"id\",\"feed\",\"supplierStoneId\",\"offerId\",\"feedPrice\",\"retailPrice\","
"  \"availability\",\"updatedAt\",\"chosen\"],"
" \"properties\":{\"id\":{\"$ref\":\"#/components/schemas/Uuid\",\"description\":\"the offer's own id (trades this offer)\"},"
" \"feed\":{\"type\":\"string\"},\"supplierStoneId\":{\"type\":\"string\"},\"offerId\":{\"type\":\"string\"},"
" \"feedPrice\":{\"type\":\"number\"},\"retailPrice\":{\"type\":\"number\"},"
" \"availability\":{\"type\":\"string\",\"enum\":[\"available\",\"on_hold\",\"sold\",\"unavailable\"]},"
" \"updatedAt\":{\"$ref\":\"#/components/schemas/Time\"},\"chosen\":{\"type\":\"boolean\"}}},"
"\"Facets\":{\"type\":\"object\",\"required\":[\"total\",\"facets\",\"histograms\"],"
" \"description\":\"Counts for the search's filters, from the in-memory index: exact. A dimension's own filter does not narrow its own counts (a shopper who picked ROUND still sees how many OVAL there are); values with no stone are left out.\","
" \"properties\":{\"total\":{\"type\":\"integer\",\"description\":\"stones matching every filter\"},"
" \"facets\":{\"type\":\"object\",\"description\":\"per dimension (shape, color, clarity, cut, polish, symmetry, fluorescence, certificateLab, labGrown, availability, feed): value -> count; case-insensitive dimensions are keyed by their upper-case value, colour and clarity in grade order\","
"  \"additionalProperties\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}},"
" \"histograms\":{\"type\":\"object\",\"description\":\"retailPrice (dollars) and carats: 16 buckets; a stone counts in the bucket with min < value <= max (the first includes its min)\","
"  \"properties\":{\"retailPrice\":{\"$ref\":\"#/components/schemas/Histogram\"},\"carats\":{\"$ref\":\"#/components/schemas/Histogram\"}}}}},"
"\"Histogram\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"min\",\"max\",\"count\"],"
" \"properties\":{\"min\":{\"type\":\"number\"},\"max\":{\"type\":\"number\"},\"count\":{\"type\":\"integer\"}}}},"
"\"PagePagination\":{\"type\":\"object\",\"required\":[\"total\",\"page\",\"limit\",\"totalPages\"],"
" \"properties\":{\"total\":{\"type\":\"integer\"},\"page\":{\"type\":\"integer\"},"
" \"limit\":{\"type\":\"integer\"},\"totalPages\":{\"type\":\"integer\"}}},"
"\"OffsetPagination\":{\"type\":\"object\",\"required\":[\"total\",\"limit\",\"offset\",\"count\"],"
" \"properties\":{\"total\":{\"type\":\"integer\",\"description\":\"rows matching the filters\"},"
" \"limit\":{\"type\":\"integer\"},\"offset\":{\"type\":\"integer\"},"
" \"count\":{\"type\":\"integer\",\"description\":\"rows in data\"}}},"
"\"Run\":{\"type\":\"object\",\"description\":\"The reference's RunWithStats and ours; null times are omitted\","
" \"required\":[\"runId\",\"runType\",\"status\",\"expectedWorkers\",\"completedWorkers\",\"failedWorkers\","
"  \"totalRecordsProcessed\",\"durationMs\",\"startedAt\"],"
" \"properties\":{\"runId\":{\"$ref\":\"#/components/schemas/Uuid\"},"
" \"runType\":{\"type\":\"string\",\"enum\":[\"full\",\"incremental\"]},"
" \"traceId\":{\"$ref\":\"#/components/schemas/Uuid\"},\"feed\":{\"type\":\"string\"},"
" \"status\":{\"type\":\"string\",\"enum\":[\"running\",\"consolidating\",\"completed\",\"failed\",\"partial\","
"  \"stalled\",\"cancelled\",\"skipped\"],\"description\":\"derived; the reference's four and four more\"},"
" \"expectedWorkers\":{\"type\":\"integer\",\"description\":\"partitions planned\"},"
" \"completedWorkers\":{\"type\":\"integer\"},\"failedWorkers\":{\"type\":\"integer\"},"
" \"runningWorkers\":{\"type\":\"integer\"},"
" \"totalRecordsProcessed\":{\"type\":\"integer\"},\"recordsProcessed\":{\"type\":\"integer\"},"
" \"estimatedRecords\":{\"type\":\"integer\"},\"capped\":{\"type\":\"boolean\"},"
" \"countQueries\":{\"type\":\"integer\"},"
" \"durationMs\":{\"type\":\"integer\",\"nullable\":true,\"description\":\"to completion, cancellation or the last progress; null while in progress\"},"
" \"startedAt\":{\"$ref\":\"#/components/schemas/Time\"},\"completedAt\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"cancelledAt\":{\"$ref\":\"#/components/schemas/Time\"},\"skippedAt\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"lastProgressAt\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"consolidateSentAt\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"consolidationStartedAt\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"consolidationCompletedAt\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"consolidationFailedAt\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"updatedFrom\":{\"$ref\":\"#/components/schemas/Time\"},\"updatedTo\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"watermarkBefore\":{\"$ref\":\"#/components/schemas/Time\"},\"watermarkAfter\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"stats\":{\"type\":\"object\",\"properties\":{\"processed\":{\"type\":\"integer\"},\"new\":{\"type\":\"integer\"},"
"  \"changed\":{\"type\":\"integer\"},\"unchanged\":{\"type\":\"integer\"},\"removed\":{\"type\":\"integer\"},"
"  \"failed\":{\"type\":\"integer\"}}},"
" \"consolidationDurationMs\":{\"type\":\"integer\"},\"consolidationFailures\":{\"type\":\"integer\"},"
" \"lastError\":{\"type\":\"string\"}}},"
"\"WorkerRun\":{\"type\":\"object\",\"required\":[\"id\",\"runId\",\"partitionId\",\"status\",\"recordsProcessed\",\"startedAt\"],"
" \"properties\":{\"id\":{\"$ref\":\"#/components/schemas/Uuid\"},\"runId\":{\"$ref\":\"#/components/schemas/Uuid\"},"
" \"partitionId\":{\"type\":\"string\"},\"workerId\":{\"type\":\"string\"},"
" \"status\":{\"type\":\"string\",\"enum\":[\"running\",\"completed\",\"failed\"]},"
" \"recordsProcessed\":{\"type\":\"integer\"},\"errorMessage\":{\"type\":\"string\"},"
" \"workItemPayload\":{\"type\":\"object\",\"description\":\"the WORK_ITEM sent, with totalRecords (the partition's estimate)\","
"  \"properties\":{\"totalRecords\":{\"type\":\"integer\"}}},"
" \"startedAt\":{\"$ref\":\"#/components/schemas/Time\"},\"completedAt\":{\"$ref\":\"#/components/schemas/Time\"}}},"
"\"RunDetail\":{\"type\":\"object\",\"description\":\"The reference's {run, workers}; the run's own fields also at top level, with partitions and events\","
" \"required\":[\"run\",\"workers\",\"partitions\",\"events\"],"
" \"properties\":{\"run\":{\"$ref\":\"#/components/schemas/Run\"},"
" \"workers\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/WorkerRun\"}},"
" \"partitions\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},"
" \"events\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}},"
"\"RecentFailedWorker\":{\"type\":\"object\",\"required\":[\"id\",\"runId\",\"partitionId\",\"workerId\",\"status\","
"  \"recordsProcessed\",\"errorMessage\",\"startedAt\",\"completedAt\",\"runType\",\"runStartedAt\"],"
" \"properties\":{\"id\":{\"$ref\":\"#/components/schemas/Uuid\"},\"runId\":{\"$ref\":\"#/components/schemas/Uuid\"},"
" \"partitionId\":{\"type\":\"string\"},\"workerId\":{\"type\":\"string\",\"nullable\":true},"
" \"status\":{\"type\":\"string\",\"enum\":[\"failed\"]},\"recordsProcessed\":{\"type\":\"integer\"},"
" \"errorMessage\":{\"type\":\"string\",\"nullable\":true},\"startedAt\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"completedAt\":{\"type\":\"string\",\"format\":\"date-time\",\"nullable\":true},"
" \"runType\":{\"type\":\"string\",\"enum\":[\"full\",\"incremental\"]},"
" \"runStartedAt\":{\"$ref\":\"#/components/schemas/Time\"},\"nextOffset\":{\"type\":\"integer\"},"
" \"attempts\":{\"type\":\"integer\"},\"minPrice\":{\"type\":\"integer\"},\"maxPrice\":{\"type\":\"integer\"}}},"
"\"FeedStats\":{\"type\":\"object\",\"required\":[\"feed\",\"totalDiamonds\",\"availableDiamonds\",\"onHoldDiamonds\","
"  \"soldDiamonds\",\"avgPrice\",\"minPrice\",\"maxPrice\",\"lastUpdated\"],"
" \"description\":\"ordered by totalDiamonds descending; prices are feed prices in dollars over active stones\","
" \"properties\":{\"feed\":{\"type\":\"string\"},\"totalDiamonds\":{\"type\":\"integer\"},"
" \"availableDiamonds\":{\"type\":\"integer\"},\"onHoldDiamonds\":{\"type\":\"integer\"},\"soldDiamonds\":{\"type\":\"integer\"},"
" \"avgPrice\":{\"type\":\"number\"},\"minPrice\":{\"type\":\"number\"},\"maxPrice\":{\"type\":\"number\"},"
" \"lastUpdated\":{\"type\":\"string\",\"format\":\"date-time\",\"nullable\":true},"
" \"active\":{\"type\":\"integer\"},\"deleted\":{\"type\":\"integer\"},\"minFeedPrice\":{\"type\":\"number\"},"
" \"maxFeedPrice\":{\"type\":\"number\"},\"avgRetailPrice\":{\"type\":\"number\"},"
" \"lastRunCompletedAt\":{\"$ref\":\"#/components/schemas/Time\"},\"raw\":{\"type\":\"object\"}}},"
"\"Clash\":{\"type\":\"object\",\"required\":[\"id\",\"feed\",\"supplierStoneId\",\"certificateLab\",\"certificateNumber\",\"clashFields\",\"feeds\"],"
" \"description\":\"an active offer kept apart from its certificate's listing: its grading disagrees with the reference offer's (the highest-priority feed's)\","
" \"properties\":{\"id\":{\"$ref\":\"#/components/schemas/Uuid\"},\"feed\":{\"type\":\"string\"},\"supplierStoneId\":{\"type\":\"string\"},"
" \"certificateLab\":{\"type\":\"string\"},\"certificateNumber\":{\"type\":\"string\"},"
" \"clashFields\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"enum\":[\"carat\",\"colour\",\"clarity\",\"shape\"]}},"
" \"shape\":{\"type\":\"string\"},\"carats\":{\"type\":\"number\"},\"color\":{\"type\":\"string\"},\"clarity\":{\"type\":\"string\"},"
" \"retailPrice\":{\"type\":\"number\"},\"listingId\":{\"$ref\":\"#/components/schemas/Uuid\"},\"updatedAt\":{\"$ref\":\"#/components/schemas/Time\"},"
" \"feeds\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"every feed with an active offer of the certificate\"},"
" \"certificateListing\":{\"type\":\"object\",\"description\":\"the listing the certificate is shown under: its chosen offer (absent when none is active)\","
"  \"properties\":{\"id\":{\"$ref\":\"#/components/schemas/Uuid\"},\"feed\":{\"type\":\"string\"},\"supplierStoneId\":{\"type\":\"string\"},"
"  \"shape\":{\"type\":\"string\"},\"carats\":{\"type\":\"number\"},\"color\":{\"type\":\"string\"},\"clarity\":{\"type\":\"string\"}}}}},"
"\"ConsolidationStats\":{\"type\":\"object\",\"required\":[\"totalRaw\",\"totalConsolidated\",\"totalPending\",\"progressPercent\",\"runs\",\"rawByStatus\"],"
" \"properties\":{\"totalRaw\":{\"type\":\"integer\"},\"totalConsolidated\":{\"type\":\"integer\"},"
" \"totalPending\":{\"type\":\"integer\",\"description\":\"raw rows waiting for a consolidator (pending, processing)\"},"
" \"progressPercent\":{\"type\":\"integer\"},"
" \"runs\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/ConsolidationProgress\"}},"
" \"rawByStatus\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\"},"
"  \"count\":{\"type\":\"integer\"}}}}}},"
"\"ConsolidationProgress\":{\"type\":\"object\",\"description\":\"a Run with its raw rows' consolidation\","
" \"required\":[\"runId\",\"totalRawDiamonds\",\"consolidatedCount\",\"pendingCount\",\"progressPercent\",\"oldestPendingCreatedAt\"],"
" \"properties\":{\"runId\":{\"$ref\":\"#/components/schemas/Uuid\"},\"totalRawDiamonds\":{\"type\":\"integer\"},"
" \"consolidatedCount\":{\"type\":\"integer\"},\"pendingCount\":{\"type\":\"integer\"},\"progressPercent\":{\"type\":\"integer\"},"
" \"oldestPendingCreatedAt\":{\"type\":\"string\",\"format\":\"date-time\",\"nullable\":true},"
" \"raw\":{\"type\":\"object\"},\"progress\":{\"type\":\"number\",\"description\":\"(done + failed) / total\"}}},"
"\"DashboardSummary\":{\"type\":\"object\",\"required\":[\"totalActiveDiamonds\",\"totalFeeds\",\"lastSuccessfulRun\","
"  \"currentWatermark\",\"recentRunsCount\",\"diamondsByAvailability\"],"
" \"properties\":{\"totalActiveDiamonds\":{\"type\":\"integer\"},\"totalFeeds\":{\"type\":\"integer\"},"
" \"lastSuccessfulRun\":{\"allOf\":[{\"$ref\":\"#/components/schemas/Run\"}],\"nullable\":true,"
"  \"description\":\"the run whose consolidation completed last\"},"
" \"currentWatermark\":{\"type\":\"string\",\"format\":\"date-time\",\"nullable\":true},"
" \"recentRunsCount\":{\"type\":\"object\",\"description\":\"runs started in the last 7 days\","
"  \"properties\":{\"total\":{\"type\":\"integer\"},\"completed\":{\"type\":\"integer\"},\"failed\":{\"type\":\"integer\"},"
"  \"running\":{\"type\":\"integer\"}}},"
" \"diamondsByAvailability\":{\"type\":\"object\",\"properties\":{\"available\":{\"type\":\"integer\"},"
"  \"onHold\":{\"type\":\"integer\"},\"sold\":{\"type\":\"integer\"},\"unavailable\":{\"type\":\"integer\"}}},"
" \"totalActive\":{\"type\":\"integer\"},\"available\":{\"type\":\"integer\"},\"onHold\":{\"type\":\"integer\"},"
" \"sold\":{\"type\":\"integer\"},\"unavailable\":{\"type\":\"integer\"},\"labGrown\":{\"type\":\"integer\"},"
" \"natural\":{\"type\":\"integer\"},\"deleted\":{\"type\":\"integer\"},"
" \"listings\":{\"type\":\"integer\",\"description\":\"one per physical stone (chosen active offers)\"},"
" \"clashes\":{\"type\":\"integer\",\"description\":\"active offers split off a certificate whose grading disagreed\"},"
" \"lastRun\":{\"$ref\":\"#/components/schemas/Run\"},\"recentRunsByStatus\":{\"type\":\"object\"}}},"
"\"QueryRow\":{\"type\":\"object\",\"description\":\"keys are column names or aliases; NULL is null; DECIMAL columns and count/sum/avg are strings\","
" \"additionalProperties\":{\"nullable\":true}},"
"\"SchedulerTriggered\":{\"type\":\"object\",\"required\":[\"message\",\"run_type\",\"status\",\"execution_name\",\"job_name\"],"
" \"properties\":{\"message\":{\"type\":\"string\"},\"run_type\":{\"type\":\"string\",\"enum\":[\"full\",\"incremental\"]},"
" \"status\":{\"type\":\"string\",\"enum\":[\"started\"]},\"execution_name\":{\"type\":\"string\"},\"job_name\":{\"type\":\"string\"},"
" \"requestId\":{\"$ref\":\"#/components/schemas/Uuid\"},\"runType\":{\"type\":\"string\"},\"execution\":{\"type\":\"string\"},"
" \"executor\":{\"type\":\"string\",\"enum\":[\"local\",\"azure\"]}}},"
"\"ConsolidateTriggered\":{\"type\":\"object\",\"required\":[\"message\",\"run_id\",\"trace_id\",\"force\",\"run_metadata\"],"
" \"properties\":{\"message\":{\"type\":\"string\"},\"run_id\":{\"$ref\":\"#/components/schemas/Uuid\"},"
" \"trace_id\":{\"$ref\":\"#/components/schemas/Uuid\"},\"force\":{\"type\":\"boolean\"},"
" \"run_metadata\":{\"type\":\"object\",\"properties\":{\"run_type\":{\"type\":\"string\"},\"expected_workers\":{\"type\":\"integer\"},"
"  \"completed_workers\":{\"type\":\"integer\"},\"failed_workers\":{\"type\":\"integer\"}}},"
" \"runId\":{\"$ref\":\"#/components/schemas/Uuid\"},\"messageId\":{\"type\":\"string\"},\"status\":{\"type\":\"string\",\"enum\":[\"queued\"]}}},"
"\"RetryResult\":{\"type\":\"object\",\"required\":[\"message\",\"run_id\",\"retried_partitions\",\"remaining_failed\"],"
" \"properties\":{\"message\":{\"type\":\"string\"},\"run_id\":{\"$ref\":\"#/components/schemas/Uuid\"},"
" \"retried_partitions\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
" \"remaining_failed\":{\"type\":\"integer\",\"description\":\"partitions of the run still failed\"},"
" \"runId\":{\"$ref\":\"#/components/schemas/Uuid\"},\"retried\":{\"type\":\"integer\"},\"notSent\":{\"type\":\"integer\"},"
" \"partitions\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"partitionId\":{\"type\":\"string\"},"
"  \"offset\":{\"type\":\"integer\"},\"attempt\":{\"type\":\"integer\"},\"messageId\":{\"type\":\"string\"}}}}}},"
"\"CancelResult\":{\"type\":\"object\",\"properties\":{\"runId\":{\"$ref\":\"#/components/schemas/Uuid\"},"
" \"status\":{\"type\":\"string\",\"enum\":[\"cancelled\"]},\"partitionsCancelled\":{\"type\":\"integer\"}}},"
"\"FailedWorkersList\":{\"type\":\"object\",\"required\":[\"run_id\",\"total_failed\",\"workers\"],"
" \"properties\":{\"run_id\":{\"$ref\":\"#/components/schemas/Uuid\"},\"total_failed\":{\"type\":\"integer\"},"
" \"workers\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"partition_id\",\"records_processed\",\"has_payload\",\"started_at\"],"
"  \"properties\":{\"partition_id\":{\"type\":\"string\"},\"worker_id\":{\"type\":\"string\"},\"error_message\":{\"type\":\"string\"},"
"  \"records_processed\":{\"type\":\"integer\"},\"has_payload\":{\"type\":\"boolean\",\"description\":\"retryable (not cancelled)\"},"
"  \"started_at\":{\"$ref\":\"#/components/schemas/Time\"},\"completed_at\":{\"$ref\":\"#/components/schemas/Time\"},"
"  \"min_price\":{\"type\":\"integer\"},\"max_price\":{\"type\":\"integer\"},\"next_offset\":{\"type\":\"integer\"},"
"  \"records\":{\"type\":\"integer\"},\"attempts\":{\"type\":\"integer\"},\"cancelled\":{\"type\":\"boolean\"},"
"  \"updated_at\":{\"$ref\":\"#/components/schemas/Time\"}}}}}}"
"}";
/* clang-format on */

/* The 200/202 body of a route: {data: <schema>} (with pagination for the paged lists), or NULL
 * for the generic {data}. *status receives the success status. */
static json_t *success_schema(const char *method, const char *pattern, const char **status)
{
    static const struct {
        const char *method, *pattern, *status, *schema, *pagination;
        bool list;
    } shapes[] = {
        {"GET", "/api/v2/diamonds/facets", "200", "Facets", NULL, false},
        {"GET", "/api/v2/diamonds/{id}", "200", "Listing", NULL, false},
        {"GET", "/api/v2/analytics/summary", "200", "DashboardSummary", NULL, false},
        {"GET", "/api/v2/analytics/runs", "200", "Run", "PagePagination", true},
        {"GET", "/api/v2/analytics/runs/{runId}", "200", "RunDetail", NULL, false},
        {"GET", "/api/v2/analytics/failed-workers", "200", "RecentFailedWorker", NULL, true},
        {"GET", "/api/v2/analytics/feeds", "200", "FeedStats", NULL, true},
        {"GET", "/api/v2/analytics/clashes", "200", "Clash", "OffsetPagination", true},
        {"GET", "/api/v2/analytics/consolidation", "200", "ConsolidationStats", NULL, false},
        {"GET", "/api/v2/analytics/consolidation/{runId}", "200", "ConsolidationProgress", NULL,
         false},
        {"POST", "/api/v2/analytics/query/{table}", "200", "QueryRow", "OffsetPagination", true},
        {"POST", "/api/v2/triggers/scheduler", "202", "SchedulerTriggered", NULL, false},
        {"POST", "/api/v2/triggers/consolidate", "202", "ConsolidateTriggered", NULL, false},
        {"POST", "/api/v2/triggers/retry-workers", "202", "RetryResult", NULL, false},
        {"POST", "/api/v2/triggers/cancel-run", "200", "CancelResult", NULL, false},
        {"GET", "/api/v2/triggers/failed-workers/{runId}", "200", "FailedWorkersList", NULL, false},
    };
    *status = "200";
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        if (strcmp(method, shapes[i].method) || strcmp(pattern, shapes[i].pattern))
            continue;
        char ref[96];
        snprintf(ref, sizeof(ref), "#/components/schemas/%s", shapes[i].schema);
        json_t *item = json_pack("{s:s}", "$ref", ref);
        json_t *data =
            shapes[i].list ? json_pack("{s:s,s:o}", "type", "array", "items", item) : item;
        json_t *body = json_pack("{s:s,s:[s],s:{s:o}}", "type", "object", "required", "data",
                                 "properties", "data", data);
        if (shapes[i].pagination) {
            snprintf(ref, sizeof(ref), "#/components/schemas/%s", shapes[i].pagination);
            json_object_set_new(json_object_get(body, "properties"), "pagination",
                                json_pack("{s:s}", "$ref", ref));
        }
        *status = shapes[i].status;
        return body;
    }
    return NULL;
}

static json_t *resp(const char *desc, bool error)
{
    json_t *r = json_pack("{s:s}", "description", desc);
    json_object_set_new(
        r, "content",
        json_pack("{s:{s:{s:s}}}", "application/json", "schema", "$ref",
                  error ? "#/components/schemas/Error" : "#/components/schemas/Data"));
    return r;
}

static json_t *build(void)
{
    json_t *paths = json_object();
    for (int i = 0; i < api_nroutes; i++) {
        const struct api_route *rt = &api_routes[i];
        json_t *item = json_object_get(paths, rt->pattern);
        if (item == NULL) {
            item = json_object();
            json_object_set_new(paths, rt->pattern, item);
        }
        char lower[16];
        size_t k = 0;
        for (; rt->method[k] && k + 1 < sizeof(lower); k++)
            lower[k] = (char)(rt->method[k] | 0x20);
        lower[k] = '\0';
        json_t *op = json_pack("{s:[s],s:s}", "tags", rt->tag, "summary", rt->summary);
        char opid[128];
        snprintf(opid, sizeof(opid), "%s%s", lower, rt->pattern);
        for (char *p = opid; *p; p++)
            if (*p == '/' || *p == '{' || *p == '}' || *p == '-' || *p == '.')
                *p = '_';
        json_object_set_new(op, "operationId", json_string(opid));
        json_t *params = !strcmp(rt->pattern, "/api/v2/diamonds") ||
                                 !strcmp(rt->pattern, "/api/v2/diamonds/facets")
                             ? search_params()
                             : json_array();
        for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
            const char *e = strchr(p, '}');
            char name[32];
            snprintf(name, sizeof(name), "%.*s", (int)(e - p - 1), p + 1);
            json_array_append_new(
                params, param(name, "path", true, "string", strcmp(name, "table") ? "UUID" : NULL));
        }
        if (strstr(rt->pattern, "/purchase"))
            json_array_append_new(params, param("X-Idempotency-Key", "header", true, "string",
                                                "bound to caller, diamond and body"));
        if (json_array_size(params) > 0)
            json_object_set_new(op, "parameters", params);
        else
            json_decref(params);
        json_t *schema = body_schema(rt->method, rt->pattern);
        if (schema)
            json_object_set_new(op, "requestBody",
                                json_pack("{s:b,s:{s:{s:o}}}", "required", 1, "content",
                                          "application/json", "schema", schema));
        json_t *responses = json_object();
        const char *ok_status;
        json_t *shape = success_schema(rt->method, rt->pattern, &ok_status);
        json_t *ok =
            resp(!strcmp(ok_status, "202") ? "Accepted (queued or started)" : "Success", false);
        if (shape)
            json_object_set_new(json_object_get(json_object_get(ok, "content"), "application/json"),
                                "schema", shape);
        json_object_set_new(responses, ok_status, ok);
        if (rt->perm) {
            json_object_set_new(op, "security",
                                json_pack("[{s:[]},{s:[]}]", "ApiKeyAuth", "HmacAuth"));
            json_object_set_new(responses, "400", resp("Validation error", true));
            json_object_set_new(responses, "401", resp("Missing or invalid credentials", true));
            json_object_set_new(responses, "403", resp("Missing permission", true));
            json_object_set_new(responses, "429", resp("Rate limited (Retry-After)", true));
        } else {
            json_object_set_new(op, "security", json_array());
        }
        if (strstr(rt->pattern, "{"))
            json_object_set_new(responses, "404", resp("Not found", true));
        if (!strcmp(rt->method, "POST") || !strcmp(rt->method, "PUT"))
            json_object_set_new(responses, "413", resp("Body over 100 kB", true));
        if (strstr(rt->pattern, "/hold") || strstr(rt->pattern, "/purchase") ||
            strstr(rt->pattern, "/triggers/"))
            json_object_set_new(responses, "409", resp("Conflict", true));
        json_object_set_new(responses, "503", resp("Dependency unavailable", true));
        if (!strcmp(rt->pattern, "/api/v2/diamonds"))
            json_object_set_new(responses, "304",
                                json_pack("{s:s}", "description", "Not modified (ETag)"));
        json_object_set_new(op, "responses", responses);
        json_object_set_new(item, lower, op);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "openapi", json_string("3.0.3"));
    json_object_set_new(
        doc, "info",
        json_pack("{s:s,s:s,s:s}", "title", "Diamond inventory API", "version", "2.0.0",
                  "description",
                  "Priced diamond catalogue, trading, pipeline analytics and operator actions. "
                  "Authenticate with X-API-Key, or sign with HMAC: X-Client-Id, X-Timestamp "
                  "(Unix seconds) and X-Signature = lowercase hex HMAC-SHA256 over METHOD\\n"
                  "PATH?QUERY\\nTIMESTAMP\\nhex(SHA-256(body)); +-300 s; each signature once."));
    json_object_set_new(doc, "servers", json_pack("[{s:s}]", "url", "/"));
    json_object_set_new(doc, "paths", paths);
    json_t *comp = json_object();
    json_object_set_new(comp, "securitySchemes",
                        json_pack("{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s}}", "ApiKeyAuth", "type",
                                  "apiKey", "in", "header", "name", "X-API-Key", "description",
                                  "API key issued by `diamond apikey create`", "HmacAuth", "type",
                                  "apiKey", "in", "header", "name", "X-Signature", "description",
                                  "HMAC-SHA256 signature; also send X-Client-Id and X-Timestamp"));
    json_object_set_new(
        comp, "schemas",
        json_pack("{s:{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}},s:{s:s,s:s}}},"
                  "s:{s:s,s:{s:{}}}}",
                  "Error", "type", "object", "properties", "error", "type", "object", "properties",
                  "code", "type", "string", "message", "type", "string", "details", "type",
                  "object", "manual_command", "type", "string", "manual_command", "type", "string",
                  "description", "503 only: the command that does the same by hand", "Data", "type",
                  "object", "properties", "data"));
    json_t *shapes = json_loads(schemas_text, 0, NULL);
    if (shapes == NULL)
        abort(); /* a constant of this file */
    json_object_update(json_object_get(comp, "schemas"), shapes);
    json_decref(shapes);
    json_object_set_new(doc, "components", comp);
    return doc;
}

void api_openapi(struct api_call *c)
{
    api_json(c->resp, 200, build());
}

static const char docs_html[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Diamond API</title><style>"
    "body{font:14px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}"
    "header{background:#1d2330;color:#fff;padding:16px 24px}h1{margin:0;font-size:20px}"
    "main{max-width:1000px;margin:0 auto;padding:16px 24px}"
    "h2{border-bottom:1px solid #ccd;padding-bottom:4px;margin-top:28px}"
    ".op{background:#fff;border:1px solid #dde;border-radius:6px;margin:8px 0;padding:8px 12px}"
    ".m{display:inline-block;min-width:64px;font-weight:700;font-family:monospace}"
    ".get{color:#1a7f37}.post{color:#0b5cad}.put{color:#9a6700}.delete{color:#cf222e}"
    "code{font-family:monospace}.p{color:#555;font-size:13px;margin-left:72px}"
    ".lock{font-size:12px;color:#777}</style></head><body>"
    "<header><h1>Diamond inventory API</h1><div id=\"info\"></div></header>"
    "<main id=\"doc\">Loading /openapi.json&hellip;</main><script>"
    "function esc(s){return String(s).replace(/[&<>\"]/g,function(c){return{'&':'&amp;',"
    "'<':'&lt;','>':'&gt;','\"':'&quot;'}[c]})}"
    "fetch('openapi.json').then(function(r){return r.json()}).then(function(d){"
    "document.getElementById('info').textContent=d.info.description;var tags={};"
    "Object.keys(d.paths).forEach(function(p){Object.keys(d.paths[p]).forEach(function(m){"
    "var o=d.paths[p][m];(tags[o.tags[0]]=tags[o.tags[0]]||[]).push([m,p,o])})});"
    "var h='';Object.keys(tags).forEach(function(t){h+='<h2>'+esc(t)+'</h2>';"
    "tags[t].forEach(function(x){var o=x[2];h+='<div class=op><span class=\"m '+x[0]+'\">'+"
    "x[0].toUpperCase()+'</span> <code>'+esc(x[1])+'</code> &mdash; '+esc(o.summary)+"
    "(o.security&&o.security.length?' <span class=lock>(X-API-Key or HMAC)</span>':'');"
    "(o.parameters||[]).forEach(function(p){h+='<div class=p><code>'+esc(p.name)+'</code> ('+"
    "esc(p.in)+(p.required?', required':'')+')'+(p.description?' &ndash; '+esc(p.description):"
    "'')+'</div>'});if(o.requestBody){h+='<div class=p>body: <code>'+esc(JSON.stringify("
    "o.requestBody.content['application/json'].schema.properties||{}))+'</code></div>'}"
    "h+='<div class=p>responses: '+esc(Object.keys(o.responses).join(', '))+'</div></div>'})});"
    "document.getElementById('doc').innerHTML=h}).catch(function(e){"
    "document.getElementById('doc').textContent='Cannot load openapi.json: '+e})"
    "</script></body></html>";

void api_docs(struct api_call *c)
{
    struct dm_buf *b = &c->resp->body;
    dm_buf_reset(b);
    c->resp->status = 200;
    c->resp->content_type = "text/html; charset=utf-8";
    if (dm_buf_append(b, docs_html, sizeof(docs_html) - 1) != DM_OK)
        api_fail(c, DM_ERR_INTERNAL, NULL);
}
