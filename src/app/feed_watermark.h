/*
 * feed_watermark.h - each feed's watermark (issue 18): the feed nivoda keeps the seed's
 * "watermark.json" (WATERMARK_DIR/watermark.json, or the blob watermarks/watermark.json);
 * another feed's is named after it, "<id>.json", beside it (the watermark adapter's name
 * option: struct dm_watermark_opts.name, mapped by app/adapter_opts.h). The one place a feed
 * id becomes a watermark store, for the scheduler, the consolidator and `diamond status`.
 */
#ifndef DM_APP_FEED_WATERMARK_H
#define DM_APP_FEED_WATERMARK_H

#include <stddef.h>

#include "adapters/watermark/watermark.h"
#include "core/config.h"
#include "core/error.h"

/* Room for a feed's watermark name. */
#define DM_FEED_WATERMARK_NAME_MAX 48

/* The watermark name of feed id: "watermark.json" for DM_FEED_DEFAULT, else "<id>.json"
 * ("watermark-feed.json" for a feed named watermark, which would take the default's: no feed id
 * contains a '-', so no other feed can have that name). */
void dm_app_feed_watermark_name(const char *id, char out[DM_FEED_WATERMARK_NAME_MAX]);

/* Open the watermark store of feed id (the backend the configuration chooses).
 * DM_ERR_INVALID for a malformed id; the backend's errors otherwise. */
enum dm_err dm_app_feed_watermark_open(const struct dm_config *cfg, const char *id,
                                       struct dm_watermark_store **out,
                                       struct dm_error *err) DM_MUST_CHECK;

#endif
