/*
 * fuzz_servicebus.c - libFuzzer driver for the Service Bus backend's parsers of outside text:
 * the connection string, RFC 1123 times and queue descriptions (Atom XML). The first byte
 * picks the parser; the rest is the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/queue/servicebus.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *s = dm_xstrndup((const char *)data + 1, size - 1);
    switch (data[0] % 3) {
    case 0: {
        struct dm_sb_conn_info ci;
        struct dm_error err = {0};
        if (dm_sb_parse_connection_string(s, &ci, &err) == DM_OK) {
            if (ci.base_url == NULL || ci.key == NULL || ci.key_name == NULL)
                abort();
            char *t = dm_sb_sas_token(ci.base_url, ci.key_name, ci.key, 1);
            free(t);
            dm_sb_conn_info_free(&ci);
        }
        break;
    }
    case 1: {
        int64_t ms = 0;
        if (dm_sb_parse_rfc1123(s, &ms) == DM_OK) {
            char out[DM_RFC1123_LEN];
            dm_sb_rfc1123(ms, out);
            int64_t again = 0;
            if (dm_sb_parse_rfc1123(out, &again) != DM_OK || again != ms)
                abort(); /* formatting what was parsed must round-trip */
        }
        break;
    }
    default: {
        struct dm_queue_stats st;
        if (dm_sb_parse_description(s, &st) == DM_OK &&
            (st.active < 0 || st.dead_letter < 0 || st.scheduled < 0))
            abort();
        break;
    }
    }
    free(s);
    return 0;
}
