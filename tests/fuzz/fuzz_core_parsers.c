/* fuzz_core_parsers.c - libFuzzer driver for the checked number, time, base64 and JSON helpers
 * and the queue-message parsers: any bytes must give DM_OK or a clean error, never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "domain/messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    int64_t i;
    double d;
    bool b;
    (void)!dm_parse_i64(s, INT64_MIN, INT64_MAX, &i);
    (void)!dm_parse_double(s, -1e300, 1e300, &d);
    (void)!dm_parse_bool(s, &b);
    (void)!dm_parse_fixed(s, 2, &i);
    (void)!dm_time_parse(s, &i);
    uint8_t *out = NULL;
    size_t n = 0;
    if (dm_base64_decode(s, &out, &n) == DM_OK)
        free(out);
    struct dm_error err;
    json_t *j = dm_json_parse(s, size, 1 << 20, &err);
    if (j) {
        const char *str;
        (void)dm_json_str(j, "a");
        (void)!dm_json_int(j, "a", &i);
        (void)!dm_json_req_str(j, "type", &str, &err);
        char *dump = dm_json_dumps(j);
        free(dump);
        json_decref(j);
    }
    struct dm_work_item wi;
    struct dm_work_done wd;
    struct dm_consolidate c;
    enum dm_msg_type t;
    (void)!dm_work_item_parse(s, size, &wi, &err);
    (void)!dm_work_done_parse(s, size, &wd, &err);
    (void)!dm_consolidate_parse(s, size, &c, &err);
    (void)!dm_msg_type_of(s, size, &t, &err);
    free(s);
    return 0;
}
