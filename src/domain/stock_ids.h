/*
 * stock_ids.h - the stock ids of one file snapshot read, each with the line it was first seen
 * on (issue 18): the worker refuses a stock id repeated anywhere in the file, not only within
 * one batch of rows, and names the first line in the row_refused event.
 *
 * Memory: an open-addressing table of 32-bit offsets (load at most 1/2, doubled as it fills)
 * into one arena (doubled as it fills) holding, per id, its first line (4 bytes) and the id
 * with its NUL. 500,000 ids of 10 bytes: 4 MB of slots and an 8 MB arena (unit.test_stock_ids).
 * Bounded: past DM_STOCK_IDS_MAX ids (or the arena's bound) new ids are no longer remembered
 * (dm_stock_ids_full tells; ids already in the set are still found): the worker then refuses
 * the snapshot (a file over its bound), as it can no longer tell a repeat.
 *
 * Thread-safety: none; one set per read.
 */
#ifndef DM_DOMAIN_STOCK_IDS_H
#define DM_DOMAIN_STOCK_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most ids one set remembers (4 times the 500,000 rows of the spec's largest file): at
 * most 16 MB of slots. */
#define DM_STOCK_IDS_MAX 2000000u
/* The arena's bound: ids are at most 1 KB each (a longer value is a bad row), in practice tens
 * of bytes; an arena that would pass this stops growing the set. */
#define DM_STOCK_IDS_ARENA_MAX ((size_t)128 << 20)

struct dm_stock_ids;

struct dm_stock_ids *dm_stock_ids_new(void);
void dm_stock_ids_free(struct dm_stock_ids *s); /* NULL: no-op */

/* The line id was first seen on, when it is in the set (a repeat: returns that line, >= 1);
 * else 0 and id is remembered with line (lines are clamped to 1..UINT32_MAX). When the set is
 * full an id not in it is not remembered (0 all the same). */
uint64_t dm_stock_ids_seen(struct dm_stock_ids *s, const char *id, uint64_t line);

/* Ids remembered, whether the set stopped growing, and the bytes it holds. */
size_t dm_stock_ids_count(const struct dm_stock_ids *s);
bool dm_stock_ids_full(const struct dm_stock_ids *s);
size_t dm_stock_ids_bytes(const struct dm_stock_ids *s);

#endif
