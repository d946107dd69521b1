/*
 * runs.h - runs as the API shows them: the JSON form of a struct dm_run (store/runs.h, where
 * runs are loaded and their status derived), used by analytics and triggers.
 */
#ifndef DM_SERVICES_API_RUNS_H
#define DM_SERVICES_API_RUNS_H

#include "services/api/api.h"
#include "store/runs.h"

json_t *api_run_json(const struct dm_run *run);
/* The run run_id into *run (true; the caller clears it), else answered 404 "Run not found" or
 * the load's failure and false. raw_counts as in dm_runs_get. */
bool api_run_get(struct api_call *c, const char *run_id, bool raw_counts, struct dm_run *run);
/* Runs of feed (NULL = any) of the last 7 days that are still in progress (not terminal, not
 * stalled). run_id (may be NULL) receives the newest one. */
enum dm_err api_runs_in_progress(struct api_call *c, struct dm_db_conn *conn, const char *feed,
                                 int *count, char *run_id, size_t run_id_size,
                                 struct dm_error *err) DM_MUST_CHECK;

#endif
