/* stubs_tmp.c - temporary. */
#include "services/api/api.h"
#define STUB(n)                                                                                    \
    void n(struct api_call *c)                                                                     \
    {                                                                                              \
        api_error(c, 501, "NOT_IMPLEMENTED", "not yet", NULL);                                     \
    }
STUB(api_analytics_summary)
STUB(api_analytics_runs)
STUB(api_analytics_run)
STUB(api_analytics_failed_workers)
STUB(api_analytics_feeds)
STUB(api_analytics_consolidation)
STUB(api_analytics_consolidation_run)
STUB(api_analytics_query)
STUB(api_trigger_scheduler)
STUB(api_trigger_consolidate)
STUB(api_trigger_retry)
STUB(api_trigger_cancel)
STUB(api_trigger_failed_workers)
STUB(api_rules_list)
STUB(api_rules_create)
STUB(api_rules_update)
STUB(api_rules_delete)
STUB(api_rules_reprice)
STUB(api_openapi)
STUB(api_docs)
