/*
 * feed_id.h - the one rule for a feed id (FEEDS, core/config.h): 1 to DM_FEED_ID_LEN characters
 * of [a-z0-9_]. An id names the feed's raw table (raw_diamonds_<id>), its variables
 * (FEED_<ID>_*) and its watermark, and is spliced into SQL text (adapters/db/feed_sql.h), so
 * nothing else is ever accepted. Pure.
 */
#ifndef DM_CORE_FEED_ID_H
#define DM_CORE_FEED_ID_H

#include <stdbool.h>

#define DM_FEED_ID_LEN 32 /* longest feed id */

/* The feed of a deployment with one feed, and of every seed name (raw_diamonds_nivoda,
 * watermarks/watermark.json, NIVODA_*): FEEDS' default. */
#define DM_FEED_DEFAULT "nivoda"

/* True when id is a well-formed feed id (false for NULL). */
bool dm_feed_id_valid(const char *id);

#endif
