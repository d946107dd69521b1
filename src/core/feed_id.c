/* feed_id.c - the rule for a feed id (see feed_id.h). */
#include "core/feed_id.h"

#include <stddef.h>

bool dm_feed_id_valid(const char *id)
{
    if (id == NULL || id[0] == '\0')
        return false;
    for (size_t n = 0; id[n]; n++) {
        char c = id[n];
        if (n >= DM_FEED_ID_LEN || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}
