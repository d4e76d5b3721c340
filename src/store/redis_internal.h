/*
 * redis_internal.h — what the single-server client (redis.c) and the Redis
 * Cluster client (redis_cluster.c) share. Private to src/store; unit tests
 * include it for the pure functions (seed lists, CLUSTER SLOTS replies,
 * redirect errors).
 *
 * rd_client (redis.c) is the one public handle: in cluster mode it holds an
 * rdc and forwards every call to it, so callers never know which mode runs.
 */
#ifndef CHATD_STORE_REDIS_INTERNAL_H
#define CHATD_STORE_REDIS_INTERNAL_H

#include "store/redis.h"

/* ---- the wanted-channel set (redis.c) ---- */

/* (one per subscribed channel: 15 bytes before the name) */
typedef struct rd_chan {
    struct rd_chan *next;
    uint16_t len;   /* at most RD_MAX_CHANNEL_LEN */
    uint16_t slot;  /* cluster: hash slot of the name */
    int16_t node;   /* cluster: node index the channel is subscribed on, -1 none */
    bool confirmed; /* the server confirmed the subscription on this connection */
    char name[];
} rd_chan;
_Static_assert(RD_MAX_CHANNEL_LEN <= UINT16_MAX && RD_CLUSTER_MAX_NODES <= INT16_MAX,
               "rd_chan fields");
_Static_assert(sizeof(rd_chan) <= 16, "rd_chan: 15 bytes before the name");

typedef struct rd_set {
    rd_chan **b;
    size_t nb;
    size_t n;
} rd_set;

/* Where name lives or would be linked (NULL while the set has no buckets). */
rd_chan **rd_set_slot(const rd_set *s, const char *name, size_t len);
rd_chan *rd_set_get(const rd_set *s, const char *name, size_t len);
/* Doubles the buckets (64 at first). 0 or CD_ENOMEM. */
int rd_set_grow(rd_set *s);
void rd_set_free(rd_set *s);

/* ---- cluster client (redis_cluster.c) ---- */

typedef struct rdc rdc;

/* A parsed redis+cluster://[user:password@]host:port[,host:port...] URL. */
typedef struct rd_cluster_url {
    rd_url auth; /* user and password (host/port of the first seed) */
    unsigned nseeds;
    char host[RD_CLUSTER_MAX_SEEDS][RD_HOST_MAX];
    int port[RD_CLUSTER_MAX_SEEDS];
} rd_cluster_url;

/* CD_EBAD when malformed: no seed, more than RD_CLUSTER_MAX_SEEDS, a bad
 * host:port, or a database other than 0 (a cluster has only db 0). */
int rd_cluster_url_parse(const char *url, rd_cluster_url *out);

/* One slot range of a CLUSTER SLOTS reply and the endpoint of its master. */
typedef struct rd_slot_range {
    uint16_t start, end; /* inclusive */
    char host[RD_HOST_MAX];
    int port;
} rd_slot_range;

/* Parses a CLUSTER SLOTS reply into out (room for max ranges; a reply has
 * one element per range). An empty host ("" or "?": the node does not know
 * its address) is replaced by self_host, the node that answered. 0 with *n
 * set, or CD_EBAD for anything malformed (bounds, types, overlapping
 * ranges are not checked: the last one wins) or CD_ELIMIT beyond max. */
int rd_cluster_parse_slots(const struct redisReply *r, const char *self_host, rd_slot_range *out,
                           size_t max, size_t *n);

/* Parses "MOVED <slot> <host>:<port>" / "ASK <slot> <host>:<port>" (an
 * error reply's text). 0 with *ask, *slot, host, *port; CD_ENOENT when the
 * error is not a redirect; CD_EBAD when it is one but malformed. */
int rd_redirect_parse(const char *err, size_t len, bool *ask, uint16_t *slot,
                      char host[RD_HOST_MAX], int *port);

/* The slot a command is routed by: EVAL/EVALSHA/FCALL (and _RO) by their
 * first key (all keys must share its slot, else CD_EBAD), every other
 * command with arguments by argv[1]; -1 (any master) for keyless ones.
 * Returns the slot, -1, or CD_EBAD. */
int rd_command_slot(int argc, const char *const *argv, const size_t *argvlen);

/* The rd_client functions in cluster mode (same contracts, see redis.h). */
int rdc_new(uv_loop_t *loop, const char *url, const rd_callbacks *cbs, rdc **out);
int rdc_command(rdc *c, int argc, const char *const *argv, const size_t *argvlen, rd_reply_cb cb,
                void *ud);
int rdc_publish(rdc *c, const char *channel, size_t chlen, const void *data, size_t len,
                rd_publish_cb cb, void *ud);
int rdc_subscribe(rdc *c, const char *channel, size_t len);
int rdc_unsubscribe(rdc *c, const char *channel, size_t len);
bool rdc_is_wanted(const rdc *c, const char *channel, size_t len);
void rdc_stats_get(const rdc *c, rd_stats *out);
bool rdc_ready(const rdc *c);
void rdc_close(rdc *c, rd_close_cb cb, void *ud);

#endif
