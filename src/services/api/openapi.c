/*
 * openapi.c - GET /openapi.json, an OpenAPI 3.0 document generated from the route table (so it
 * covers every route by construction) with both security schemes, and GET /api-docs, a
 * self-contained HTML page (no external scripts or styles) that renders it.
 */
#include <stdio.h>
#include <string.h>

#include "services/api/api.h"

static json_t *param(const char *name, const char *in, bool required, const char *type,
                     const char *desc)
{
    json_t *p = json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", name, "in", in, "required", required,
                          "schema", "type", type);
    if (desc)
        json_object_set_new(p, "description", json_string(desc));
    return p;
}

static json_t *multi(const char *name, const char *desc)
{
    json_t *p = json_pack("{s:s,s:s,s:b,s:{s:s,s:{s:s}},s:s,s:b}", "name", name, "in", "query",
                          "required", 0, "schema", "type", "array", "items", "type", "string",
                          "style", "form", "explode", 1);
    json_object_set_new(p, "description", json_string(desc));
    return p;
}

static json_t *search_params(void)
{
    json_t *a = json_array();
    const char *lists[] = {"shape",    "color",        "clarity",      "cut", "polish",
                           "symmetry", "fluorescence", "availability", "feed"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        json_array_append_new(a,
                              multi(lists[i], "one or many: repeated, name[] or comma-separated; "
                                              "case-insensitive"));
    json_array_append_new(a, param("carat_min", "query", false, "number", NULL));
    json_array_append_new(a, param("carat_max", "query", false, "number", NULL));
    json_array_append_new(a, param("price_min", "query", false, "number", "retail dollars"));
    json_array_append_new(a, param("price_max", "query", false, "number", "retail dollars"));
    json_array_append_new(a, param("lab_grown", "query", false, "boolean", "true or false only"));
    json_t *sort = param("sort_by", "query", false, "string", "default created_at");
    json_object_set_new(json_object_get(sort, "schema"), "enum",
                        json_pack("[s,s,s,s,s,s,s]", "created_at", "retail_price", "feed_price",
                                  "price_model_price", "carats", "color", "clarity"));
    json_array_append_new(a, sort);
    json_t *order = param("sort_order", "query", false, "string", "default desc");
    json_object_set_new(json_object_get(order, "schema"), "enum",
                        json_pack("[s,s]", "asc", "desc"));
    json_array_append_new(a, order);
    json_array_append_new(a, param("page", "query", false, "integer", ">= 1, default 1"));
    json_array_append_new(a, param("limit", "query", false, "integer", "1..100, default 50"));
    json_array_append_new(
        a, param("cursor", "query", false, "string", "keyset cursor from pagination.nextCursor"));
    json_array_append_new(a, param("If-None-Match", "header", false, "string", "ETag"));
    return a;
}

static json_t *body_schema(const char *method, const char *pattern)
{
    if (strstr(pattern, "/purchase"))
        return json_pack("{s:s,s:[s],s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}}", "type", "object",
                         "required", "destination_id", "properties", "destination_id", "type",
                         "string", "reference", "type", "string", "comments", "type", "string",
                         "return_option", "type", "string");
    if (strstr(pattern, "/triggers/scheduler"))
        return json_pack("{s:s,s:{s:{s:s,s:[s,s]}}}", "type", "object", "properties", "run_type",
                         "type", "string", "enum", "full", "incremental");
    if (strstr(pattern, "/triggers/consolidate"))
        return json_pack("{s:s,s:[s],s:{s:{s:s,s:s},s:{s:s}}}", "type", "object", "required",
                         "run_id", "properties", "run_id", "type", "string", "format", "uuid",
                         "force", "type", "boolean");
    if (strstr(pattern, "/triggers/retry-workers"))
        return json_pack("{s:s,s:[s],s:{s:{s:s,s:s},s:{s:s}}}", "type", "object", "required",
                         "run_id", "properties", "run_id", "type", "string", "format", "uuid",
                         "partition_id", "type", "string");
    if (strstr(pattern, "/triggers/cancel-run"))
        return json_pack("{s:s,s:[s],s:{s:{s:s,s:s}}}", "type", "object", "required", "run_id",
                         "properties", "run_id", "type", "string", "format", "uuid");
    if (strstr(pattern, "/analytics/query"))
        return json_pack(
            "{s:s,s:{s:{s:s,s:{s:s}},s:{s:s,s:{s:s,s:{s:{s:s},s:{s:s,s:[s,s,s,s,s,s,s,s,s,s]},"
            "s:{}}}},s:{s:s},s:{s:s,s:i,s:i},s:{s:s,s:i}}}",
            "type", "object", "properties", "select", "type", "array", "items", "type", "string",
            "filters", "type", "array", "items", "type", "object", "properties", "column", "type",
            "string", "operator", "type", "string", "enum", "eq", "neq", "gt", "gte", "lt", "lte",
            "like", "ilike", "in", "is", "value", "order_by", "type", "object", "limit", "type",
            "integer", "minimum", 1, "maximum", 1000, "offset", "type", "integer", "minimum", 0);
    if (strstr(pattern, "/pricing-rules") && !strstr(pattern, "reprice") &&
        (!strcmp(method, "POST") || !strcmp(method, "PUT")))
        return json_pack("{s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s,s:{s:s}},s:{s:s},"
                         "s:{s:s},s:{s:s},s:{s:s},s:{s:s,s:i,s:b},s:{s:s,s:i,s:i},s:{s:s}}}",
                         "type", "object", "properties", "name", "type", "string", "priority",
                         "type", "integer", "carat_min", "type", "number", "carat_max", "type",
                         "number", "shapes", "type", "array", "items", "type", "string",
                         "lab_grown", "type", "boolean", "feed", "type", "string", "price_min",
                         "type", "number", "price_max", "type", "number", "markup_ratio", "type",
                         "number", "minimum", 0, "exclusiveMinimum", 1, "rating", "type", "integer",
                         "minimum", 1, "maximum", 10, "active", "type", "boolean");
    return NULL;
}

static json_t *resp(const char *desc, bool error)
{
    json_t *r = json_pack("{s:s}", "description", desc);
    json_object_set_new(
        r, "content",
        json_pack("{s:{s:{s:s}}}", "application/json", "schema", "$ref",
                  error ? "#/components/schemas/Error" : "#/components/schemas/Data"));
    return r;
}

static json_t *build(void)
{
    json_t *paths = json_object();
    for (int i = 0; i < api_nroutes; i++) {
        const struct api_route *rt = &api_routes[i];
        json_t *item = json_object_get(paths, rt->pattern);
        if (item == NULL) {
            item = json_object();
            json_object_set_new(paths, rt->pattern, item);
        }
        char lower[16];
        size_t k = 0;
        for (; rt->method[k] && k + 1 < sizeof(lower); k++)
            lower[k] = (char)(rt->method[k] | 0x20);
        lower[k] = '\0';
        json_t *op = json_pack("{s:[s],s:s}", "tags", rt->tag, "summary", rt->summary);
        char opid[128];
        snprintf(opid, sizeof(opid), "%s%s", lower, rt->pattern);
        for (char *p = opid; *p; p++)
            if (*p == '/' || *p == '{' || *p == '}' || *p == '-' || *p == '.')
                *p = '_';
        json_object_set_new(op, "operationId", json_string(opid));
        json_t *params = !strcmp(rt->pattern, "/api/v2/diamonds") ? search_params() : json_array();
        for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
            const char *e = strchr(p, '}');
            char name[32];
            snprintf(name, sizeof(name), "%.*s", (int)(e - p - 1), p + 1);
            json_array_append_new(
                params, param(name, "path", true, "string", strcmp(name, "table") ? "UUID" : NULL));
        }
        if (strstr(rt->pattern, "/purchase"))
            json_array_append_new(params, param("X-Idempotency-Key", "header", true, "string",
                                                "bound to caller, diamond and body"));
        if (json_array_size(params) > 0)
            json_object_set_new(op, "parameters", params);
        else
            json_decref(params);
        json_t *schema = body_schema(rt->method, rt->pattern);
        if (schema)
            json_object_set_new(op, "requestBody",
                                json_pack("{s:b,s:{s:{s:o}}}", "required", 1, "content",
                                          "application/json", "schema", schema));
        json_t *responses = json_object();
        json_object_set_new(responses, "200", resp("Success", false));
        if (rt->perm) {
            json_object_set_new(op, "security",
                                json_pack("[{s:[]},{s:[]}]", "ApiKeyAuth", "HmacAuth"));
            json_object_set_new(responses, "400", resp("Validation error", true));
            json_object_set_new(responses, "401", resp("Missing or invalid credentials", true));
            json_object_set_new(responses, "403", resp("Missing permission", true));
            json_object_set_new(responses, "429", resp("Rate limited (Retry-After)", true));
        } else {
            json_object_set_new(op, "security", json_array());
        }
        if (strstr(rt->pattern, "{"))
            json_object_set_new(responses, "404", resp("Not found", true));
        if (!strcmp(rt->method, "POST") || !strcmp(rt->method, "PUT"))
            json_object_set_new(responses, "413", resp("Body over 100 kB", true));
        if (strstr(rt->pattern, "/hold") || strstr(rt->pattern, "/purchase") ||
            strstr(rt->pattern, "/triggers/"))
            json_object_set_new(responses, "409", resp("Conflict", true));
        json_object_set_new(responses, "503", resp("Dependency unavailable", true));
        if (!strcmp(rt->pattern, "/api/v2/diamonds"))
            json_object_set_new(responses, "304",
                                json_pack("{s:s}", "description", "Not modified (ETag)"));
        json_object_set_new(op, "responses", responses);
        json_object_set_new(item, lower, op);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "openapi", json_string("3.0.3"));
    json_object_set_new(
        doc, "info",
        json_pack("{s:s,s:s,s:s}", "title", "Diamond inventory API", "version", "2.0.0",
                  "description",
                  "Priced diamond catalogue, trading, pipeline analytics and operator actions. "
                  "Authenticate with X-API-Key, or sign with HMAC: X-Client-Id, X-Timestamp "
                  "(Unix seconds) and X-Signature = lowercase hex HMAC-SHA256 over METHOD\\n"
                  "PATH?QUERY\\nTIMESTAMP\\nhex(SHA-256(body)); +-300 s; each signature once."));
    json_object_set_new(doc, "servers", json_pack("[{s:s}]", "url", "/"));
    json_object_set_new(doc, "paths", paths);
    json_t *comp = json_object();
    json_object_set_new(comp, "securitySchemes",
                        json_pack("{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s}}", "ApiKeyAuth", "type",
                                  "apiKey", "in", "header", "name", "X-API-Key", "description",
                                  "API key issued by `diamond apikey create`", "HmacAuth", "type",
                                  "apiKey", "in", "header", "name", "X-Signature", "description",
                                  "HMAC-SHA256 signature; also send X-Client-Id and X-Timestamp"));
    json_object_set_new(
        comp, "schemas",
        json_pack("{s:{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s}}}}},s:{s:s,s:{s:{}}}}", "Error",
                  "type", "object", "properties", "error", "type", "object", "properties", "code",
                  "type", "string", "message", "type", "string", "details", "type", "object",
                  "Data", "type", "object", "properties", "data"));
    json_object_set_new(doc, "components", comp);
    return doc;
}

void api_openapi(struct api_call *c)
{
    api_json(c->resp, 200, build());
}

static const char docs_html[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Diamond API</title><style>"
    "body{font:14px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}"
    "header{background:#1d2330;color:#fff;padding:16px 24px}h1{margin:0;font-size:20px}"
    "main{max-width:1000px;margin:0 auto;padding:16px 24px}"
    "h2{border-bottom:1px solid #ccd;padding-bottom:4px;margin-top:28px}"
    ".op{background:#fff;border:1px solid #dde;border-radius:6px;margin:8px 0;padding:8px 12px}"
    ".m{display:inline-block;min-width:64px;font-weight:700;font-family:monospace}"
    ".get{color:#1a7f37}.post{color:#0b5cad}.put{color:#9a6700}.delete{color:#cf222e}"
    "code{font-family:monospace}.p{color:#555;font-size:13px;margin-left:72px}"
    ".lock{font-size:12px;color:#777}</style></head><body>"
    "<header><h1>Diamond inventory API</h1><div id=\"info\"></div></header>"
    "<main id=\"doc\">Loading /openapi.json&hellip;</main><script>"
    "function esc(s){return String(s).replace(/[&<>\"]/g,function(c){return{'&':'&amp;',"
    "'<':'&lt;','>':'&gt;','\"':'&quot;'}[c]})}"
    "fetch('openapi.json').then(function(r){return r.json()}).then(function(d){"
    "document.getElementById('info').textContent=d.info.description;var tags={};"
    "Object.keys(d.paths).forEach(function(p){Object.keys(d.paths[p]).forEach(function(m){"
    "var o=d.paths[p][m];(tags[o.tags[0]]=tags[o.tags[0]]||[]).push([m,p,o])})});"
    "var h='';Object.keys(tags).forEach(function(t){h+='<h2>'+esc(t)+'</h2>';"
    "tags[t].forEach(function(x){var o=x[2];h+='<div class=op><span class=\"m '+x[0]+'\">'+"
    "x[0].toUpperCase()+'</span> <code>'+esc(x[1])+'</code> &mdash; '+esc(o.summary)+"
    "(o.security&&o.security.length?' <span class=lock>(X-API-Key or HMAC)</span>':'');"
    "(o.parameters||[]).forEach(function(p){h+='<div class=p><code>'+esc(p.name)+'</code> ('+"
    "esc(p.in)+(p.required?', required':'')+')'+(p.description?' &ndash; '+esc(p.description):"
    "'')+'</div>'});if(o.requestBody){h+='<div class=p>body: <code>'+esc(JSON.stringify("
    "o.requestBody.content['application/json'].schema.properties||{}))+'</code></div>'}"
    "h+='<div class=p>responses: '+esc(Object.keys(o.responses).join(', '))+'</div></div>'})});"
    "document.getElementById('doc').innerHTML=h}).catch(function(e){"
    "document.getElementById('doc').textContent='Cannot load openapi.json: '+e})"
    "</script></body></html>";

void api_docs(struct api_call *c)
{
    struct dm_buf *b = &c->resp->body;
    dm_buf_reset(b);
    c->resp->status = 200;
    c->resp->content_type = "text/html; charset=utf-8";
    if (dm_buf_append(b, docs_html, sizeof(docs_html) - 1) != DM_OK)
        api_fail(c, DM_ERR_INTERNAL, NULL);
}
