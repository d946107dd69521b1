/* shapes.c - the queried shape list. */
#include "domain/shapes.h"

#include <stddef.h>
#include <strings.h>

const char *const dm_shapes[DM_SHAPE_COUNT] = {
    "ROUND",
    "OVAL",
    "EMERALD",
    "CUSHION",
    "CUSHION B",
    "CUSHION MODIFIED",
    "CUSHION BRILLIANT",
    "ASSCHER",
    "RADIANT",
    "MARQUISE",
    "PEAR",
    "PRINCESS",
    "ROSE",
    "OLD MINER",
    "TRILLIANT",
    "HEXAGONAL",
    "HEART",
};

bool dm_shape_known(const char *s)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < DM_SHAPE_COUNT; i++)
        if (!strcasecmp(dm_shapes[i], s))
            return true;
    return false;
}
