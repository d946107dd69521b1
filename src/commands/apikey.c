/* apikey.c - `diamond apikey create|list|revoke`: keys printed once, only SHA-256 stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/commands.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/pgarray.h"
#include "core/timeutil.h"

static void help(FILE *out)
{
    fprintf(out, "usage: diamond apikey create --name NAME [--permissions read,trade,admin] "
                 "[--expires DATE]\n"
                 "       diamond apikey list\n"
                 "       diamond apikey revoke ID\n\n"
                 "create prints the new key once on a line of its own; only its SHA-256 is "
                 "stored.\nWithout --permissions the key may only read; trade and admin are "
                 "granted only when\nlisted.\n");
}

static int create(struct dm_app *app, int argc, char **argv)
{
    /* Least privilege: a key does only what it is created for. (Rows with an empty list, from
     * before, still mean every permission, as in the reference.) */
    const char *name = NULL, *perms = "read", *expires = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--permissions") && i + 1 < argc)
            perms = argv[++i];
        else if (!strcmp(argv[i], "--expires") && i + 1 < argc)
            expires = argv[++i];
        else {
            fprintf(stderr, "apikey create: unknown option '%s'\n", argv[i]);
            return DM_EXIT_CONFIG;
        }
    }
    if (name == NULL || name[0] == '\0') {
        fprintf(stderr, "apikey create: --name is required\n");
        return DM_EXIT_CONFIG;
    }
    /* Validate permissions: comma-separated subset of read,trade,admin. */
    struct dm_buf arr;
    dm_buf_init(&arr, 256);
    if (dm_buf_append_char(&arr, '{') != DM_OK)
        return DM_EXIT_FAIL;
    char *copy = dm_xstrdup(perms);
    char *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "read") && strcmp(tok, "trade") && strcmp(tok, "admin")) {
            fprintf(stderr, "apikey create: unknown permission '%s' (read, trade, admin)\n", tok);
            free(copy);
            dm_buf_free(&arr);
            return DM_EXIT_CONFIG;
        }
        n++;
        if (dm_pgarray_add(&arr, tok) != DM_OK) {
            free(copy);
            dm_buf_free(&arr);
            return DM_EXIT_FAIL;
        }
    }
    free(copy);
    if (n == 0) {
        fprintf(stderr, "apikey create: --permissions needs at least one of read, trade, admin\n");
        dm_buf_free(&arr);
        return DM_EXIT_CONFIG;
    }
    if (dm_buf_append_char(&arr, '}') != DM_OK) {
        dm_buf_free(&arr);
        return DM_EXIT_FAIL;
    }
    char expires_iso[DM_ISO_LEN];
    if (expires) {
        int64_t ms;
        if (dm_time_parse(expires, &ms) != DM_OK) {
            /* Accept a plain date as midnight UTC. */
            char *full = dm_xasprintf("%sT00:00:00Z", expires);
            enum dm_err pe = dm_time_parse(full, &ms);
            free(full);
            if (pe != DM_OK) {
                fprintf(stderr, "apikey create: --expires must be a date (YYYY-MM-DD) or an "
                                "ISO-8601 time\n");
                dm_buf_free(&arr);
                return DM_EXIT_CONFIG;
            }
        }
        dm_time_format(ms, expires_iso);
    }
    char key[41], hash[DM_SHA256_HEX_LEN];
    memcpy(key, "dk_", 4); /* with its NUL: dm_random_token overwrites it */
    dm_random_token(key + 3, 37);
    dm_sha256_hex(key, strlen(key), hash);
    const char *p[] = {hash, name, arr.data, expires ? expires_iso : NULL};
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_db_query(app->db,
                                "INSERT INTO api_keys (key_hash, client_name, permissions, "
                                "expires_at) VALUES ($1, $2, $3::text[], $4) RETURNING id",
                                4, p, &r, &err);
    if (e != DM_OK) {
        dm_buf_free(&arr);
        fprintf(stderr, "apikey create: %s\n", err.message);
        return DM_EXIT_FAIL;
    }
    fprintf(stderr, "created API key %s for '%s' with permissions %s (shown once; store it now):\n",
            PQgetvalue(r, 0, 0), name, arr.data);
    dm_buf_free(&arr);
    printf("%s\n", key);
    fflush(stdout);
    PQclear(r);
    return DM_EXIT_OK;
}

static int list(struct dm_app *app)
{
    PGresult *r = NULL;
    struct dm_error err = {0};
    if (dm_db_query(app->db,
                    "SELECT id, client_name, array_to_string(permissions, ','), active, "
                    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
                    "coalesce(to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
                    "'never'), coalesce(to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
                    "'-') FROM api_keys ORDER BY created_at",
                    0, NULL, &r, &err) != DM_OK) {
        fprintf(stderr, "apikey list: %s\n", err.message);
        return DM_EXIT_FAIL;
    }
    printf("%-36s  %-20s  %-16s  %-7s  %-16s  %-16s  %s\n", "ID", "CLIENT", "PERMISSIONS", "ACTIVE",
           "CREATED", "LAST USED", "EXPIRES");
    for (int i = 0; i < PQntuples(r); i++) {
        const char *perm = PQgetvalue(r, i, 2);
        printf("%-36s  %-20s  %-16s  %-7s  %-16s  %-16s  %s\n", PQgetvalue(r, i, 0),
               PQgetvalue(r, i, 1), perm[0] ? perm : "(all)",
               PQgetvalue(r, i, 3)[0] == 't' ? "yes" : "no", PQgetvalue(r, i, 4),
               PQgetvalue(r, i, 5), PQgetvalue(r, i, 6));
    }
    PQclear(r);
    return DM_EXIT_OK;
}

static int revoke(struct dm_app *app, const char *id)
{
    if (!dm_uuid_valid(id)) {
        fprintf(stderr, "apikey revoke: '%s' is not a key id (UUID); see `diamond apikey list`\n",
                id);
        return DM_EXIT_CONFIG;
    }
    PGresult *r = NULL;
    struct dm_error err = {0};
    const char *p[] = {id};
    if (dm_db_query(app->db, "UPDATE api_keys SET active = false WHERE id = $1 RETURNING id", 1, p,
                    &r, &err) != DM_OK) {
        fprintf(stderr, "apikey revoke: %s\n", err.message);
        return DM_EXIT_FAIL;
    }
    int n = PQntuples(r);
    PQclear(r);
    if (n == 0) {
        fprintf(stderr, "apikey revoke: no key with id %s\n", id);
        return DM_EXIT_FAIL;
    }
    printf("revoked %s\n", id);
    return DM_EXIT_OK;
}

int dm_cmd_apikey(int argc, char **argv)
{
    if (dm_wants_help(argc, argv) || argc < 2) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? DM_EXIT_CONFIG : DM_EXIT_OK;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "create") && strcmp(verb, "list") && strcmp(verb, "revoke"))
        return dm_cmd_misuse(help, "apikey: unknown action '%s'", verb);
    if (!strcmp(verb, "revoke") && argc != 3) {
        fprintf(stderr, "apikey revoke: exactly one key id expected\n");
        return DM_EXIT_CONFIG;
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "apikey", DM_APP_DB | DM_APP_SCHEMA);
    if (rc == 0) {
        dm_log_set_fd(2); /* stdout is for the key */
        if (!strcmp(verb, "create"))
            rc = create(&app, argc, argv);
        else if (!strcmp(verb, "list"))
            rc = list(&app);
        else
            rc = revoke(&app, argv[2]);
    }
    dm_app_free(&app);
    return rc;
}
