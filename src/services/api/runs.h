/*
 * runs.h - runs as the API shows them: one SELECT joining run_metadata with partition counts
 * (API_RUN_SELECT, fixed column order), status derivation via domain/run_status.h, and the
 * JSON form used by analytics and triggers.
 */
#ifndef DM_SERVICES_API_RUNS_H
#define DM_SERVICES_API_RUNS_H

#include "domain/run_status.h"
#include "services/api/api.h"

/* "SELECT ... FROM run_metadata r LEFT JOIN LATERAL (...) p ON true" - append WHERE/ORDER. */
extern const char API_RUN_SELECT[];

void api_run_facts(const PGresult *r, int row, struct dm_run_facts *f);
enum dm_run_status api_run_status(const PGresult *r, int row);
json_t *api_run_json(const PGresult *r, int row);
/* The API_RUN_SELECT row of run_id into *r (true; the caller clears it), else answered 404 "Run
 * not found" or the query's failure (api_query_row) and false. */
bool api_run_get(struct api_call *c, const char *run_id, PGresult **r);
/* Runs of the last 7 days that are still in progress (not terminal, not stalled). run_id
 * (may be NULL) receives the newest one. */
enum dm_err api_runs_in_progress(struct dm_db_conn *conn, int *count, char *run_id,
                                 size_t run_id_size, struct dm_error *err) DM_MUST_CHECK;

#endif
