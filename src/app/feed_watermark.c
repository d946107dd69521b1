/* feed_watermark.c - each feed's watermark (see feed_watermark.h). */
#include "app/feed_watermark.h"

#include <stdio.h>
#include <string.h>

#include "app/adapter_opts.h"
#include "core/feed_id.h"

void dm_app_feed_watermark_name(const char *id, char out[DM_FEED_WATERMARK_NAME_MAX])
{
    if (id == NULL || !strcmp(id, DM_FEED_DEFAULT))
        snprintf(out, DM_FEED_WATERMARK_NAME_MAX, "%s", DM_WATERMARK_DEFAULT_NAME);
    else if (!strcmp(id, "watermark")) /* would be the default feed's name; no id has a '-' */
        snprintf(out, DM_FEED_WATERMARK_NAME_MAX, "watermark-feed.json");
    else
        snprintf(out, DM_FEED_WATERMARK_NAME_MAX, "%.32s.json", id);
}

enum dm_err dm_app_feed_watermark_open(const struct dm_config *cfg, const char *id,
                                       struct dm_watermark_store **out, struct dm_error *err)
{
    *out = NULL;
    if (!dm_feed_id_valid(id))
        return dm_error_set(err, DM_ERR_INVALID, "feed id '%.40s' is malformed", id ? id : "");
    char name[DM_FEED_WATERMARK_NAME_MAX];
    dm_app_feed_watermark_name(id, name);
    struct dm_watermark_opts o;
    dm_app_watermark_opts(cfg, &o);
    o.name = name;
    return dm_watermark_open(&o, out, err);
}
