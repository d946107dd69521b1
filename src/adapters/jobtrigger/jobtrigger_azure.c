/*
 * jobtrigger_azure.c - start the scheduler Container Apps Job through Azure Resource Manager
 * with a managed-identity token, merging RUN_TYPE into the job's existing container
 * environment (the reference replaced the whole environment and lost the job's settings).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/http/client.h"
#include "adapters/jobtrigger/jobtrigger_impl.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"

#define ARM_API_VERSION "2023-05-01"
#define ARM_RESOURCE "https://management.azure.com/"

struct azure_state {
    char *subscription, *group, *job, *mgmt, *identity_endpoint, *identity_header;
};

void *dm_jobtrigger_azure_state(const struct dm_jobtrigger_opts *opts)
{
    struct azure_state *s = dm_xcalloc(1, sizeof(*s));
    s->subscription = dm_xstrdup(opts->subscription_id);
    s->group = dm_xstrdup(opts->resource_group);
    s->job = dm_xstrdup(opts->job_name);
    const char *m =
        opts->management_endpoint ? opts->management_endpoint : "https://management.azure.com";
    /* No trailing slash: paths are appended. */
    s->mgmt = dm_xstrdup(m);
    size_t n = strlen(s->mgmt);
    while (n > 0 && s->mgmt[n - 1] == '/')
        s->mgmt[--n] = '\0';
    s->identity_endpoint = opts->identity_endpoint ? dm_xstrdup(opts->identity_endpoint) : NULL;
    s->identity_header = opts->identity_header ? dm_xstrdup(opts->identity_header) : NULL;
    return s;
}

static void azure_free(struct dm_jobtrigger *t)
{
    struct azure_state *s = t->state;
    if (s == NULL)
        return;
    free(s->subscription);
    free(s->group);
    free(s->job);
    free(s->mgmt);
    free(s->identity_endpoint);
    free(s->identity_header);
    free(s);
}

static enum dm_err get_token(struct azure_state *s, char **token, struct dm_error *err)
{
    if (s->identity_endpoint == NULL || s->identity_header == NULL)
        return dm_error_set(err, DM_ERR_UNAVAILABLE,
                            "managed identity not available (IDENTITY_ENDPOINT/IDENTITY_HEADER)");
    char *resource = dm_url_encode(ARM_RESOURCE);
    char *url = dm_xasprintf("%s%sresource=%s&api-version=2019-08-01", s->identity_endpoint,
                             strchr(s->identity_endpoint, '?') ? "&" : "?", resource);
    free(resource);
    char *hdr = dm_xasprintf("X-IDENTITY-HEADER: %s", s->identity_header);
    const char *headers[] = {hdr, "Metadata: true", NULL};
    struct dm_http_request req = {.method = "GET",
                                  .url = url,
                                  .headers = headers,
                                  .timeout_ms = 15000,
                                  .max_response = (size_t)64 * 1024};
    struct dm_http_response resp;
    enum dm_err e = dm_http_do(&req, &resp, err);
    json_t *j = NULL;
    if (e != DM_OK)
        goto out;
    if (resp.status != 200) {
        e = dm_error_set(err, DM_ERR_UNAVAILABLE, "managed identity token request: HTTP %ld",
                         resp.status);
        goto out;
    }
    j = dm_json_parse(resp.body.data ? resp.body.data : "", resp.body.len, (size_t)64 * 1024, NULL);
    const char *tok = j ? dm_json_str(j, "access_token") : NULL;
    if (tok == NULL || tok[0] == '\0') {
        e = dm_error_set(err, DM_ERR_UNAVAILABLE, "managed identity response has no access_token");
        goto out;
    }
    *token = dm_xstrdup(tok);
out:
    json_decref(j);
    dm_http_response_free(&resp);
    free(hdr);
    free(url);
    return e;
}

/* Set variable name to value in a container's env array, keeping every other variable. */
static void merge_env(json_t *container, const char *var, const char *value)
{
    json_t *env = json_object_get(container, "env");
    if (!json_is_array(env)) {
        env = json_array();
        json_object_set_new(container, "env", env);
    }
    size_t i;
    json_t *v;
    json_array_foreach(env, i, v)
    {
        const char *name = dm_json_str(v, "name");
        if (name && !strcmp(name, var)) {
            json_object_del(v, "secretRef");
            json_object_set_new(v, "value", json_string(value));
            return;
        }
    }
    json_array_append_new(env, json_pack("{s:s,s:s}", "name", var, "value", value));
}

static enum dm_err azure_start(struct dm_jobtrigger *t, const char *run_type,
                               const char *request_id, char *execution, size_t size,
                               struct dm_error *err)
{
    struct azure_state *s = t->state;
    char *token = NULL, *job_url = NULL, *start_url = NULL, *auth = NULL, *body = NULL;
    json_t *job = NULL, *tmpl = NULL;
    struct dm_http_response r1 = {0}, r2 = {0};
    bool have_r1 = false, have_r2 = false;
    enum dm_err e = get_token(s, &token, err);
    if (e != DM_OK)
        goto out;
    auth = dm_xasprintf("Authorization: Bearer %s", token);
    job_url = dm_xasprintf("%s/subscriptions/%s/resourceGroups/%s/providers/Microsoft.App/jobs/%s"
                           "?api-version=" ARM_API_VERSION,
                           s->mgmt, s->subscription, s->group, s->job);
    const char *h1[] = {auth, "Accept: application/json", NULL};
    struct dm_http_request q1 = {.method = "GET",
                                 .url = job_url,
                                 .headers = h1,
                                 .timeout_ms = 20000,
                                 .max_response = 1 << 20};
    e = dm_http_do(&q1, &r1, err);
    have_r1 = true;
    if (e != DM_OK)
        goto out;
    if (r1.status != 200) {
        e = dm_error_set(err, DM_ERR_UNAVAILABLE, "ARM GET job: HTTP %ld", r1.status);
        goto out;
    }
    job = dm_json_parse(r1.body.data ? r1.body.data : "", r1.body.len, 1 << 20, NULL);
    json_t *containers =
        job ? json_object_get(json_object_get(json_object_get(job, "properties"), "template"),
                              "containers")
            : NULL;
    if (!json_is_array(containers) || json_array_size(containers) == 0) {
        e = dm_error_set(err, DM_ERR_UNAVAILABLE, "ARM job has no template containers");
        goto out;
    }
    tmpl = json_object();
    json_t *cs = json_deep_copy(containers);
    size_t i;
    json_t *c;
    /* The execution runs the API's request (its feed and run type: `diamond scheduler` reads
     * SCHEDULER_REQUEST_ID as --request); RUN_TYPE as well, for a job image that predates it. */
    json_array_foreach(cs, i, c)
    {
        merge_env(c, "RUN_TYPE", run_type);
        if (request_id != NULL)
            merge_env(c, "SCHEDULER_REQUEST_ID", request_id);
    }
    json_object_set_new(tmpl, "containers", cs);
    json_t *init = json_object_get(json_object_get(json_object_get(job, "properties"), "template"),
                                   "initContainers");
    if (json_is_array(init))
        json_object_set_new(tmpl, "initContainers", json_deep_copy(init));
    body = dm_json_dumps(tmpl);
    start_url = dm_xasprintf("%s/subscriptions/%s/resourceGroups/%s/providers/Microsoft.App/"
                             "jobs/%s/start?api-version=" ARM_API_VERSION,
                             s->mgmt, s->subscription, s->group, s->job);
    const char *h2[] = {auth, "Content-Type: application/json", "Accept: application/json", NULL};
    struct dm_http_request q2 = {.method = "POST",
                                 .url = start_url,
                                 .headers = h2,
                                 .body = body,
                                 .body_len = strlen(body),
                                 .timeout_ms = 20000,
                                 .max_response = 1 << 20};
    e = dm_http_do(&q2, &r2, err);
    have_r2 = true;
    if (e != DM_OK)
        goto out;
    if (r2.status != 200 && r2.status != 201 && r2.status != 202) {
        e = dm_error_set(err, DM_ERR_UNAVAILABLE, "ARM start job: HTTP %ld", r2.status);
        goto out;
    }
    json_t *resj = dm_json_parse(r2.body.data ? r2.body.data : "", r2.body.len, 1 << 20, NULL);
    const char *name = resj ? dm_json_str(resj, "name") : NULL;
    snprintf(execution, size, "%s", name ? name : "started");
    json_decref(resj);
    dm_info(NULL, "scheduler job %s started (execution %s, request %s)", s->job, execution,
            request_id);
out:
    if (e != DM_OK && e != DM_ERR_INVALID) {
        /* Any failure on this path means "cannot start the job now". */
        e = DM_ERR_UNAVAILABLE;
        if (err)
            err->code = e;
    }
    if (have_r1)
        dm_http_response_free(&r1);
    if (have_r2)
        dm_http_response_free(&r2);
    json_decref(job);
    json_decref(tmpl);
    free(body);
    free(start_url);
    free(job_url);
    free(auth);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return e;
}

const struct dm_jobtrigger_ops dm_jobtrigger_azure_ops = {"azure", azure_start, azure_free};
