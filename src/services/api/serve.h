/*
 * serve.h - the REST API service (api.md) as one library call: what `diamond api` runs.
 */
#ifndef DM_SERVICES_API_SERVE_H
#define DM_SERVICES_API_SERVE_H

#include "app/app.h"
#include "core/error.h"

/* Serve the API on app's configuration and pool (PORT, API_BIND) until SIGTERM, then finish
 * the in-flight requests, flush statistics and return DM_OK. Dependencies the API can run
 * without (queue, watermark store, supplier) are logged and left out. Errors, with err (not
 * NULL) filled: DM_ERR_INVALID when HMAC_SECRETS is refused (a configuration problem; the
 * message names the variable, never a secret), DM_ERR_IO when the server cannot listen. */
enum dm_err dm_api_serve(struct dm_app *app, struct dm_error *err) DM_MUST_CHECK;

#endif
