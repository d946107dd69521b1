/*
 * demo.c - `diamond demo` (make demo): the whole pipeline on this machine, end to end.
 * Starts the private PostgreSQL (./var/pg), migrates, starts the child services from one table
 * (feed simulators, worker, consolidator, API and dashboard), runs the
 * scheduler, shows a live progress line from the database, and ends with a summary and where to
 * look next. Ctrl-C (or SIGTERM) stops everything it started. Children log to ./var/log/.
 *
 * Two feeds by default (issue 18): `nivoda`, the GraphQL simulator, and `acme`, a file feed: a
 * second simulator serving a CSV whose stones are 30 % the first one's physical stones
 * (--share-from) at its own prices. Both are ingested and consolidated into one catalogue, and
 * the summary gives each feed's figures and the listings (one per physical stone). --feeds 1 is
 * the single-feed demo (Nivoda only).
 *
 * Adding a service: one row in `children[]` (its name as a subcommand of this binary, its argv
 * and whether the demo waits for its port).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/db/feed_sql.h"
#include "adapters/db/migrate.h"
#include "adapters/db/pgcluster.h"
#include "commands/commands.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/num.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "store/runs.h"

extern char **environ;

/* The file feed's simulator shares this fraction of its stones with the GraphQL one's. */
#define DEMO_SHARE "0.3"

struct demo {
    const char *var;
    int count;
    int feeds; /* 1: Nivoda only; 2: Nivoda and the file feed acme */
    int feed_port, file_feed_port, api_port, dashboard_port;
    char *db_url;
    char feed_url[128];
    char file_feed_url[128];
    bool keep_running;
    const char *bind; /* where the API and the dashboard listen (--bind, default loopback) */
    char reach[64];   /* where they are reached from here: bind, or loopback for 0.0.0.0 */
};

/* One child service. argv is built by `args` into a NULL-terminated array of at most 15. */
struct child {
    const char *name;
    void (*args)(const struct demo *d, char **argv, char bufs[][64]);
    int (*port)(const struct demo *d); /* TCP port to wait for, or NULL */
    pid_t pid;
    void (*env)(const struct demo *d);    /* per-child environment (PORT, ...), or NULL */
    bool (*wanted)(const struct demo *d); /* NULL: always started */
};

/* `feed-sim --port PORT --count N`; returns the index of the terminating NULL, after which a
 * caller may append more arguments. */
static int sim_args(int port, int count, char **argv, char bufs[][64])
{
    snprintf(bufs[0], 64, "%d", port);
    snprintf(bufs[1], 64, "%d", count);
    int i = 0;
    argv[i++] = "feed-sim";
    argv[i++] = "--port";
    argv[i++] = bufs[0];
    argv[i++] = "--count";
    argv[i++] = bufs[1];
    argv[i] = NULL;
    return i;
}

static void feed_args(const struct demo *d, char **argv, char bufs[][64])
{
    (void)sim_args(d->feed_port, d->count, argv, bufs);
}

static int feed_port(const struct demo *d)
{
    return d->feed_port;
}

/* The file feed's supplier: the same generator, another seed, sharing stones with seed 1 (the
 * GraphQL simulator's default seed). */
static void file_feed_args(const struct demo *d, char **argv, char bufs[][64])
{
    int i = sim_args(d->file_feed_port, d->count, argv, bufs);
    argv[i++] = "--seed";
    argv[i++] = "2";
    argv[i++] = "--format";
    argv[i++] = "csv";
    argv[i++] = "--share-from";
    argv[i++] = "1:" DEMO_SHARE;
    argv[i] = NULL;
}

static int file_feed_port(const struct demo *d)
{
    return d->file_feed_port;
}

static bool two_feeds(const struct demo *d)
{
    return d->feeds == 2;
}

static void worker_args(const struct demo *d, char **argv, char bufs[][64])
{
    (void)d;
    (void)bufs;
    argv[0] = "worker";
    argv[1] = NULL;
}

static void consolidator_args(const struct demo *d, char **argv, char bufs[][64])
{
    (void)d;
    (void)bufs;
    argv[0] = "consolidator";
    argv[1] = NULL;
}

static void api_args(const struct demo *d, char **argv, char bufs[][64])
{
    (void)d;
    (void)bufs;
    argv[0] = "api";
    argv[1] = NULL;
}

static int api_port(const struct demo *d)
{
    return d->api_port;
}

static void api_env(const struct demo *d)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", d->api_port);
    setenv("PORT", port, 1);
    /* A demo holds an operator key with every permission: loopback unless asked (--bind). */
    setenv("API_BIND", d->bind, 1);
}

static void dashboard_args(const struct demo *d, char **argv, char bufs[][64])
{
    (void)d;
    (void)bufs;
    argv[0] = "dashboard";
    argv[1] = "--bind";
    argv[2] = (char *)d->bind;
    argv[3] = NULL;
}

static int dashboard_port(const struct demo *d)
{
    return d->dashboard_port;
}

static void dashboard_env(const struct demo *d)
{
    char port[16], url[128];
    snprintf(port, sizeof(port), "%d", d->dashboard_port);
    snprintf(url, sizeof(url), "http://%s:%d", d->reach, d->api_port);
    setenv("PORT", port, 1);
    setenv("API_URL", url, 1);
}

static struct child children[] = {
    {"feed-sim", feed_args, feed_port, -1, NULL, NULL},
    {"feed-sim-acme", file_feed_args, file_feed_port, -1, NULL, two_feeds},
    {"worker", worker_args, NULL, -1, NULL, NULL},
    {"consolidator", consolidator_args, NULL, -1, NULL, NULL},
    {"api", api_args, api_port, -1, api_env, NULL},
    {"dashboard", dashboard_args, dashboard_port, -1, dashboard_env, NULL},
};
#define NCHILDREN (sizeof(children) / sizeof(children[0]))

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* True when something accepts connections on addr:port (addr an IPv4 address). */
static bool port_open(const char *addr, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    bool ok = inet_pton(AF_INET, addr, &a.sin_addr) == 1 &&
              connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static void set_child_env(const struct demo *d)
{
    char wm[512];
    snprintf(wm, sizeof(wm), "%s/watermarks", d->var);
    setenv("DATABASE_URL", d->db_url, 1);
    setenv("NIVODA_ENDPOINT", d->feed_url, 1);
    setenv("NIVODA_USERNAME", "sim", 1);
    setenv("NIVODA_PASSWORD", "sim", 1);
    setenv("NIVODA_MAX_RPS", "2000", 1);
    setenv("WATERMARK_DIR", wm, 1);
    if (d->feeds == 2) {
        setenv("FEEDS", "nivoda,acme", 1);
        setenv("FEED_ACME_TYPE", "file", 1);
        setenv("FEED_ACME_URL", d->file_feed_url, 1);
    } else {
        unsetenv("FEEDS");
    }
    if (getenv("LOG_LEVEL") == NULL)
        setenv("LOG_LEVEL", "info", 1);
}

/* Spawn this binary with argv; stdout+stderr to var/log/<name>.log (or to fd when >= 0). */
static pid_t spawn_self(const struct demo *d, const char *name, char **argv, int out_fd)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/log/%s.log", d->var, name);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_fd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        posix_spawn_file_actions_addopen(&fa, 2, path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    } else {
        posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *full[20] = {"diamond"};
    int n = 1;
    for (int i = 0; argv[i] && n < 19; i++)
        full[n++] = argv[i];
    full[n] = NULL;
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, full, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "demo: could not start %s: %s\n", name, strerror(rc));
        return -1;
    }
    return pid;
}

static void stop_children(void)
{
    for (int i = (int)NCHILDREN - 1; i >= 0; i--)
        if (children[i].pid > 0)
            kill(children[i].pid, SIGTERM);
    int64_t deadline = dm_mono_ms() + 15000;
    for (size_t i = 0; i < NCHILDREN; i++) {
        struct child *c = &children[i];
        while (c->pid > 0) {
            pid_t r = waitpid(c->pid, NULL, WNOHANG);
            if (r == c->pid || (r < 0 && errno == ECHILD)) {
                c->pid = -1;
                break;
            }
            if (dm_mono_ms() > deadline) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, NULL, 0);
                c->pid = -1;
                break;
            }
            dm_sleep_ms(50, NULL);
        }
    }
}

/* A child that exited unexpectedly (name) or NULL. */
static const char *dead_child(void)
{
    for (size_t i = 0; i < NCHILDREN; i++) {
        struct child *c = &children[i];
        if (c->pid > 0 && waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            c->pid = -1;
            return c->name;
        }
    }
    return NULL;
}

/* A new operator API key with every permission, stored as its SHA-256 (printed once). */
static bool operator_key(struct dm_db *db, char *key, size_t size)
{
    char hash[DM_SHA256_HEX_LEN];
    if (size < 41)
        return false;
    memcpy(key, "dk_", 4); /* with its NUL: dm_random_token overwrites it */
    dm_random_token(key + 3, 37);
    dm_sha256_hex(key, strlen(key), hash);
    const char *p[] = {hash};
    PGresult *r = NULL;
    struct dm_error err = {0};
    if (dm_db_query(db,
                    "INSERT INTO api_keys (key_hash, client_name, permissions) "
                    "VALUES ($1, 'demo-operator', '{read,trade,admin}')",
                    1, p, &r, &err) != DM_OK) {
        fprintf(stderr, "demo: creating the operator API key: %s\n", err.message);
        return false;
    }
    PQclear(r);
    return true;
}

static int64_t qi64(struct dm_db *db, const char *sql, const char *arg)
{
    PGresult *r = NULL;
    const char *p[1] = {arg};
    int64_t v = -1;
    if (dm_db_query(db, sql, arg ? 1 : 0, arg ? p : NULL, &r, NULL) == DM_OK) {
        if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
            dm_parse_i64(PQgetvalue(r, 0, 0), INT64_MIN, INT64_MAX, &v) != DM_OK)
            v = -1;
        PQclear(r);
    }
    return v;
}

/* One feed's run in the demo. */
struct demo_run {
    const char *feed;     /* feed id, or NULL in the single-feed demo (the scheduler's default) */
    const char *what;     /* how the summary names the feed */
    const char *raw_feed; /* the feed whose raw table it fills (dm_feed_raw_table) */
    char run_id[64];
    int64_t partitions;
    int64_t t_run, fetch_ms;
    double rate;
    bool done, failed;
};

/* The priced catalogue after the runs: stones by availability, the retail price range and the
 * watermark each run left (issue 6's demo summary). */
static void print_catalogue(struct dm_db *db, const struct demo_run *runs, int nruns)
{
    PGresult *r = NULL;
    if (dm_db_query(db,
                    "SELECT availability, count(*) FROM diamonds WHERE status = 'active' "
                    "GROUP BY 1 ORDER BY 2 DESC, 1",
                    0, NULL, &r, NULL) == DM_OK) {
        printf("  by availability:");
        for (int i = 0; i < PQntuples(r); i++)
            printf("%s %s %s", i ? "," : "", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        printf("\n");
        PQclear(r);
    }
    r = NULL;
    if (dm_db_query(db,
                    "SELECT min(retail_price), max(retail_price), "
                    "percentile_disc(0.5) WITHIN GROUP (ORDER BY retail_price), "
                    "min(feed_price), max(feed_price) FROM diamonds WHERE status = 'active'",
                    0, NULL, &r, NULL) == DM_OK) {
        if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
            printf("  retail price: %s to %s USD (median %s); feed price %s to %s USD\n",
                   PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                   PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4));
        PQclear(r);
    }
    for (int i = 0; i < nruns; i++) {
        struct dm_run run;
        if (dm_runs_get(db, runs[i].run_id, false, &run, NULL) == DM_OK) {
            char iso[DM_ISO_LEN];
            dm_time_format(run.watermark_after_ms, iso);
            /* the first feed's line as the single-feed demo prints it */
            printf("  watermark%s%s%s: %s\n", i ? " (" : "", i ? runs[i].feed : "", i ? ")" : "",
                   run.watermark_after_ms > 0 ? iso : "not advanced");
        }
        dm_run_clear(&run);
    }
}

/* Several feeds: the listings (one per physical stone, issue 18) and each feed's offers. */
static void print_listings(struct dm_db *db)
{
    int64_t listings =
        qi64(db, "SELECT count(*) FROM diamonds WHERE status = 'active' AND chosen", NULL);
    if (listings < 0) {
        printf("listings: could not be counted\n");
        return;
    }
    int64_t both = qi64(db,
                        "SELECT count(*) FROM (SELECT listing_key FROM diamonds "
                        "WHERE status = 'active' GROUP BY 1 HAVING count(DISTINCT feed) > 1) s",
                        NULL);
    const char *policy = getenv("OFFER_POLICY");
    printf("listings: %lld (one per physical stone, OFFER_POLICY %s); %lld stones offered by "
           "more than one feed\n",
           (long long)listings, policy && *policy ? policy : "lowest_retail", (long long)both);
    PGresult *r = NULL;
    if (dm_db_query(db,
                    "SELECT feed, count(*), count(*) FILTER (WHERE chosen) FROM diamonds "
                    "WHERE status = 'active' GROUP BY 1 ORDER BY 1",
                    0, NULL, &r, NULL) == DM_OK) {
        for (int i = 0; i < PQntuples(r); i++)
            printf("  feed %-8s %s active offers, %s shown (chosen)\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        PQclear(r);
    }
}

/* Run the scheduler for one feed (NULL: its default); its lines are echoed. Returns its exit
 * status (or -1). */
static int run_scheduler(const struct demo *d, const char *feed, char *run_id, size_t run_id_size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char *argv[8];
    int n = 0;
    argv[n++] = "scheduler";
    if (feed) {
        argv[n++] = "--feed";
        argv[n++] = (char *)feed;
    }
    argv[n++] = "--full";
    argv[n++] = "--force";
    argv[n] = NULL;
    pid_t pid = spawn_self(d, "scheduler", argv, fds[1]);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    FILE *f = fdopen(fds[0], "r");
    char line[1024];
    while (f && fgets(line, sizeof(line), f)) {
        if (feed)
            printf("  scheduler (%s): %s", feed, line);
        else
            printf("  scheduler: %s", line);
        /* The summary line starts with "run <uuid> ". */
        if (!strncmp(line, "run ", 4) && strlen(line) > 4 + 36 && line[40] == ' ')
            snprintf(run_id, run_id_size, "%.36s", line + 4);
    }
    if (f)
        fclose(f);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One poll of a run: updates its phase; writes its part of the progress line to out. */
static void poll_run(struct dm_db *db, struct demo_run *ru, char *out, size_t size)
{
    struct dm_run run;
    struct dm_error rerr = {0};
    /* The run as the store sees it (-1: not readable just now, as the counts were). */
    int64_t completed = -1, nfailed = -1, records = -1;
    bool consolidated = false;
    if (dm_runs_get(db, ru->run_id, false, &run, &rerr) == DM_OK) {
        completed = run.facts.completed;
        nfailed = run.facts.failed;
        records = run.records;
        consolidated = run.facts.completed_at_ms > 0 || run.facts.consolidation_completed_at_ms > 0;
    }
    dm_run_clear(&run);
    int64_t now = dm_mono_ms();
    if (ru->fetch_ms == 0 && now > ru->t_run)
        ru->rate = (double)records * 1000.0 / (double)(now - ru->t_run);
    const char *phase = "fetching";
    if (completed == ru->partitions) {
        if (ru->fetch_ms == 0)
            ru->fetch_ms = now - ru->t_run;
        phase = "consolidating";
        if (consolidated)
            ru->done = true;
    }
    if (completed + nfailed == ru->partitions && nfailed > 0) {
        ru->failed = true;
        ru->done = true;
    }
    if (ru->done && !ru->failed)
        phase = "done";
    snprintf(out, size, "%s%spartitions %lld/%lld  stones %lld  %.0f stones/s  %s%s",
             ru->feed ? ru->feed : "", ru->feed ? ": " : "", (long long)completed,
             (long long)ru->partitions, (long long)records, ru->rate, phase,
             nfailed > 0 ? "  (failures)" : "");
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: diamond demo [--count N] [--feeds 1|2] [--var DIR] [--keep-running]\n"
            "                    [--bind ADDR]\n\n"
            "Runs the pipeline end to end on this machine: private PostgreSQL in DIR/pg\n"
            "(default ./var), the feed simulator with N stones (default 20000), a worker\n"
            "and (when built) the consolidator, then one scheduler run per feed with a live\n"
            "progress line. Logs in DIR/log. Ctrl-C stops everything it started.\n"
            "--feeds 2 (default): two suppliers, the GraphQL feed nivoda and the file feed\n"
            "acme (a second simulator serving a CSV of N stones, " DEMO_SHARE " of them the same\n"
            "physical stones as nivoda's at their own prices); the summary gives each feed's\n"
            "figures and the listings, one per physical stone. --feeds 1: nivoda only.\n"
            "--keep-running leaves the services up after the run until Ctrl-C.\n"
            "--bind ADDR is the IPv4 address the API and the dashboard listen on\n"
            "(default 127.0.0.1, this machine only; 0.0.0.0 for every interface).\n");
}

int dm_cmd_demo(int argc, char **argv)
{
    if (dm_cmd_help(argc, argv, usage))
        return DM_EXIT_OK;
    struct demo d = {.var = "./var", .count = 20000, .feeds = 2, .bind = "127.0.0.1"};
    for (int i = 1; i < argc; i++) {
        bool count = !strcmp(argv[i], "--count"), feeds = !strcmp(argv[i], "--feeds");
        if ((count || feeds) && i + 1 < argc &&
            dm_parse_int(argv[i + 1], 1, count ? 20000000 : 2, count ? &d.count : &d.feeds) ==
                DM_OK) {
            i++;
        } else if (!strcmp(argv[i], "--var") && i + 1 < argc) {
            d.var = argv[++i];
        } else if (!strcmp(argv[i], "--keep-running")) {
            d.keep_running = true;
        } else if (!strcmp(argv[i], "--bind") && i + 1 < argc) {
            d.bind = argv[++i];
        } else {
            return dm_cmd_misuse(usage, "demo: unknown or incomplete option '%s'", argv[i]);
        }
    }
    struct in_addr bind_addr;
    if (inet_pton(AF_INET, d.bind, &bind_addr) != 1) {
        fprintf(stderr, "demo: --bind %s is not an IPv4 address\n", d.bind);
        return DM_EXIT_CONFIG;
    }
    snprintf(d.reach, sizeof(d.reach), "%s",
             bind_addr.s_addr == htonl(INADDR_ANY) ? "127.0.0.1" : d.bind);
    dm_signals_install();
    dm_log_init("demo", DM_LOG_WARN);
    int rc = DM_EXIT_FAIL;
    struct dm_db *db = NULL;
    struct dm_error err = {0};
    char pgdir[512], logdir[512];
    snprintf(pgdir, sizeof(pgdir), "%s/pg", d.var);
    snprintf(logdir, sizeof(logdir), "%s/log", d.var);
    mkdir(d.var, 0755);
    mkdir(logdir, 0755);
    struct demo_run runs[2] = {
        {.feed = NULL, .what = "", .raw_feed = "nivoda"},
        {.feed = "acme", .what = " (feed acme, CSV file)", .raw_feed = "acme"},
    };
    int nruns = d.feeds;
    if (nruns == 2) {
        runs[0].feed = "nivoda";
        runs[0].what = " (feed nivoda, GraphQL)";
    }

    /* 1. Services' environment (migrate creates each configured feed's raw table). */
    d.feed_port = free_port();
    d.file_feed_port = free_port();
    d.api_port = free_port();
    /* the dashboard's usual port */
    d.dashboard_port = port_open(d.reach, 8080) ? free_port() : 8080;
    snprintf(d.feed_url, sizeof(d.feed_url), "http://127.0.0.1:%d/graphql", d.feed_port);
    snprintf(d.file_feed_url, sizeof(d.file_feed_url), "http://127.0.0.1:%d/inventory.csv",
             d.file_feed_port);

    /* 2. Database. */
    struct dm_pgcluster_opts po = {.dir = pgdir, .port = 0, .dbname = "diamond"};
    po.port = dm_pgcluster_port(&po);
    if (po.port == 0)
        po.port = free_port();
    bool pg_was_running = dm_pgcluster_running(&po);
    printf("diamond demo: starting PostgreSQL in %s ...\n", pgdir);
    if (dm_pgcluster_start(&po, &err) != DM_OK) {
        fprintf(stderr, "demo: PostgreSQL: %s\n", err.message);
        return DM_EXIT_FAIL;
    }
    d.db_url = dm_pgcluster_url(&po);
    set_child_env(&d);
    int applied = 0;
    if (dm_db_open(d.db_url, 4, &db, &err) != DM_OK ||
        dm_migrate_apply(db, &applied, &err) != DM_OK) {
        fprintf(stderr, "demo: database: %s\n", err.message);
        goto out;
    }
    printf("  database %s (%d migration%s applied)\n", d.db_url, applied, applied == 1 ? "" : "s");
    if (d.feeds == 2) {
        /* The feeds' raw tables, one per feed, as `diamond migrate` makes them for FEEDS. */
        const char *const ids[] = {"nivoda", "acme"};
        if (dm_migrate_feed_tables(db, ids, 2, NULL, &err) != DM_OK) {
            fprintf(stderr, "demo: raw tables for FEEDS=nivoda,acme: %s\n", err.message);
            goto out;
        }
    }

    /* 3. Services. */
    for (size_t i = 0; i < NCHILDREN && !dm_stop_requested(); i++) {
        struct child *c = &children[i];
        if (c->wanted && !c->wanted(&d))
            continue;
        char *cargv[16];
        char bufs[8][64];
        c->args(&d, cargv, bufs);
        if (c->env)
            c->env(&d);
        c->pid = spawn_self(&d, c->name, cargv, -1);
        if (c->pid < 0)
            goto out;
        if (c->port) {
            int port = c->port(&d);
            int64_t deadline = dm_mono_ms() + 60000;
            /* the simulators listen on loopback; the API and the dashboard on --bind */
            const char *addr =
                c->port == feed_port || c->port == file_feed_port ? "127.0.0.1" : d.reach;
            while (!port_open(addr, port) && !dm_stop_requested()) {
                if (dm_mono_ms() > deadline || dead_child()) {
                    fprintf(stderr, "demo: %s did not come up (see %s/%s.log)\n", c->name, logdir,
                            c->name);
                    goto out;
                }
                dm_sleep_ms(50, NULL);
            }
        }
        printf("  started %-13s pid %d   log %s/%s.log\n", c->name, (int)c->pid, logdir, c->name);
    }
    if (dm_stop_requested())
        goto out;
    char key[48] = "";
    if (operator_key(db, key, sizeof(key)))
        printf("\n  dashboard   http://%s:%d/   (API http://%s:%d, listening on %s)\n"
               "  API key     %s   (operator, admin; paste it into the sign-in page)\n\n",
               d.reach, d.dashboard_port, d.reach, d.api_port, d.bind, key);

    /* 4. One run per feed, side by side. */
    int64_t t0 = dm_mono_ms();
    for (int i = 0; i < nruns; i++) {
        int src = run_scheduler(&d, runs[i].feed, runs[i].run_id, sizeof(runs[i].run_id));
        if (src != 0) {
            fprintf(stderr, "demo: the scheduler failed (exit %d); see %s/scheduler.log\n", src,
                    logdir);
            goto out;
        }
        if (runs[i].run_id[0] == '\0') {
            printf("  no run was created (see the scheduler's message above)\n");
            rc = DM_EXIT_OK;
            goto out;
        }
        struct dm_run run;
        struct dm_error rerr = {0};
        if (dm_runs_get(db, runs[i].run_id, false, &run, &rerr) == DM_OK)
            runs[i].partitions = run.facts.partitions;
        dm_run_clear(&run);
        runs[i].t_run = dm_mono_ms();
    }
    bool all_done = false, failed = false;
    while (!dm_stop_requested()) {
        const char *dead = dead_child();
        if (dead) {
            fprintf(stderr, "\ndemo: %s exited unexpectedly (see %s/%s.log)\n", dead, logdir, dead);
            goto out;
        }
        char line[512] = "";
        size_t used = 0;
        all_done = true;
        for (int i = 0; i < nruns; i++) {
            char part[256];
            poll_run(db, &runs[i], part, sizeof(part));
            int w = snprintf(line + used, sizeof(line) - used, "%s%s", i ? "  |  " : "", part);
            if (w > 0 && (size_t)w < sizeof(line) - used)
                used += (size_t)w;
            all_done = all_done && runs[i].done;
            failed = failed || runs[i].failed;
        }
        printf("\r  %s          ", line);
        fflush(stdout);
        if (all_done)
            break;
        dm_sleep_ms(250, NULL);
    }
    printf("\n");
    if (!all_done)
        goto out; /* interrupted */
    double secs = (double)(dm_mono_ms() - t0) / 1000.0;
    printf("\n");
    for (int i = 0; i < nruns; i++) {
        char sql[128], table[DM_FEED_TABLE_MAX];
        struct dm_error terr = {0};
        int64_t raw = -1;
        if (dm_feed_raw_table(runs[i].raw_feed, table, &terr) == DM_OK) {
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
            raw = qi64(db, sql, NULL);
        }
        int64_t fetched = -1;
        struct dm_run run;
        struct dm_error rerr = {0};
        if (dm_runs_get(db, runs[i].run_id, false, &run, &rerr) == DM_OK)
            fetched = run.records;
        dm_run_clear(&run);
        double fsecs = runs[i].fetch_ms > 0 ? (double)runs[i].fetch_ms / 1000.0 : secs;
        printf("run %s %s in %.1f s: %lld stones fetched in %.1f s (%.0f stones/s), %lld raw "
               "rows%s\n",
               runs[i].run_id, runs[i].failed ? "FINISHED WITH FAILED PARTITIONS" : "completed",
               secs, (long long)fetched, fsecs, fsecs > 0 ? (double)fetched / fsecs : 0.0,
               (long long)raw, runs[i].what);
    }
    int64_t diamonds = qi64(db, "SELECT count(*) FROM diamonds WHERE status = 'active'", NULL);
    printf("consolidated: %lld active diamonds\n", (long long)diamonds);
    print_catalogue(db, runs, nruns);
    if (nruns > 1)
        print_listings(db);
    printf("\nwhere to look next:\n"
           "  export DATABASE_URL=%s%s%s\n"
           "  diamond status                  pipeline state: runs, partitions, queues\n"
           "  diamond queue stats             queue depths and dead letters\n"
           "  psql \"$DATABASE_URL\" -c 'SELECT * FROM partition_progress WHERE run_id = "
           "''%s'''\n"
           "  logs: %s/*.log   watermark%s: %s/watermarks/\n",
           d.db_url, nruns > 1 ? " FEEDS=nivoda,acme FEED_ACME_TYPE=file FEED_ACME_URL=" : "",
           nruns > 1 ? d.file_feed_url : "", runs[0].run_id, logdir,
           nruns > 1 ? "s (one per feed)" : "", d.var);
    if (key[0])
        printf("  dashboard: http://%s:%d/  API key: %s%s\n", d.reach, d.dashboard_port, key,
               d.keep_running ? ""
                              : "\n  (diamond demo --keep-running keeps the API and dashboard up)");
    rc = failed ? DM_EXIT_FAIL : DM_EXIT_OK;
    if (d.keep_running && !failed) {
        printf("\nservices keep running; Ctrl-C stops them\n");
        while (!dm_stop_requested() && !dead_child())
            dm_sleep_ms(200, NULL);
    }
out:
    if (dm_stop_requested())
        printf("\ndemo: interrupted, stopping everything it started\n");
    stop_children();
    dm_db_free(db);
    if (!pg_was_running && d.db_url) {
        if (dm_pgcluster_stop(&po, &err) != DM_OK)
            fprintf(stderr, "demo: stopping PostgreSQL: %s\n", err.message);
    }
    free(d.db_url);
    return rc;
}
