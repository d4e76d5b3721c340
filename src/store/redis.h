/*
 * redis.h — Redis pub/sub client on the libuv loop (hiredis async + its
 * libuv adapter).
 *
 * An rd_client holds two connections to one Redis server: one publishing
 * (PUBLISH, and any other command later) and one subscribing. The client
 * keeps the set of WANTED channels (rd_subscribe adds, rd_unsubscribe
 * removes); the subscribing connection converges to that set. When either
 * connection drops, it reconnects with exponential backoff
 * (RD_RECONNECT_MIN_MS doubling to RD_RECONNECT_MAX_MS) and the subscribing
 * one re-subscribes every wanted channel. on_subscribed fires each time the
 * server confirms a subscription (first time and after every reconnect), so a
 * receiver can fill the gap from the database: messages published while the
 * connection was down are lost by Redis, and the callback is the signal to
 * catch up.
 *
 * Publishing while the publishing connection is down fails at once
 * (CD_EUNAVAIL); a publish in flight when the connection drops completes with
 * CD_EUNAVAIL (it may or may not have reached the server). Callers that must
 * not lose events (the sender) keep an outbox and republish.
 *
 * Ownership: channel names and payloads are copied; data handed to
 * callbacks is valid only during the callback. If a call returns a negative
 * code its callback is never invoked; if it returns 0 the callback runs
 * exactly once. Memory is freed after rd_client_close's callback.
 *
 * Redis Cluster (a redis+cluster://host:port[,host:port...] URL; the same
 * contract, redis_cluster.c): the client learns the topology from the seeds
 * (CLUSTER SLOTS), routes every command to the master of its key's hash
 * slot (rd_key_slot; rd_command routes by argv[1], EVAL-family commands by
 * their first key, and all their keys must share one slot), publishes with
 * SPUBLISH and subscribes with SSUBSCRIBE on the channel's shard (Redis 7
 * sharded pub/sub: a message reaches the subscribers of its shard, so
 * every process must use the same channel names), keeps one command and
 * one subscriber connection per master, follows MOVED (and refreshes the
 * topology) and ASK, and refreshes the topology on connection loss and
 * every RD_CLUSTER_REFRESH_MS. When a channel's slot moves (failover,
 * resharding) it is subscribed on the new master and on_subscribed fires
 * again once that master confirms: the receiver's cue to catch up, as
 * after a reconnect. on_state reports the cluster as a whole: up when every
 * slot has a master and every master's connections are up. While a slot
 * has no reachable master, commands and publishes for it fail at once with
 * CD_EUNAVAIL.
 */
#ifndef CHATD_STORE_REDIS_H
#define CHATD_STORE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/core.h"

#define RD_RECONNECT_MIN_MS 50     /* first reconnect delay */
#define RD_RECONNECT_MAX_MS 2000   /* backoff ceiling */
#define RD_CONNECT_TIMEOUT_MS 2000 /* connect attempt timeout */
#define RD_MAX_CHANNELS 100000     /* wanted channels; one more → CD_ELIMIT */
#define RD_MAX_CHANNEL_LEN 256     /* bytes in a channel name */
#define RD_MAX_PENDING 65536       /* publishes in flight; one more → CD_ELIMIT */
#define RD_URL_MAX 512
#define RD_HOST_MAX 256 /* bytes of a host name, NUL included */

#define RD_CLUSTER_SLOTS 16384     /* hash slots of Redis Cluster */
#define RD_CLUSTER_MAX_SEEDS 16    /* seed nodes in the URL; one more → CD_EBAD */
#define RD_CLUSTER_MAX_NODES 512   /* nodes known at once (masters, seeds, redirects) */
#define RD_CLUSTER_MAX_REDIRECTS 5 /* MOVED/ASK hops of one command; then CD_EIO */
#define RD_CLUSTER_REFRESH_MS 5000 /* topology refresh while healthy */
#define RD_CLUSTER_REFRESH_FAST_MS                                                                 \
    200 /* ... while a slot has no reachable master; also the                                      \
           least time between two refreshes */

typedef struct rd_client rd_client;

/* A message on a subscribed channel. */
typedef void (*rd_message_cb)(void *ud, const char *channel, size_t chlen, const char *data,
                              size_t len);
/* The server confirmed a subscription to `channel` (first or re-subscribe). */
typedef void (*rd_subscribed_cb)(void *ud, const char *channel, size_t chlen);
/* The subscribing connection went up (true) or down (false). Optional. */
typedef void (*rd_state_cb)(void *ud, bool up);
/* A publish completed: status 0 and the number of receiving clients, or
 * CD_EUNAVAIL / CD_EIO / CD_ECLOSED with receivers -1. */
typedef void (*rd_publish_cb)(void *ud, int status, long long receivers);
typedef void (*rd_close_cb)(void *ud);

typedef struct rd_callbacks {
    rd_message_cb on_message;       /* required */
    rd_subscribed_cb on_subscribed; /* optional */
    rd_state_cb on_state;           /* optional */
    void *ud;
} rd_callbacks;

/*
 * Channel router (redis_router.c): the one rd_callbacks a process gives its
 * client, dispatching by channel prefix to the modules that own channels.
 * Each module registers the prefixes it handles (rd_route_add) before or
 * after the client exists; main.c passes rd_router_callbacks(router) to
 * rd_client_new.
 *   message, subscribed  go to the route with the LONGEST prefix the channel
 *                        starts with (so the answer never depends on the
 *                        order routes were added); a channel no route
 *                        matches is dropped.
 *   state (up / down)    goes to every route's on_state, each distinct
 *                        (on_state, ud) pair once, in registration order.
 * The router holds no heap memory (prefixes are copied into it); it lives as
 * long as the client that calls into it.
 */
#define RD_MAX_ROUTES 16       /* routes in one router; one more → CD_ELIMIT */
#define RD_ROUTE_PREFIX_MAX 64 /* bytes of a route prefix, NUL included */

typedef struct rd_route {
    char prefix[RD_ROUTE_PREFIX_MAX];
    size_t len;
    rd_message_cb on_message;       /* required */
    rd_subscribed_cb on_subscribed; /* optional */
    rd_state_cb on_state;           /* optional */
    void *ud;
} rd_route;

typedef struct rd_router {
    rd_route routes[RD_MAX_ROUTES]; /* private */
    unsigned n;                     /* private */
} rd_router;

/* Adds a route for channels starting with `prefix` ("" matches every
 * channel, as a fallback). 0, CD_EBAD (prefix NULL or too long, on_message
 * NULL), CD_EEXIST (the prefix already has a route), CD_ELIMIT (more than
 * RD_MAX_ROUTES). */
int rd_route_add(rd_router *r, const char *prefix, rd_message_cb on_message,
                 rd_subscribed_cb on_subscribed, rd_state_cb on_state, void *ud);

/* The route a channel goes to, or NULL (exposed for tests). */
const rd_route *rd_route_match(const rd_router *r, const char *channel, size_t chlen);

/* Dispatchers with the rd_*_cb signatures; ud is the rd_router. */
void rd_router_message(void *ud, const char *channel, size_t chlen, const char *data, size_t len);
void rd_router_subscribed(void *ud, const char *channel, size_t chlen);
void rd_router_state(void *ud, bool up);

/* The callbacks for rd_client_new that dispatch through r. */
rd_callbacks rd_router_callbacks(rd_router *r);

/* A parsed redis://[user:password@]host[:port][/db] URL. */
typedef struct rd_url {
    char host[256];
    int port;           /* default 6379 */
    char user[128];     /* "" when absent */
    char password[256]; /* "" when absent */
    int db;             /* default 0 */
} rd_url;

typedef struct rd_stats {
    bool pub_connected;
    bool sub_connected;
    size_t channels;    /* wanted channels */
    size_t subscribed;  /* channels the server has confirmed */
    uint64_t published; /* publishes acknowledged */
    uint64_t publish_errors;
    uint64_t messages;   /* messages received */
    uint64_t reconnects; /* connect attempts after a drop */
    /* cluster mode */
    bool cluster;
    unsigned masters;   /* masters in the current topology */
    uint64_t redirects; /* MOVED / ASK replies followed */
    uint64_t refreshes; /* topology refreshes applied */
} rd_stats;

/* Parses a redis:// URL (also accepts "host:port"). CD_EBAD when malformed. */
int rd_url_parse(const char *url, rd_url *out);

/* True when url names a cluster (redis+cluster://...). */
bool rd_url_is_cluster(const char *url);

/* The Redis Cluster hash slot of a key or shard channel: CRC16 (XMODEM) of
 * the key modulo 16384, where a key holding "{tag}" with a non-empty tag
 * (the first '{' and the first '}' after it) hashes only the tag. */
uint16_t rd_key_slot(const char *key, size_t len);

/* Creates the client and starts connecting both connections (every seed
 * for a cluster URL). Returns 0 even if Redis is down (it retries), CD_EBAD
 * for a bad URL, CD_ENOMEM. */
int rd_client_new(uv_loop_t *loop, const char *url, const rd_callbacks *cbs, rd_client **out);

/* True for a client of a Redis Cluster. */
bool rd_is_cluster(const rd_client *c);

struct redisReply; /* hiredis's reply type (<hiredis/hiredis.h>) */

/* A command completed: status 0 with the reply (any type but an error),
 * CD_EIO with the error reply (reply->str holds the message), or
 * CD_EUNAVAIL / CD_ECLOSED with reply NULL. The reply is valid only during
 * the callback. */
typedef void (*rd_reply_cb)(void *ud, int status, const struct redisReply *reply);

/* Runs any command on the publishing connection (argv binary-safe; argvlen
 * may be NULL for NUL-terminated strings): GET/SET/INCR/EXPIRE/EVAL for
 * presence keys, counters, throttles. Subscribe-family commands and
 * MONITOR are refused (CD_EBAD) — they would take the connection over.
 * cb may be NULL. Fails at once with CD_EUNAVAIL while disconnected,
 * CD_ELIMIT beyond RD_MAX_PENDING in flight (shared with publishes). */
int rd_command(rd_client *c, int argc, const char *const *argv, const size_t *argvlen,
               rd_reply_cb cb, void *ud);

/* PUBLISH channel data (SPUBLISH on a cluster). cb may be NULL (fire and
 * forget). */
int rd_publish(rd_client *c, const char *channel, const void *data, size_t len, rd_publish_cb cb,
               void *ud);

/* Adds channel to the wanted set and subscribes when connected. Returns 0
 * (also when already wanted), CD_ELIMIT, CD_EBAD (empty / too long). */
int rd_subscribe(rd_client *c, const char *channel);

/* Removes channel from the wanted set and unsubscribes. CD_ENOENT if not
 * wanted. No message for it is delivered after this returns. */
int rd_unsubscribe(rd_client *c, const char *channel);

/* True if channel is in the wanted set. */
bool rd_is_wanted(const rd_client *c, const char *channel);

void rd_stats_get(const rd_client *c, rd_stats *out);

/* True when both connections are up (readiness). */
bool rd_ready(const rd_client *c);

/* Attaches a hiredis async context (a redisAsyncContext*, void* to keep
 * hiredis out of this header) to `loop` with the adapter rd_client uses,
 * which hands socket errors to hiredis (a refused connect fails at once).
 * For modules that need a short connection of their own (login throttling).
 * The adapter is freed by hiredis's cleanup. 0, or CD_ENOMEM / CD_EIO. */
int rd_hiredis_attach(void *ac, uv_loop_t *loop);

/* Fails in-flight publishes with CD_ECLOSED, disconnects, frees the client
 * after the last handle closed, then calls cb (may be NULL). */
void rd_client_close(rd_client *c, rd_close_cb cb, void *ud);

#endif
