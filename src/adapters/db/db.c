/* db.c - bounded libpq pool with reconnection and SQLSTATE mapping. */
#include "adapters/db/db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"

struct dm_db_conn {
    struct dm_db *db;
    PGconn *pg;
    bool in_use;
    bool in_tx;
};

struct dm_db {
    char *conninfo;
    int size;
    struct dm_db_conn *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int no_prepare; /* prepared statements do not survive between calls */
};

struct dm_db *dm_db_new(const char *conninfo, int size)
{
    struct dm_db *db = dm_xcalloc(1, sizeof(*db));
    db->conninfo = dm_xstrdup(conninfo);
    db->size = size > 0 ? size : 1;
    db->slots = dm_xcalloc((size_t)db->size, sizeof(struct dm_db_conn));
    for (int i = 0; i < db->size; i++)
        db->slots[i].db = db;
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    return db;
}

enum dm_err dm_db_open(const char *conninfo, int size, struct dm_db **out, struct dm_error *err)
{
    struct dm_db *db = dm_db_new(conninfo, size);
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(db, 10000, &c, err);
    if (e != DM_OK) {
        dm_db_free(db);
        return e;
    }
    dm_db_release(c);
    *out = db;
    return DM_OK;
}

void dm_db_free(struct dm_db *db)
{
    if (db == NULL)
        return;
    for (int i = 0; i < db->size; i++)
        if (db->slots[i].pg)
            PQfinish(db->slots[i].pg);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cv);
    free(db->slots);
    free(db->conninfo);
    free(db);
}

const char *dm_db_conninfo(const struct dm_db *db)
{
    return db->conninfo;
}

static enum dm_err connect_slot(struct dm_db_conn *c, struct dm_error *err)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        return DM_OK;
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->pg = PQconnectdb(c->db->conninfo);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        /* The message may echo host names but never the password. */
        const char *m = PQerrorMessage(c->pg);
        dm_error_set(err, DM_ERR_DB_RETRY, "database connection failed: %.*s",
                     (int)strcspn(m, "\n"), m);
        PQfinish(c->pg);
        c->pg = NULL;
        return DM_ERR_DB_RETRY;
    }
    c->in_tx = false;
    return DM_OK;
}

enum dm_err dm_db_acquire(struct dm_db *db, int timeout_ms, struct dm_db_conn **out,
                          struct dm_error *err)
{
    struct timespec deadline = dm_deadline_after(CLOCK_REALTIME, timeout_ms);
    struct dm_db_conn *c = NULL;
    pthread_mutex_lock(&db->mu);
    for (;;) {
        /* Prefer an already-connected free slot. */
        for (int i = 0; i < db->size && c == NULL; i++)
            if (!db->slots[i].in_use && db->slots[i].pg)
                c = &db->slots[i];
        for (int i = 0; i < db->size && c == NULL; i++)
            if (!db->slots[i].in_use)
                c = &db->slots[i];
        if (c)
            break;
        if (pthread_cond_timedwait(&db->cv, &db->mu, &deadline) != 0) {
            pthread_mutex_unlock(&db->mu);
            /* The code is returned literally so the analyzer sees *out is set on DM_OK. */
            dm_error_set(err, DM_ERR_TIMEOUT, "no database connection free within %d ms",
                         timeout_ms);
            return DM_ERR_TIMEOUT;
        }
    }
    c->in_use = true;
    pthread_mutex_unlock(&db->mu);
    enum dm_err e = connect_slot(c, err);
    if (e != DM_OK) {
        pthread_mutex_lock(&db->mu);
        c->in_use = false;
        pthread_cond_signal(&db->cv);
        pthread_mutex_unlock(&db->mu);
        return e;
    }
    *out = c;
    return DM_OK;
}

void dm_db_release(struct dm_db_conn *c)
{
    if (c == NULL)
        return;
    if (c->pg && (c->in_tx || PQtransactionStatus(c->pg) != PQTRANS_IDLE)) {
        if (PQtransactionStatus(c->pg) == PQTRANS_ACTIVE) {
            PQfinish(c->pg); /* a COPY or query left half-done: drop the connection */
            c->pg = NULL;
        } else {
            PGresult *r = PQexec(c->pg, "ROLLBACK");
            PQclear(r);
        }
    }
    c->in_tx = false;
    if (c->pg && PQstatus(c->pg) != CONNECTION_OK) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    struct dm_db *db = c->db;
    pthread_mutex_lock(&db->mu);
    c->in_use = false;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
}

PGconn *dm_db_pg(struct dm_db_conn *c)
{
    return c->pg;
}

enum dm_err dm_db_map_sqlstate(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return DM_ERR_DB_RETRY; /* no SQLSTATE: the connection broke */
    if (!strncmp(s, "08", 2) || !strncmp(s, "57P", 3) || !strcmp(s, "40001") ||
        !strcmp(s, "40P01") || !strncmp(s, "53", 2) || !strcmp(s, "55P03"))
        return DM_ERR_DB_RETRY;
    if (!strcmp(s, "23505"))
        return DM_ERR_CONFLICT;
    if (!strncmp(s, "22", 2) || !strncmp(s, "23", 2))
        return DM_ERR_INVALID;
    if (!strcmp(s, "42P01") || !strcmp(s, "42703"))
        return DM_ERR_SCHEMA;
    return DM_ERR_DB;
}

enum dm_err dm_db_execv(struct dm_db_conn *c, const char *sql, int nparams,
                        const char *const *params, const int *lengths, const int *formats,
                        PGresult **res, struct dm_error *err)
{
    if (res)
        *res = NULL;
    for (int attempt = 0;; attempt++) {
        if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
            if (c->in_tx)
                return dm_error_set(err, DM_ERR_DB_RETRY,
                                    "database connection lost in transaction");
            enum dm_err e = connect_slot(c, err);
            if (e != DM_OK)
                return e;
        }
        PGresult *r = PQexecParams(c->pg, sql, nparams, NULL, params, lengths, formats, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN ||
            st == PGRES_COPY_OUT) {
            if (res)
                *res = r;
            else
                PQclear(r);
            return DM_OK;
        }
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        if (msg == NULL)
            msg = PQerrorMessage(c->pg);
        enum dm_err code = dm_db_map_sqlstate(state);
        bool broken = PQstatus(c->pg) != CONNECTION_OK;
        dm_error_set(err, code, "%.*s", (int)strcspn(msg, "\n"), msg);
        if (err && state)
            snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state);
        PQclear(r);
        if (broken && !c->in_tx && attempt == 0) {
            /* Server restarted or connection dropped: reconnect and retry once. */
            PQfinish(c->pg);
            c->pg = NULL;
            continue;
        }
        if (broken) {
            PQfinish(c->pg);
            c->pg = NULL;
        }
        return code;
    }
}

enum dm_err dm_db_exec(struct dm_db_conn *c, const char *sql, int nparams,
                       const char *const *params, PGresult **res, struct dm_error *err)
{
    return dm_db_execv(c, sql, nparams, params, NULL, NULL, res, err);
}

enum dm_err dm_db_exec_prepared(struct dm_db_conn *c, const char *name, const char *sql,
                                int nparams, const char *const *params, const int *lengths,
                                const int *formats, PGresult **res, struct dm_error *err)
{
    PGconn *pg = c->pg;
    if (atomic_load(&c->db->no_prepare) || pg == NULL || PQstatus(pg) != CONNECTION_OK || c->in_tx)
        return dm_db_execv(c, sql, nparams, params, lengths, formats, res, err);
    char derived[24];
    if (name == NULL) {
        char hash[DM_SHA256_HEX_LEN];
        dm_sha256_hex(sql, strlen(sql), hash);
        snprintf(derived, sizeof(derived), "dm_%.16s", hash);
        name = derived;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *r = PQexecPrepared(pg, name, nparams, params, lengths, formats, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            if (res)
                *res = r;
            else
                PQclear(r);
            return DM_OK;
        }
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        if (state && strcmp(state, "26000") != 0 && PQstatus(pg) == CONNECTION_OK) {
            /* A real error of the statement (it was rolled back): report it. */
            const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
            enum dm_err code = dm_db_map_sqlstate(state);
            dm_error_set(err, code, "%s", msg ? msg : "query failed");
            if (err)
                snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state);
            PQclear(r);
            return code;
        }
        PQclear(r);
        if (state == NULL || PQstatus(pg) != CONNECTION_OK)
            break; /* connection trouble: dm_db_execv reconnects */
        if (attempt == 1) {
            atomic_store(&c->db->no_prepare, 1);
            dm_warn(NULL, "prepared statements do not persist on this connection "
                          "(transaction pooler?); planning each statement");
            break;
        }
        PGresult *pr = PQprepare(pg, name, sql, nparams, NULL);
        const char *ps = PQresultErrorField(pr, PG_DIAG_SQLSTATE);
        bool ok = PQresultStatus(pr) == PGRES_COMMAND_OK || (ps && !strcmp(ps, "42P05"));
        PQclear(pr);
        if (!ok)
            break;
    }
    return dm_db_execv(c, sql, nparams, params, lengths, formats, res, err);
}

/* Acquire, run (prepared or not), release: the one body of dm_db_query and
 * dm_db_query_prepared. */
static enum dm_err query_once(struct dm_db *db, int timeout_ms, bool prepared, const char *sql,
                              int nparams, const char *const *params, PGresult **res,
                              struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(db, timeout_ms, &c, err);
    if (e != DM_OK)
        return e;
    if (prepared)
        e = dm_db_exec_prepared(c, NULL, sql, nparams, params, NULL, NULL, res, err);
    else
        e = dm_db_exec(c, sql, nparams, params, res, err);
    dm_db_release(c);
    return e;
}

enum dm_err dm_db_query(struct dm_db *db, const char *sql, int nparams, const char *const *params,
                        PGresult **res, struct dm_error *err)
{
    return query_once(db, 10000, false, sql, nparams, params, res, err);
}

enum dm_err dm_db_query_prepared(struct dm_db *db, const char *sql, int nparams,
                                 const char *const *params, PGresult **res, struct dm_error *err)
{
    return query_once(db, 5000, true, sql, nparams, params, res, err);
}

enum dm_err dm_db_begin(struct dm_db_conn *c, struct dm_error *err)
{
    enum dm_err e = dm_db_exec(c, "BEGIN", 0, NULL, NULL, err);
    if (e == DM_OK)
        c->in_tx = true;
    return e;
}

enum dm_err dm_db_commit(struct dm_db_conn *c, struct dm_error *err)
{
    enum dm_err e = dm_db_exec(c, "COMMIT", 0, NULL, NULL, err);
    c->in_tx = false;
    return e;
}

void dm_db_rollback(struct dm_db_conn *c)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK) {
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        PQclear(r);
    }
    c->in_tx = false;
}

bool dm_db_in_tx(struct dm_db_conn *c)
{
    return c->in_tx;
}

bool dm_db_ping(struct dm_db *db)
{
    struct dm_db_conn *c = NULL;
    if (dm_db_acquire(db, 2000, &c, NULL) != DM_OK)
        return false;
    enum dm_err e = dm_db_exec(c, "SELECT 1", 0, NULL, NULL, NULL);
    dm_db_release(c);
    return e == DM_OK;
}

const char *dm_db_get(const PGresult *r, int row, int col)
{
    if (r == NULL || row < 0 || row >= PQntuples(r) || col < 0 || col >= PQnfields(r) ||
        PQgetisnull(r, row, col))
        return NULL;
    return PQgetvalue(r, row, col);
}

enum dm_err dm_db_get_i64(const PGresult *r, int row, int col, int64_t *out)
{
    int64_t v;
    if (dm_parse_i64(dm_db_get(r, row, col), INT64_MIN, INT64_MAX, &v) != DM_OK)
        return DM_ERR_INVALID;
    *out = v;
    return DM_OK;
}

enum dm_err dm_db_get_i64_or(const PGresult *r, int row, int col, int64_t if_null, int64_t *out)
{
    if (r != NULL && row >= 0 && row < PQntuples(r) && col >= 0 && col < PQnfields(r) &&
        PQgetisnull(r, row, col)) {
        *out = if_null;
        return DM_OK;
    }
    return dm_db_get_i64(r, row, col, out);
}

enum dm_err dm_db_bad_value(const PGresult *r, int row, int col, const char *what,
                            struct dm_error *err)
{
    const char *name = r != NULL && col >= 0 && col < PQnfields(r) ? PQfname(r, col) : NULL;
    return dm_error_set(err, DM_ERR_DB, "%s: column %s of row %d is not an integer", what,
                        name ? name : "?", row);
}

int64_t dm_db_row_i64_or(struct dm_db_row *rd, int col, int64_t if_null)
{
    int64_t v = 0;
    if (dm_db_get_i64_or(rd->r, rd->row, col, if_null, &v) != DM_OK) {
        if (rd->bad_col < 0)
            rd->bad_col = col;
        return 0;
    }
    return v;
}

int64_t dm_db_row_i64(struct dm_db_row *rd, int col)
{
    int64_t v = 0;
    if (dm_db_get_i64(rd->r, rd->row, col, &v) != DM_OK) {
        if (rd->bad_col < 0)
            rd->bad_col = col;
        return 0;
    }
    return v;
}

enum dm_err dm_db_row_check(const struct dm_db_row *rd, const char *what, struct dm_error *err)
{
    if (rd->bad_col < 0)
        return DM_OK;
    return dm_db_bad_value(rd->r, rd->row, rd->bad_col, what, err);
}
