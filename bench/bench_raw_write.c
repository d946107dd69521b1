/*
 * bench_raw_write.c - the measurement behind the worker's raw write path. One feed page (a
 * response file) becomes 50 new stones per statement (ids suffixed per page), written into
 * raw_diamonds_nivoda (json column, all its indexes) three ways, interleaved in rounds so
 * machine noise hits all alike:
 *   binary   INSERT ... SELECT FROM unnest($::text[] x4) ON CONFLICT, arrays in binary format
 *            (what the worker does, without the CAS around it)
 *   text     the same statement with text array literals (escaped)
 *   copy     BEGIN; COPY into a temp staging table; INSERT ... SELECT ON CONFLICT; COMMIT
 * usage: bench_raw_write DATABASE_URL PAGE.json [PAGES_PER_VARIANT] -> one JSON line; PAGE.json
 * is a GraphQL search response or the simulator's GET /admin/stones?limit=50.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/jsonwrite.h"

#define UPSERT_TAIL                                                                                \
    " ON CONFLICT (supplier_stone_id) DO UPDATE SET last_seen_run_id = EXCLUDED.last_seen_run_id," \
    " payload = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.payload"                   \
    " ELSE EXCLUDED.payload END, payload_hash = EXCLUDED.payload_hash"                             \
    " WHERE r.payload_hash IS DISTINCT FROM EXCLUDED.payload_hash"                                 \
    " OR r.last_seen_run_id IS DISTINCT FROM EXCLUDED.last_seen_run_id"

static const char *SQL_UNNEST =
    "INSERT INTO raw_diamonds_nivoda AS r (supplier_stone_id, offer_id, payload, payload_hash,"
    " run_id, last_seen_run_id) SELECT t.sid, t.oid, t.payload::json, t.hash, $5, $5"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(sid, oid, payload, "
    "hash)" UPSERT_TAIL;
static const char *SQL_FROM_STAGE =
    "INSERT INTO raw_diamonds_nivoda AS r (supplier_stone_id, offer_id, payload, payload_hash,"
    " run_id, last_seen_run_id) SELECT sid, oid, payload::json, hash, $1, $1 FROM "
    "stage" UPSERT_TAIL;

struct row {
    char *sid, *oid, *payload, hash[DM_SHA256_HEX_LEN];
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void be32(struct dm_buf *b, uint32_t v)
{
    char p[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    if (dm_buf_append(b, p, 4) != DM_OK)
        abort();
}

static void bin_array(struct dm_buf *b, struct row *rows, int n, int field)
{
    be32(b, 1);
    be32(b, 0);
    be32(b, 25);
    be32(b, (uint32_t)n);
    be32(b, 1);
    for (int i = 0; i < n; i++) {
        const char *s = field == 0   ? rows[i].sid
                        : field == 1 ? rows[i].oid
                        : field == 2 ? rows[i].payload
                                     : rows[i].hash;
        be32(b, (uint32_t)strlen(s));
        if (dm_buf_append_str(b, s) != DM_OK)
            abort();
    }
}

static void text_array(struct dm_buf *b, struct row *rows, int n, int field)
{
    if (dm_buf_append_char(b, '{') != DM_OK)
        abort();
    for (int i = 0; i < n; i++) {
        const char *s = field == 0   ? rows[i].sid
                        : field == 1 ? rows[i].oid
                        : field == 2 ? rows[i].payload
                                     : rows[i].hash;
        if ((i && dm_buf_append_char(b, ',') != DM_OK) || dm_buf_append_char(b, '"') != DM_OK)
            abort();
        for (; *s; s++) {
            if ((*s == '"' || *s == '\\') && dm_buf_append_char(b, '\\') != DM_OK)
                abort();
            if (dm_buf_append_char(b, *s) != DM_OK)
                abort();
        }
        if (dm_buf_append_char(b, '"') != DM_OK)
            abort();
    }
    if (dm_buf_append_char(b, '}') != DM_OK)
        abort();
}

/* COPY text format escaping: backslash, tab, newline, carriage return. */
static void copy_field(struct dm_buf *b, const char *s, char end)
{
    for (; *s; s++) {
        const char *esc = *s == '\\'   ? "\\\\"
                          : *s == '\t' ? "\\t"
                          : *s == '\n' ? "\\n"
                          : *s == '\r' ? "\\r"
                                       : NULL;
        if (esc ? dm_buf_append_str(b, esc) != DM_OK : dm_buf_append_char(b, *s) != DM_OK)
            abort();
    }
    if (dm_buf_append_char(b, end) != DM_OK)
        abort();
}

static int check(PGresult *r, const char *what)
{
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) {
        fprintf(stderr, "%s: %s\n", what, PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

static int write_page(PGconn *pg, int variant, struct row *rows, int n, const char *run_id)
{
    struct dm_buf a[4];
    for (int f = 0; f < 4; f++)
        dm_buf_init(&a[f], 64 << 20);
    int rc = 0;
    if (variant == 0 || variant == 1) {
        const char *vals[5];
        int lens[5] = {0}, fmts[5] = {0};
        for (int f = 0; f < 4; f++) {
            if (variant == 0)
                bin_array(&a[f], rows, n, f);
            else
                text_array(&a[f], rows, n, f);
            vals[f] = a[f].data;
            lens[f] = (int)a[f].len;
            fmts[f] = variant == 0;
        }
        vals[4] = run_id;
        rc = check(PQexecParams(pg, SQL_UNNEST, 5, NULL, vals, lens, fmts, 0), "unnest");
    } else {
        struct dm_buf *c = &a[0];
        for (int i = 0; i < n; i++) {
            copy_field(c, rows[i].sid, '\t');
            copy_field(c, rows[i].oid, '\t');
            copy_field(c, rows[i].payload, '\t');
            copy_field(c, rows[i].hash, '\n');
        }
        rc = check(PQexec(pg, "BEGIN"), "begin");
        if (!rc)
            rc = check(PQexec(pg, "COPY stage FROM STDIN"), "copy");
        if (!rc && (PQputCopyData(pg, c->data, (int)c->len) != 1 || PQputCopyEnd(pg, NULL) != 1))
            rc = -1;
        if (!rc)
            rc = check(PQgetResult(pg), "copy end");
        const char *vals[1] = {run_id};
        if (!rc)
            rc = check(PQexecParams(pg, SQL_FROM_STAGE, 1, NULL, vals, NULL, NULL, 0), "stage");
        if (!rc)
            rc = check(PQexec(pg, "COMMIT"), "commit");
    }
    for (int f = 0; f < 4; f++)
        dm_buf_free(&a[f]);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_raw_write DATABASE_URL RESPONSE.json [PAGES]\n");
        return 2;
    }
    int pages = argc > 3 ? atoi(argv[3]) : 60;
    json_error_t je;
    json_t *root = json_load_file(argv[2], 0, &je);
    json_t *items = json_object_get(
        json_object_get(json_object_get(json_object_get(root, "data"), "as"), "diamonds_by_query"),
        "items");
    if (items == NULL) /* the simulator's /admin/stones shape: {"total":N,"items":[...]} */
        items = json_object_get(root, "items");
    int n = (int)json_array_size(items);
    if (n == 0)
        return 1;
    PGconn *pg = PQconnectdb(argv[1]);
    if (PQstatus(pg) != CONNECTION_OK)
        return 1;
    if (check(PQexec(pg, "CREATE TEMP TABLE stage (sid text, oid text, payload text, hash text) "
                         "ON COMMIT DELETE ROWS"),
              "stage table"))
        return 1;
    char run_id[DM_UUID_LEN];
    dm_uuid_v4(run_id);
    struct row *rows = calloc((size_t)n, sizeof(*rows));
    double secs[3] = {0};
    long stones[3] = {0};
    const int round = 10;
    int page_no = 0;
    for (int done = 0; done < pages; done += round) {
        for (int v = 0; v < 3; v++) {
            for (int p = 0; p < round; p++, page_no++) {
                for (int i = 0; i < n; i++) {
                    json_t *item = json_deep_copy(json_array_get(items, i));
                    json_t *d = json_object_get(item, "diamond");
                    char sid[96];
                    snprintf(sid, sizeof(sid), "%s-%d", json_string_value(json_object_get(d, "id")),
                             page_no);
                    json_object_set_new(d, "id", json_string(sid));
                    struct dm_buf b;
                    dm_buf_init(&b, 1 << 20);
                    if (dm_json_write(&b, item) != DM_OK)
                        return 1;
                    rows[i].payload = dm_buf_steal(&b);
                    rows[i].sid = dm_xstrdup(sid);
                    rows[i].oid = dm_xstrdup(json_string_value(json_object_get(item, "id")));
                    dm_sha256_hex(rows[i].payload, strlen(rows[i].payload), rows[i].hash);
                    json_decref(item);
                }
                double t0 = now_s();
                if (write_page(pg, v, rows, n, run_id) != 0)
                    return 1;
                secs[v] += now_s() - t0;
                stones[v] += n;
                for (int i = 0; i < n; i++) {
                    free(rows[i].payload);
                    free(rows[i].sid);
                    free(rows[i].oid);
                }
            }
        }
    }
    printf("{\"raw_write_binary_unnest_rows_per_s\":%.0f,\"raw_write_text_unnest_rows_per_s\":%.0f,"
           "\"raw_write_copy_stage_rows_per_s\":%.0f,\"raw_write_rows_per_variant\":%ld}\n",
           (double)stones[0] / secs[0], (double)stones[1] / secs[1], (double)stones[2] / secs[2],
           stones[0]);
    free(rows);
    PQfinish(pg);
    json_decref(root);
    return 0;
}
