/* pgcluster.c - initdb/pg_ctl wrapper for the private local cluster. */
#include "adapters/db/pgcluster.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"

/* Directory holding initdb/pg_ctl: pg_config --bindir, else the newest /usr/lib/postgresql. */
static char *pg_bindir(void)
{
    glob_t g;
    char *dir = NULL;
    if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        const char *last = g.gl_pathv[g.gl_pathc - 1];
        dir = dm_xstrndup(last, strlen(last) - strlen("/pg_ctl"));
    }
    globfree(&g);
    if (dir == NULL)
        dir = dm_xstrdup("/usr/bin");
    return dir;
}

static bool run_as_postgres(void)
{
    return geteuid() == 0;
}

/* Run argv (as the postgres user when root), output to the log file; return exit status. */
static int run(char *const argv[], const char *logpath)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (logpath) {
            int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        if (run_as_postgres()) {
            struct passwd *pw = getpwnam("postgres");
            if (pw == NULL || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
                _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *abs_dir(const char *dir)
{
    char *r = realpath(dir, NULL);
    return r ? r : dm_xstrdup(dir);
}

static enum dm_err mkdir_owned(const char *path, struct dm_error *err)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return dm_error_set(err, DM_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    if (run_as_postgres()) {
        struct passwd *pw = getpwnam("postgres");
        if (pw == NULL)
            return dm_error_set(err, DM_ERR_UNAVAILABLE,
                                "running as root needs the 'postgres' system user "
                                "(install the postgresql package: scripts/install-deps)");
        if (chown(path, pw->pw_uid, pw->pw_gid) != 0)
            return dm_error_set(err, DM_ERR_IO, "cannot chown %s: %s", path, strerror(errno));
    }
    return DM_OK;
}

static enum dm_err mkdir_p(const char *path, struct dm_error *err)
{
    char tmp[4096];
    if (dm_strlcpy(tmp, path, sizeof(tmp)) != DM_OK)
        return dm_error_set(err, DM_ERR_INVALID, "path too long");
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return dm_error_set(err, DM_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return dm_error_set(err, DM_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    return DM_OK;
}

int dm_pgcluster_port(const struct dm_pgcluster_opts *o)
{
    char *path = dm_xasprintf("%s/port", o->dir);
    FILE *f = fopen(path, "r");
    free(path);
    int port = o->port;
    if (f) {
        char line[32] = {0};
        if (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            int p;
            if (dm_parse_int(line, 1, 65535, &p) == DM_OK)
                port = p;
        }
        fclose(f);
    }
    return port;
}

char *dm_pgcluster_url(const struct dm_pgcluster_opts *o)
{
    return dm_xasprintf("postgresql://postgres@127.0.0.1:%d/%s", dm_pgcluster_port(o),
                        o->dbname ? o->dbname : "diamond");
}

bool dm_pgcluster_running(const struct dm_pgcluster_opts *o)
{
    char *dir = abs_dir(o->dir);
    char *pidfile = dm_xasprintf("%s/data/postmaster.pid", dir);
    bool running = false;
    FILE *f = fopen(pidfile, "r");
    if (f) {
        char line[32] = {0};
        int pid;
        if (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            if (dm_parse_int(line, 1, 1 << 30, &pid) == DM_OK)
                running = kill(pid, 0) == 0 || errno == EPERM;
        }
        fclose(f);
    }
    free(pidfile);
    free(dir);
    return running;
}

static enum dm_err wait_ready(const char *url, int timeout_ms, struct dm_error *err)
{
    int64_t until = dm_mono_ms() + timeout_ms;
    char *admin = dm_xstrdup(url);
    /* Connect to the always-present "postgres" database. */
    char *slash = strrchr(admin, '/');
    if (slash)
        *slash = '\0';
    char *conn = dm_xasprintf("%s/postgres", admin);
    free(admin);
    enum dm_err e = DM_ERR_TIMEOUT;
    while (dm_mono_ms() < until) {
        if (PQping(conn) == PQPING_OK) {
            e = DM_OK;
            break;
        }
        dm_sleep_ms(50, NULL);
    }
    free(conn);
    if (e != DM_OK)
        dm_error_set(err, e, "PostgreSQL did not become ready within %d ms", timeout_ms);
    return e;
}

static enum dm_err create_db(const struct dm_pgcluster_opts *o, struct dm_error *err)
{
    char *conn = dm_xasprintf("postgresql://postgres@127.0.0.1:%d/postgres", dm_pgcluster_port(o));
    PGconn *pg = PQconnectdb(conn);
    free(conn);
    enum dm_err e = DM_OK;
    if (PQstatus(pg) != CONNECTION_OK) {
        e = dm_error_set(err, DM_ERR_DB_RETRY, "cannot connect: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return e;
    }
    const char *name = o->dbname ? o->dbname : "diamond";
    const char *p[] = {name};
    PGresult *r =
        PQexecParams(pg, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, p, NULL, NULL, 0);
    bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    if (!exists) {
        char *esc = PQescapeIdentifier(pg, name, strlen(name));
        char *sql = dm_xasprintf("CREATE DATABASE %s", esc ? esc : "diamond");
        PQfreemem(esc);
        r = PQexec(pg, sql);
        free(sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            e = dm_error_set(err, DM_ERR_DB, "create database: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(pg);
    return e;
}

/* As root the server runs as `postgres`, which must be able to reach the directory. */
static enum dm_err check_reachable(const char *dir, struct dm_error *err)
{
    if (!run_as_postgres())
        return DM_OK;
    char path[4096];
    if (dm_strlcpy(path, dir, sizeof(path)) != DM_OK)
        return dm_error_set(err, DM_ERR_INVALID, "path too long");
    for (char *slash = strrchr(path, '/'); slash && slash != path; slash = strrchr(path, '/')) {
        *slash = '\0';
        struct stat st;
        if (stat(path, &st) == 0 && !(st.st_mode & S_IXOTH))
            return dm_error_set(err, DM_ERR_IO,
                                "the postgres user cannot reach %s: make %s searchable "
                                "(chmod o+x) or choose another directory",
                                dir, path);
    }
    return DM_OK;
}

enum dm_err dm_pgcluster_start(const struct dm_pgcluster_opts *o, struct dm_error *err)
{
    enum dm_err e = mkdir_p(o->dir, err);
    if (e != DM_OK)
        return e;
    char *dir = abs_dir(o->dir);
    char *bindir = pg_bindir();
    char *data = dm_xasprintf("%s/data", dir);
    char *sock = dm_xasprintf("%s/run", dir);
    char *logfile = dm_xasprintf("%s/postgres.log", dir);
    char *initdb = dm_xasprintf("%s/initdb", bindir);
    char *pgctl = dm_xasprintf("%s/pg_ctl", bindir);
    char *portfile = dm_xasprintf("%s/port", dir);
    char *url = NULL;
    struct stat st;

    if ((e = check_reachable(dir, err)) != DM_OK)
        goto out;
    if (strlen(sock) > 90) {
        e = dm_error_set(err, DM_ERR_INVALID, "cluster directory path too long for a socket: %s",
                         dir);
        goto out;
    }
    /* The log file must be writable by the server user. */
    if ((e = mkdir_owned(sock, err)) != DM_OK)
        goto out;
    {
        int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0)
            close(fd);
        if (run_as_postgres()) {
            struct passwd *pw = getpwnam("postgres");
            if (pw && chown(logfile, pw->pw_uid, pw->pw_gid) != 0) {
                e = dm_error_set(err, DM_ERR_IO, "cannot chown %s", logfile);
                goto out;
            }
            if (pw && chown(dir, pw->pw_uid, pw->pw_gid) != 0) {
                e = dm_error_set(err, DM_ERR_IO, "cannot chown %s", dir);
                goto out;
            }
        }
    }
    if (stat(data, &st) != 0) {
        if ((e = mkdir_owned(data, err)) != DM_OK)
            goto out;
        dm_info(NULL, "initialising PostgreSQL cluster in %s", data);
        char *argv[] = {initdb, "-D",   data,          "-U",        "postgres", "--auth=trust",
                        "-E",   "UTF8", "--no-locale", "--no-sync", NULL};
        if (run(argv, logfile) != 0) {
            e = dm_error_set(err, DM_ERR_IO, "initdb failed; see %s", logfile);
            goto out;
        }
        char *conf = dm_xasprintf("%s/postgresql.conf", data);
        FILE *f = fopen(conf, "a");
        free(conf);
        if (f == NULL) {
            e = dm_error_set(err, DM_ERR_IO, "cannot write postgresql.conf");
            goto out;
        }
        fprintf(f,
                "\n# diamond private cluster\nlisten_addresses = '127.0.0.1'\nport = %d\n"
                "unix_socket_directories = '%s'\nmax_connections = 300\n"
                "shared_buffers = '256MB'\nwork_mem = '16MB'\nmaintenance_work_mem = '256MB'\n"
                "max_wal_size = '4GB'\ncheckpoint_timeout = '15min'\nsynchronous_commit = off\n"
                "log_min_messages = warning\nlogging_collector = off\n%s",
                o->port, sock, o->fast ? "fsync = off\nfull_page_writes = off\n" : "");
        fclose(f);
        FILE *pf = fopen(portfile, "w");
        if (pf) {
            fprintf(pf, "%d\n", o->port);
            fclose(pf);
        }
    }
    if (!dm_pgcluster_running(o)) {
        char *argv[] = {pgctl, "-D", data, "-l", logfile, "-w", "-t", "60", "start", NULL};
        if (run(argv, logfile) != 0) {
            e = dm_error_set(err, DM_ERR_IO, "pg_ctl start failed (port %d in use?); see %s",
                             dm_pgcluster_port(o), logfile);
            goto out;
        }
    }
    url = dm_pgcluster_url(o);
    if ((e = wait_ready(url, 30000, err)) != DM_OK)
        goto out;
    e = create_db(o, err);
out:
    free(url);
    free(portfile);
    free(pgctl);
    free(initdb);
    free(logfile);
    free(sock);
    free(data);
    free(bindir);
    free(dir);
    return e;
}

enum dm_err dm_pgcluster_stop(const struct dm_pgcluster_opts *o, struct dm_error *err)
{
    if (!dm_pgcluster_running(o))
        return DM_OK;
    char *dir = abs_dir(o->dir);
    char *bindir = pg_bindir();
    char *data = dm_xasprintf("%s/data", dir);
    char *pgctl = dm_xasprintf("%s/pg_ctl", bindir);
    char *argv[] = {pgctl, "-D", data, "-m", "fast", "-w", "-t", "60", "stop", NULL};
    enum dm_err e = DM_OK;
    if (run(argv, "/dev/null") != 0)
        e = dm_error_set(err, DM_ERR_IO, "pg_ctl stop failed");
    free(pgctl);
    free(data);
    free(bindir);
    free(dir);
    return e;
}
