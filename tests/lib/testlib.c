/* testlib.c - test database creation and one-value queries for C integration tests. */
#include "testlib.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/db/migrate.h"
#include "adapters/http/client.h"
#include "core/buf.h"
#include "core/timeutil.h"

static char env_vals[8][512];
static char env_keys[8][64];
static int env_n = -1;

static void load_env(void)
{
    if (env_n >= 0)
        return;
    env_n = 0;
    const char *path = getenv("DM_TEST_PG_ENV");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (f == NULL)
        return;
    char line[600];
    while (env_n < 8 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        snprintf(env_keys[env_n], sizeof(env_keys[0]), "%.63s", line);
        snprintf(env_vals[env_n], sizeof(env_vals[0]), "%.511s", eq + 1);
        env_n++;
    }
    fclose(f);
}

const char *dm_test_env(const char *name)
{
    load_env();
    for (int i = 0; i < env_n; i++)
        if (!strcmp(env_keys[i], name))
            return env_vals[i];
    return getenv(name);
}

void dm_test_contains(const char *text, const char *const *has, const char *const *lacks)
{
    for (const char *const *s = has; s && *s; s++)
        if (strstr(text, *s) == NULL)
            fail_msg("missing \"%s\" in:\n%s", *s, text);
    for (const char *const *s = lacks; s && *s; s++)
        if (strstr(text, *s) != NULL)
            fail_msg("\"%s\" must not be in:\n%s", *s, text);
}

void dm_test_pred(const char *name, bool (*pred)(const char *),
                  const struct dm_test_pred_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pred(cases[i].in) != cases[i].want)
            fail_msg("%s(\"%s\") is %s, want %s", name, cases[i].in ? cases[i].in : "(null)",
                     cases[i].want ? "false" : "true", cases[i].want ? "true" : "false");
}

const char *dm_test_bin(void)
{
    const char *b = getenv("DIAMOND_BIN");
    return b ? b : "./diamond";
}

char *dm_test_new_db(const char *prefix)
{
    const char *admin = dm_test_env("DM_TEST_PG_ADMIN_URL");
    const char *port = dm_test_env("DM_TEST_PG_PORT");
    if (admin == NULL || port == NULL) {
        fprintf(stderr, "test cluster not available (DM_TEST_PG_ENV)\n");
        abort();
    }
    static int counter;
    char name[96];
    snprintf(name, sizeof(name), "t_%s_%d_%d", prefix, (int)getpid(), counter++);
    PGconn *pg = PQconnectdb(admin);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to test cluster: %s\n", PQerrorMessage(pg));
        abort();
    }
    char *sql = dm_xasprintf("CREATE DATABASE %s", name);
    PGresult *r = PQexec(pg, sql);
    free(sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "create database: %s\n", PQresultErrorMessage(r));
        abort();
    }
    PQclear(r);
    PQfinish(pg);
    char *url = dm_xasprintf("postgresql://postgres@127.0.0.1:%s/%s", port, name);
    struct dm_db *db = dm_db_new(url, 1);
    struct dm_error err = {0};
    if (dm_migrate_apply(db, NULL, &err) != DM_OK) {
        fprintf(stderr, "migrate: %s\n", err.message);
        abort();
    }
    dm_db_free(db);
    return url;
}

void dm_test_exec(struct dm_db *db, const char *sql)
{
    struct dm_error err = {0};
    if (dm_db_query(db, sql, 0, NULL, NULL, &err) != DM_OK)
        fail_msg("%s: %s", sql, err.message);
}

PGresult *dm_test_query(struct dm_db *db, const char *sql)
{
    struct dm_error err = {0};
    PGresult *r = NULL;
    if (dm_db_query(db, sql, 0, NULL, &r, &err) != DM_OK)
        fail_msg("%s: %s", sql, err.message);
    return r;
}

char *dm_test_scalar(struct dm_db *db, const char *sql)
{
    PGresult *r = dm_test_query(db, sql);
    char *v = dm_xstrdup(PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return v;
}

void dm_test_check_scalar(struct dm_db *db, const char *sql, const char *want)
{
    char *v = dm_test_scalar(db, sql);
    if (strcmp(v, want))
        fail_msg("%s: got '%s', want '%s'", sql, v, want);
    free(v);
}

int dm_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

extern char **environ;

static bool dropped(const char *var, const char *const *drop)
{
    for (size_t i = 0; drop[i]; i++)
        if (!strncmp(var, drop[i], strlen(drop[i])))
            return true;
    return false;
}

int dm_test_spawn(const char *cmd, const char *const *drop, const char *const *extra)
{
    size_t n = 0, m = 0, k = 0;
    while (environ[n])
        n++;
    while (extra[m])
        m++;
    char **envp = calloc(n + m + 1, sizeof(char *));
    assert_non_null(envp);
    for (size_t i = 0; i < n; i++)
        if (!dropped(environ[i], drop))
            envp[k++] = environ[i];
    for (size_t i = 0; i < m; i++)
        envp[k++] = (char *)extra[i];
    envp[k] = NULL;
    char *argv[] = {(char *)dm_test_bin(), (char *)cmd, NULL};
    pid_t pid = 0;
    assert_int_equal(posix_spawn(&pid, dm_test_bin(), NULL, NULL, argv, envp), 0);
    free(envp);
    return (int)pid;
}

int dm_test_fork_pipe(int *fd)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    close(fds[pid == 0 ? 0 : 1]);
    *fd = fds[pid == 0 ? 1 : 0];
    return (int)pid;
}

/* Copies the NULL-terminated list of into a new one after first and second. */
static const char **prepend2(const char *first, const char *second, const char *const *of)
{
    size_t n = 0;
    while (of[n])
        n++;
    const char **out = calloc(n + 3, sizeof(*out));
    assert_non_null(out);
    out[0] = first;
    out[1] = second;
    for (size_t i = 0; i < n; i++)
        out[i + 2] = of[i];
    return out;
}

static long get_status(const char *url)
{
    struct dm_http_request rq = {.method = "GET", .url = url, .timeout_ms = 2000};
    struct dm_http_response resp;
    struct dm_error err = {0};
    if (dm_http_do(&rq, &resp, &err) != DM_OK)
        return 0;
    long status = resp.status;
    dm_http_response_free(&resp);
    return status;
}

int dm_test_start_api(const char *db_url, const char *const *drop, const char *const *extra,
                      char *base, size_t base_size)
{
    int port = dm_test_free_port();
    snprintf(base, base_size, "http://127.0.0.1:%d", port);
    char e_db[1024], e_port[32];
    snprintf(e_db, sizeof(e_db), "DATABASE_URL=%s", db_url);
    snprintf(e_port, sizeof(e_port), "PORT=%d", port);
    const char **d = prepend2("DATABASE_", "PORT=", drop);
    const char **e = prepend2(e_db, e_port, extra);
    int pid = dm_test_spawn("api", d, e);
    free(d);
    free(e);
    char health[128];
    snprintf(health, sizeof(health), "%s/health", base);
    int64_t deadline = dm_mono_ms() + 30000;
    while (get_status(health) != 200) {
        if (dm_mono_ms() > deadline)
            fail_msg("the api (pid %d) did not answer %s within 30 s", pid, health);
        dm_sleep_ms(100, NULL);
    }
    return pid;
}

void dm_test_stop(int pid)
{
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}
