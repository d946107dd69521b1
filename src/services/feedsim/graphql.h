/*
 * graphql.h - a small, strict GraphQL document parser for the feed simulator. It reads one
 * executable operation (query or mutation; shorthand `{ ... }` too) with variable definitions
 * (types and defaults), aliases, nested selection sets and arguments of every literal kind
 * (variables, ints, floats, strings and block strings, booleans, null, enums, lists, objects).
 * Argument values are resolved against the request's `variables` object while parsing, so each
 * field carries a plain JSON object of arguments. Fragments, directives and subscriptions are
 * refused with a message. Input is untrusted: nesting depth, node count and lengths are bounded
 * and every failure is a DM_ERR_INVALID with a GraphQL-style message, never a crash.
 */
#ifndef DM_FEEDSIM_GRAPHQL_H
#define DM_FEEDSIM_GRAPHQL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct dm_gql_field {
    char *name;
    char *alias;  /* response key: the alias, or the name */
    json_t *args; /* object: argument name -> resolved JSON value (enums as strings) */
    bool has_selection;
    struct dm_gql_field *children; /* first field of the selection set */
    struct dm_gql_field *next;     /* next sibling */
};

struct dm_gql_doc {
    char op_type[16];            /* "query" or "mutation" */
    char *op_name;               /* NULL when anonymous */
    struct dm_gql_field *fields; /* root selection set */
};

/* Parse src[0..len) with variables (an object, or NULL for none). On success *out is owned by
 * the caller (dm_gql_doc_free). */
enum dm_err dm_gql_parse(const char *src, size_t len, const json_t *variables,
                         struct dm_gql_doc **out, struct dm_error *err) DM_MUST_CHECK;
void dm_gql_doc_free(struct dm_gql_doc *doc);

/* Child field of f by name (first match) or NULL. */
const struct dm_gql_field *dm_gql_child(const struct dm_gql_field *f, const char *name);

#endif
