/*
 * pgcluster.h - the embedded default database: a private PostgreSQL cluster under a directory
 * of ours (./var/pg by default), created with initdb on first use, listening on 127.0.0.1 and a
 * unix socket inside the directory only, with trust authentication (nothing leaves the machine).
 * When run as root the server runs as the `postgres` system user (PostgreSQL refuses root).
 */
#ifndef DM_ADAPTERS_PGCLUSTER_H
#define DM_ADAPTERS_PGCLUSTER_H

#include <stdbool.h>

#include "core/error.h"

struct dm_pgcluster_opts {
    const char *dir;    /* cluster directory, e.g. "./var/pg" */
    int port;           /* TCP port on 127.0.0.1 */
    bool fast;          /* fsync off: for tests and benchmarks, never for data you keep */
    const char *dbname; /* database created on first start ("diamond") */
};

/* initdb if needed, start if not running, create the database. Idempotent. */
enum dm_err dm_pgcluster_start(const struct dm_pgcluster_opts *o,
                               struct dm_error *err) DM_MUST_CHECK;
/* Stop (fast shutdown) if running. */
enum dm_err dm_pgcluster_stop(const struct dm_pgcluster_opts *o,
                              struct dm_error *err) DM_MUST_CHECK;
/* True when the server of this directory is running. */
bool dm_pgcluster_running(const struct dm_pgcluster_opts *o);
/* The connection URL (malloc'd): postgresql://postgres@127.0.0.1:PORT/DBNAME. */
char *dm_pgcluster_url(const struct dm_pgcluster_opts *o);
/* Port recorded in the cluster directory, or o->port when none. */
int dm_pgcluster_port(const struct dm_pgcluster_opts *o);

#endif
