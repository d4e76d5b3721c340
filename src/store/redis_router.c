/*
 * redis_router.c — dispatch of broker traffic by channel prefix (see the
 * router section of redis.h).
 *
 * Matching is a scan of at most RD_MAX_ROUTES prefixes per message: the
 * table is tiny (one route per channel family) and a scan keeps the result
 * independent of the order routes were added. The router allocates nothing.
 */
#include <string.h>

#include "core/log.h"
#include "store/redis.h"

int rd_route_add(rd_router *r, const char *prefix, rd_message_cb on_message,
                 rd_subscribed_cb on_subscribed, rd_state_cb on_state, void *ud)
{
    if (!r || !prefix || !on_message) return CD_EBAD;
    size_t len = strlen(prefix);
    if (len >= RD_ROUTE_PREFIX_MAX) return CD_EBAD;
    for (unsigned i = 0; i < r->n; i++)
        if (r->routes[i].len == len && memcmp(r->routes[i].prefix, prefix, len) == 0)
            return CD_EEXIST;
    if (r->n >= RD_MAX_ROUTES) return CD_ELIMIT;
    rd_route *rt = &r->routes[r->n++];
    memcpy(rt->prefix, prefix, len + 1);
    rt->len = len;
    rt->on_message = on_message;
    rt->on_subscribed = on_subscribed;
    rt->on_state = on_state;
    rt->ud = ud;
    return 0;
}

const rd_route *rd_route_match(const rd_router *r, const char *channel, size_t chlen)
{
    const rd_route *best = NULL;
    for (unsigned i = 0; i < r->n; i++) {
        const rd_route *rt = &r->routes[i];
        if (rt->len > chlen || memcmp(rt->prefix, channel, rt->len) != 0) continue;
        if (!best || rt->len > best->len) best = rt;
    }
    return best;
}

void rd_router_message(void *ud, const char *channel, size_t chlen, const char *data, size_t len)
{
    const rd_route *rt = rd_route_match(ud, channel, chlen);
    if (rt)
        rt->on_message(rt->ud, channel, chlen, data, len);
    else
        cd_debug("redis", "message on %.*s: no route", (int)chlen, channel);
}

void rd_router_subscribed(void *ud, const char *channel, size_t chlen)
{
    const rd_route *rt = rd_route_match(ud, channel, chlen);
    if (rt && rt->on_subscribed) rt->on_subscribed(rt->ud, channel, chlen);
}

void rd_router_state(void *ud, bool up)
{
    const rd_router *r = ud;
    cd_info("redis", "redis %s", up ? "up" : "down");
    for (unsigned i = 0; i < r->n; i++) {
        const rd_route *rt = &r->routes[i];
        if (!rt->on_state) continue;
        bool seen = false;
        for (unsigned j = 0; j < i && !seen; j++)
            seen = r->routes[j].on_state == rt->on_state && r->routes[j].ud == rt->ud;
        if (!seen) rt->on_state(rt->ud, up);
    }
}

rd_callbacks rd_router_callbacks(rd_router *r)
{
    return (rd_callbacks){.on_message = rd_router_message,
                          .on_subscribed = rd_router_subscribed,
                          .on_state = rd_router_state,
                          .ud = r};
}
