/*
 * internal.h - what the simulator's translation units share (feedsim.c: GraphQL, faults,
 * admin; fileserve.c: the file mode's HTTP server). Not for use outside services/feedsim/.
 */
#ifndef DM_FEEDSIM_INTERNAL_H
#define DM_FEEDSIM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapters/http/server.h"
#include "services/feedsim/feedfile.h"
#include "services/feedsim/feedsim.h"
#include "services/feedsim/inventory.h"

enum op {
    OP_AUTH,
    OP_COUNT,
    OP_SEARCH,
    OP_HOLD,
    OP_ORDER,
    OP_OTHER,
    OP_INVALID,
    OP_FILE,              /* a file download (200) */
    OP_FILE_NOT_MODIFIED, /* a conditional GET answered 304 */
    OP_N,
};

enum fault {
    FT_LATENCY,
    FT_ERROR,
    FT_RATE_LIMIT,
    FT_SHORT_PAGE,
    FT_DUPLICATE,
    FT_MALFORMED,
    FT_FAIL_NEXT,
    FT_GRAPHQL_ERROR,
    FT_POISON,
    FT_TRUNCATE, /* file responses cut mid-row */
    FT_BAD_ROW,  /* malformed file rows written */
    FT_DRIP,     /* file responses dripped slowly */
    FT_N,
};

struct fileserver;

struct dm_feedsim {
    struct dm_inventory *inv;
    char *username, *password;
    int64_t token_ttl_ms;
    uint8_t secret[32];
    int64_t token_epoch; /* __atomic; bumping it revokes every token */
    pthread_mutex_t fmu; /* faults */
    struct dm_feedsim_faults f;
    struct dm_http_server *srv;
    uint64_t seed;
    enum dm_feedfile_format format; /* DM_FEEDFILE_NONE: GraphQL only */
    struct fileserver *fsrv;        /* file mode's server (serves GraphQL and admin too) */
    volatile int stopping;          /* file downloads end early when set */
    /* stats (__atomic) */
    int64_t requests, by_op[OP_N], faults[FT_N], pages, items, auth_ok, auth_failed, token_rejected,
        http_other;
    int64_t started_ms;
};

/* The request handler of GraphQL mode (every endpoint but the file). */
void dm_feedsim_handle(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp);

double dm_feedsim_frand(void);
void dm_feedsim_bump(int64_t *counter, int64_t delta);
void dm_feedsim_faults_get(struct dm_feedsim *sim, struct dm_feedsim_faults *out);
/* Take one of fail_next (graphql false) or graphql_error_next (true) if any is left. */
bool dm_feedsim_take_counted(struct dm_feedsim *sim, bool graphql, int *status);
/* Take one of truncate_next, or draw truncate_rate: should this download be cut? */
bool dm_feedsim_take_truncate(struct dm_feedsim *sim);

/* fileserve.c: serve the file mode on bind:port (everything else via dm_feedsim_handle). */
enum dm_err dm_feedsim_file_listen(struct dm_feedsim *sim, const char *bind, int port, int threads,
                                   struct dm_error *err) DM_MUST_CHECK;
int dm_feedsim_file_port(const struct dm_feedsim *sim);
void dm_feedsim_file_stop(struct dm_feedsim *sim);

#endif
