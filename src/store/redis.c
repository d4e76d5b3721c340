/*
 * redis.c — Redis pub/sub client (see redis.h). Stub: implementation follows.
 */
#include "redis.h"

int rd_url_parse(const char *url, rd_url *out) { CD_UNUSED(url); CD_UNUSED(out); return CD_ESTATE; }
int rd_client_new(uv_loop_t *loop, const char *url, const rd_callbacks *cbs, rd_client **out)
{
    CD_UNUSED(loop); CD_UNUSED(url); CD_UNUSED(cbs); *out = NULL;
    return CD_ESTATE;
}
int rd_publish(rd_client *c, const char *channel, const void *data, size_t len,
               rd_publish_cb cb, void *ud)
{
    CD_UNUSED(c); CD_UNUSED(channel); CD_UNUSED(data); CD_UNUSED(len); CD_UNUSED(cb); CD_UNUSED(ud);
    return CD_ESTATE;
}
int rd_subscribe(rd_client *c, const char *channel) { CD_UNUSED(c); CD_UNUSED(channel); return CD_ESTATE; }
int rd_unsubscribe(rd_client *c, const char *channel) { CD_UNUSED(c); CD_UNUSED(channel); return CD_ESTATE; }
bool rd_is_wanted(const rd_client *c, const char *channel) { CD_UNUSED(c); CD_UNUSED(channel); return false; }
void rd_stats_get(const rd_client *c, rd_stats *out) { CD_UNUSED(c); *out = (rd_stats){0}; }
bool rd_ready(const rd_client *c) { CD_UNUSED(c); return false; }
void rd_client_close(rd_client *c, rd_close_cb cb, void *ud) { CD_UNUSED(c); if (cb) cb(ud); }
