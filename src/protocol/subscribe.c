/*
 * subscribe.c — the registry of subscription sources (see subscribe.h). A
 * fixed table, filled at start-up by role code; lookups are linear (a few
 * dozen fields at most). The per-subscription machinery lives in gql_ws.c.
 */
#include "protocol/subscribe.h"

#include <string.h>

static proto_sub_source proto_sources[PROTO_SUB_MAX_SOURCES];
static unsigned proto_nsources;

int proto_sub_register(const char *field, proto_sub_start_fn start, proto_sub_stop_fn stop,
                       void *ud)
{
    if (!field || !*field || !start || !stop) return CD_EBAD;
    if (proto_sub_lookup(field)) return CD_EEXIST;
    if (proto_nsources >= PROTO_SUB_MAX_SOURCES) return CD_ELIMIT;
    proto_sources[proto_nsources++] =
        (proto_sub_source){.field = field, .start = start, .stop = stop, .ud = ud};
    return 0;
}

void proto_sub_registry_clear(void)
{
    memset(proto_sources, 0, sizeof proto_sources);
    proto_nsources = 0;
}

const proto_sub_source *proto_sub_lookup(const char *field)
{
    for (unsigned i = 0; i < proto_nsources; i++)
        if (strcmp(proto_sources[i].field, field) == 0) return &proto_sources[i];
    return NULL;
}
