/* snapshot.c - pure rules of a file feed's snapshot (see snapshot.h). */
#include "domain/snapshot.h"

#include <math.h>

bool dm_snapshot_shrink_refused(int64_t baseline, int64_t stones, double max_shrink,
                                int64_t *min_stones)
{
    if (!(max_shrink >= 0.0)) /* NaN too */
        max_shrink = 0.0;
    if (max_shrink > 1.0)
        max_shrink = 1.0;
    if (baseline < 0)
        baseline = 0;
    /* keep = (1 - max_shrink) in millionths; the least accepted is ceil(keep x baseline). */
    int64_t keep = 1000000 - (int64_t)llround(max_shrink * 1000000.0);
    __int128 need = (__int128)keep * baseline;
    int64_t least = (int64_t)((need + 999999) / 1000000);
    if (min_stones)
        *min_stones = least;
    return stones < least;
}
