/*
 * test_sas.c - Service Bus SAS tokens (known answers computed independently with Python's
 * hmac/base64/urllib), connection string parsing (sb://, explicit http:// endpoint,
 * UseDevelopmentEmulator, missing keys, key never echoed), RFC 1123 times and queue
 * description counts.
 */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#include "adapters/queue/servicebus.h"

static void test_sas_known_answers(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *key_name, *key;
        int64_t expiry;
        const char *want;
    } cases[] = {
        {"https://diamond-prod.servicebus.windows.net/work-items", "RootManageSharedAccessKey",
         "SGVsbG9Xb3JsZEtleUZvclRlc3RzMTIzNDU2Nzg5MA==", 1764408000,
         "SharedAccessSignature sr=https%3A%2F%2Fdiamond-prod.servicebus.windows.net%2Fwork-items"
         "&sig=3I88KP0glt57HF7fNkmwMjBYKWRN4G0ggVFHFgi6ank%3D&se=1764408000"
         "&skn=RootManageSharedAccessKey"},
        {"http://127.0.0.1:8123/consolidate", "send listen", "k+/=", 4102444800,
         "SharedAccessSignature sr=http%3A%2F%2F127.0.0.1%3A8123%2Fconsolidate"
         "&sig=dgNtZibEeZSTzZI%2BK7EfxEoH16Ya5bNTN91sx1mbrcg%3D&se=4102444800"
         "&skn=send%20listen"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = dm_sb_sas_token(cases[i].uri, cases[i].key_name, cases[i].key, cases[i].expiry);
        assert_string_equal(t, cases[i].want);
        free(t);
    }
    /* The expiry is signed: another expiry, another signature. */
    char *a = dm_sb_sas_token("https://x/q", "n", "k", 100);
    char *b = dm_sb_sas_token("https://x/q", "n", "k", 101);
    assert_string_not_equal(strstr(a, "sig="), strstr(b, "sig="));
    free(a);
    free(b);
}

static void test_connection_strings(void **state)
{
    (void)state;
    static const struct {
        const char *cs;
        const char *base; /* NULL = must fail */
    } cases[] = {
        {"Endpoint=sb://diamond-prod.servicebus.windows.net/;SharedAccessKeyName=Root;"
         "SharedAccessKey=abc=",
         "https://diamond-prod.servicebus.windows.net"},
        {"endpoint=sb://ns.servicebus.windows.net;sharedaccesskeyname=Root;sharedaccesskey=k;",
         "https://ns.servicebus.windows.net"},
        {" SharedAccessKey = k== ; SharedAccessKeyName=Root; Endpoint=http://127.0.0.1:8123/ ",
         "http://127.0.0.1:8123"},
        {"Endpoint=sb://localhost:5300;SharedAccessKeyName=Root;SharedAccessKey=k;"
         "UseDevelopmentEmulator=true",
         "http://localhost:5300"},
        {"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k;"
         "EntityPath=work-items",
         "https://ns.servicebus.windows.net"},
        {"Endpoint=https://ns.example:444/;SharedAccessKeyName=R;SharedAccessKey=k",
         "https://ns.example:444"},
        {"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root", NULL},
        {"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=secretvalue", NULL},
        {"SharedAccessKeyName=Root;SharedAccessKey=secretvalue", NULL},
        {"Endpoint=ftp://ns/;SharedAccessKeyName=Root;SharedAccessKey=secretvalue", NULL},
        {"Endpoint=sb:///;SharedAccessKeyName=Root;SharedAccessKey=secretvalue", NULL},
        {"Endpoint=sb://a b/;SharedAccessKeyName=Root;SharedAccessKey=secretvalue", NULL},
        {"garbage;SharedAccessKey=secretvalue", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_sb_conn_info ci;
        struct dm_error err = {0};
        enum dm_err e = dm_sb_parse_connection_string(cases[i].cs, &ci, &err);
        if (cases[i].base == NULL) {
            assert_int_equal(e, DM_ERR_INVALID);
            assert_null(strstr(err.message, "secretvalue"));
            assert_null(ci.base_url);
            continue;
        }
        assert_int_equal(e, DM_OK);
        assert_string_equal(ci.base_url, cases[i].base);
        assert_non_null(ci.key_name);
        assert_non_null(ci.key);
        dm_sb_conn_info_free(&ci);
    }
    struct dm_sb_conn_info ci;
    struct dm_error err = {0};
    assert_int_equal(dm_sb_parse_connection_string("Endpoint=sb://n/;SharedAccessKeyName=Root;"
                                                   "SharedAccessKey=ab+c/d==",
                                                   &ci, &err),
                     DM_OK);
    assert_string_equal(ci.key, "ab+c/d=="); /* the value keeps its '=' padding */
    assert_string_equal(ci.key_name, "Root");
    dm_sb_conn_info_free(&ci);
    assert_int_equal(dm_sb_parse_connection_string(NULL, &ci, &err), DM_ERR_INVALID);
}

static void test_description_counts(void **state)
{
    (void)state;
    struct dm_queue_stats st;
    const char *xml =
        "<entry xmlns=\"http://www.w3.org/2005/Atom\"><content type=\"application/xml\">"
        "<QueueDescription><MaxDeliveryCount>5</MaxDeliveryCount>"
        "<MessageCount>12</MessageCount><CountDetails xmlns:d2p1=\"x\">"
        "<d2p1:ActiveMessageCount>9</d2p1:ActiveMessageCount>"
        "<d2p1:DeadLetterMessageCount>2</d2p1:DeadLetterMessageCount>"
        "<d2p1:ScheduledMessageCount>1</d2p1:ScheduledMessageCount>"
        "</CountDetails></QueueDescription></content></entry>";
    assert_int_equal(dm_sb_parse_description(xml, &st), DM_OK);
    assert_int_equal(st.active, 9);
    assert_int_equal(st.dead_letter, 2);
    assert_int_equal(st.scheduled, 1);
    assert_int_equal(st.oldest_age_ms, 0);
    /* Older descriptions without CountDetails: MessageCount. */
    assert_int_equal(dm_sb_parse_description("<MessageCount>4</MessageCount>", &st), DM_OK);
    assert_int_equal(st.active, 4);
    assert_int_equal(st.dead_letter, 0);
    assert_int_equal(dm_sb_parse_description("<Error><Code>404</Code></Error>", &st),
                     DM_ERR_INVALID);
    assert_int_equal(dm_sb_parse_description("<MessageCount>-1</MessageCount>", &st),
                     DM_ERR_INVALID);
    assert_int_equal(dm_sb_parse_description("", &st), DM_ERR_INVALID);
}

static void test_rfc1123(void **state)
{
    (void)state;
    char t[DM_RFC1123_LEN];
    dm_sb_rfc1123(1764406800123LL, t); /* 2025-11-29T09:00:00.123Z */
    assert_string_equal(t, "Sat, 29 Nov 2025 09:00:00 GMT");
    dm_sb_rfc1123(0, t);
    assert_string_equal(t, "Thu, 01 Jan 1970 00:00:00 GMT");
    int64_t ms = 0;
    assert_int_equal(dm_sb_parse_rfc1123("Sat, 29 Nov 2025 09:00:00 GMT", &ms), DM_OK);
    assert_int_equal(ms, 1764406800000LL);
    assert_int_equal(dm_sb_parse_rfc1123("Tue, 29 Feb 2028 12:00:00 GMT", &ms), DM_OK);
    assert_int_equal(dm_sb_parse_rfc1123("Sun, 02 Feb 2031 23:59:59 GMT", &ms), DM_OK);
    dm_sb_rfc1123(ms, t);
    assert_string_equal(t, "Sun, 02 Feb 2031 23:59:59 GMT");
    const char *bad[] = {"",
                         "Sat, 29 Nov 2025 09:00:00",
                         "Sat, 29 Foo 2025 09:00:00 GMT",
                         "Sat, 29 Nov 2025 25:00:00 GMT",
                         "Sat, 29 Nov 2025 09:00:00 GMT x",
                         "Sat, 31 Feb 2025 09:00:00 GMT",
                         "Sat, 29 Feb 2025 09:00:00 GMT",
                         "Sat, 29 Nov 2025 09:00:60 GMT",
                         "Sat, 9 Nov 2025 09:00:00 GMT",
                         "2025-11-29T09:00:00Z",
                         "Sat, 29 Nov 2025 09:00:00 UTC"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dm_sb_parse_rfc1123(bad[i], &ms), DM_ERR_INVALID);
    assert_int_equal(dm_sb_parse_rfc1123(NULL, &ms), DM_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sas_known_answers),
        cmocka_unit_test(test_connection_strings),
        cmocka_unit_test(test_rfc1123),
        cmocka_unit_test(test_description_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
