/* listen.c - a dedicated LISTEN connection (see listen.h). */
#include "adapters/db/listen.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/db.h"
#include "core/buf.h"

struct dm_db_listener {
    PGconn *conn;
    char channel[64];
};

static enum dm_err broken(struct dm_db_listener *l, struct dm_error *err, const char *what)
{
    const char *m = l->conn ? PQerrorMessage(l->conn) : "no connection";
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", m);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    return dm_error_set(err, DM_ERR_DB_RETRY, "%s: %s", what, msg);
}

enum dm_err dm_db_listener_open(const char *conninfo, const char *channel,
                                struct dm_db_listener **out, struct dm_error *err)
{
    *out = NULL;
    for (const char *p = channel; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            return dm_error_set(err, DM_ERR_INVALID, "listen: bad channel name");
    struct dm_db_listener *l = dm_xcalloc(1, sizeof(*l));
    snprintf(l->channel, sizeof(l->channel), "%s", channel);
    l->conn = PQconnectdb(conninfo);
    if (l->conn == NULL || PQstatus(l->conn) != CONNECTION_OK) {
        enum dm_err e = broken(l, err, "listen: connect");
        dm_db_listener_free(l);
        return e;
    }
    char sql[96];
    snprintf(sql, sizeof(sql), "LISTEN %s", l->channel);
    enum dm_err e = dm_db_listener_exec(l, sql, 0, NULL, false, NULL, err);
    if (e != DM_OK) {
        dm_db_listener_free(l);
        return e;
    }
    *out = l;
    return DM_OK;
}

void dm_db_listener_free(struct dm_db_listener *l)
{
    if (l == NULL)
        return;
    if (l->conn)
        PQfinish(l->conn);
    free(l);
}

static void drain(struct dm_db_listener *l, bool *notified)
{
    PGnotify *n;
    while ((n = PQnotifies(l->conn)) != NULL) {
        *notified = true;
        PQfreemem(n);
    }
}

enum dm_err dm_db_listener_wait(struct dm_db_listener *l, int timeout_ms, bool *notified,
                                struct dm_error *err)
{
    *notified = false;
    if (PQstatus(l->conn) != CONNECTION_OK)
        return broken(l, err, "listen");
    if (!PQconsumeInput(l->conn))
        return broken(l, err, "listen: read");
    drain(l, notified);
    if (*notified)
        return DM_OK;
    struct pollfd p = {.fd = PQsocket(l->conn), .events = POLLIN};
    if (p.fd < 0)
        return broken(l, err, "listen: socket");
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno != EINTR)
        return dm_error_set(err, DM_ERR_DB_RETRY, "listen: poll: %s", strerror(errno));
    if (r > 0) {
        if (!PQconsumeInput(l->conn))
            return broken(l, err, "listen: read");
        drain(l, notified);
    }
    return DM_OK;
}

/* Keep res when it succeeded, else map the failure. */
static enum dm_err settle(struct dm_db_listener *l, PGresult *r, PGresult **res,
                          struct dm_error *err)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return DM_OK;
    }
    if (r == NULL || PQstatus(l->conn) != CONNECTION_OK) {
        PQclear(r);
        return broken(l, err, "follower statement");
    }
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    enum dm_err e = dm_db_map_sqlstate(state ? state : "");
    dm_error_set(err, e, "follower statement: %s", PQresultErrorMessage(r));
    PQclear(r);
    return e;
}

enum dm_err dm_db_listener_exec(struct dm_db_listener *l, const char *sql, int nparams,
                                const char *const *params, bool binary, PGresult **res,
                                struct dm_error *err)
{
    if (res)
        *res = NULL;
    PGresult *r = PQexecParams(l->conn, sql, nparams, NULL, params, NULL, NULL, binary ? 1 : 0);
    return settle(l, r, res, err);
}

enum dm_err dm_db_listener_send(struct dm_db_listener *l, const char *sql, bool binary,
                                struct dm_error *err)
{
    if (!PQsendQueryParams(l->conn, sql, 0, NULL, NULL, NULL, NULL, binary ? 1 : 0))
        return broken(l, err, "follower statement");
    return DM_OK;
}

enum dm_err dm_db_listener_result(struct dm_db_listener *l, PGresult **res, struct dm_error *err)
{
    *res = NULL;
    PGresult *r = PQgetResult(l->conn), *extra;
    /* One statement, one result: drain to the end of the command. */
    while ((extra = PQgetResult(l->conn)) != NULL)
        PQclear(extra);
    return settle(l, r, res, err);
}
