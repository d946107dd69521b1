/* stock_ids.c - the stock ids of one snapshot read (see stock_ids.h). */
#include "domain/stock_ids.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/num.h"

struct dm_stock_ids {
    uint32_t *slot; /* 0 = empty, else 1 + the entry's offset in arena */
    size_t nslots;  /* a power of two */
    size_t count;
    char *arena; /* per entry: uint32 line (unaligned, memcpy), the id, NUL */
    size_t len, cap;
    bool full;
};

#define INITIAL_SLOTS ((size_t)1 << 12)

struct dm_stock_ids *dm_stock_ids_new(void)
{
    struct dm_stock_ids *s = dm_xcalloc(1, sizeof(*s));
    s->nslots = INITIAL_SLOTS;
    s->slot = dm_xcalloc(s->nslots, sizeof(*s->slot));
    s->cap = (size_t)64 << 10;
    s->arena = dm_xmalloc(s->cap);
    return s;
}

void dm_stock_ids_free(struct dm_stock_ids *s)
{
    if (s == NULL)
        return;
    free(s->slot);
    free(s->arena);
    free(s);
}

static const char *key_at(const struct dm_stock_ids *s, uint32_t off)
{
    return s->arena + off + sizeof(uint32_t);
}

static size_t find(const struct dm_stock_ids *s, const char *id, uint64_t h)
{
    size_t mask = s->nslots - 1;
    size_t i = (size_t)h & mask;
    while (s->slot[i] != 0 && strcmp(key_at(s, s->slot[i] - 1), id) != 0)
        i = (i + 1) & mask;
    return i;
}

static void grow_slots(struct dm_stock_ids *s)
{
    uint32_t *old = s->slot;
    size_t n = s->nslots;
    s->nslots = n * 2;
    s->slot = dm_xcalloc(s->nslots, sizeof(*s->slot));
    for (size_t i = 0; i < n; i++)
        if (old[i] != 0) {
            const char *k = key_at(s, old[i] - 1);
            s->slot[find(s, k, dm_mix64(dm_fnv1a(k)))] = old[i];
        }
    free(old);
}

uint64_t dm_stock_ids_seen(struct dm_stock_ids *s, const char *id, uint64_t line)
{
    uint64_t h = dm_mix64(dm_fnv1a(id));
    size_t i = find(s, id, h);
    if (s->slot[i] != 0) {
        uint32_t first;
        memcpy(&first, s->arena + s->slot[i] - 1, sizeof(first));
        return first;
    }
    size_t need = sizeof(uint32_t) + strlen(id) + 1;
    if (s->full || s->count >= DM_STOCK_IDS_MAX || s->len + need > DM_STOCK_IDS_ARENA_MAX) {
        s->full = true;
        return 0;
    }
    if (s->len + need > s->cap) {
        size_t cap = s->cap;
        while (s->len + need > cap)
            cap *= 2;
        if (cap > DM_STOCK_IDS_ARENA_MAX)
            cap = DM_STOCK_IDS_ARENA_MAX;
        s->arena = dm_xrealloc(s->arena, cap);
        s->cap = cap;
    }
    uint32_t at = (uint32_t)s->len;
    uint32_t l = line < 1 ? 1 : line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
    memcpy(s->arena + at, &l, sizeof(l));
    memcpy(s->arena + at + sizeof(l), id, need - sizeof(l));
    s->len += need;
    s->slot[i] = at + 1;
    s->count++;
    if (s->count * 2 > s->nslots)
        grow_slots(s);
    return 0;
}

size_t dm_stock_ids_count(const struct dm_stock_ids *s)
{
    return s->count;
}

bool dm_stock_ids_full(const struct dm_stock_ids *s)
{
    return s->full;
}

size_t dm_stock_ids_bytes(const struct dm_stock_ids *s)
{
    return s->nslots * sizeof(*s->slot) + s->cap;
}
