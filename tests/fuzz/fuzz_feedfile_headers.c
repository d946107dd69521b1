/* fuzz_feedfile_headers.c - libFuzzer driver for the feed simulator's file mode request headers:
 * If-None-Match lists and If-Modified-Since dates (dm_feedfile_not_modified,
 * dm_feedfile_parse_http_date). The input is split at its first newline into the two header
 * values. Any bytes must give an answer, never a crash or a read past the end; a parsed date
 * must format back to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "services/feedsim/feedfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    char *nl = strchr(s, '\n');
    const char *inm = s, *ims = NULL;
    if (nl != NULL) {
        *nl = '\0';
        ims = nl + 1;
    }
    char tag[48];
    dm_feedfile_etag(DM_FEEDFILE_CSV, (uint64_t)size, 0, tag);
    (void)dm_feedfile_not_modified(inm, ims, tag, 784111777000LL);
    (void)dm_feedfile_not_modified(NULL, ims ? ims : s, tag, 784111777000LL);
    int64_t ms;
    if (dm_feedfile_parse_http_date(ims ? ims : s, &ms)) {
        char back[DM_HTTP_DATE_LEN];
        dm_feedfile_http_date(ms, back);
        /* The weekday is not checked on input; everything after it must round-trip. */
        if (strcmp(back + 3, (ims ? ims : s) + 3) != 0)
            abort();
    }
    free(s);
    return 0;
}
