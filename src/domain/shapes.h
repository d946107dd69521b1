/*
 * shapes.h - the 17 diamond shapes the pipeline queries the feed for (feed.md §1) and accepts
 * in pricing rules. One list for the feed client, the simulator and the API.
 */
#ifndef DM_DOMAIN_SHAPES_H
#define DM_DOMAIN_SHAPES_H

#include <stdbool.h>

#define DM_SHAPE_COUNT 17

/* Upper-case shape names, in the order the feed query lists them. */
extern const char *const dm_shapes[DM_SHAPE_COUNT];

/* True when s names one of dm_shapes (case-insensitive). */
bool dm_shape_known(const char *s);

#endif
