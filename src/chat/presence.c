/*
 * presence.c — who is online (design §5, docs/architecture.md).
 *
 * A user is online while they hold at least one live receiver subscription
 * (the receiver's WebSocket clients always keep some open) on any receiver
 * process. Each process keeps a count per local user; the first one makes
 * the process write its instance id into the Redis hash presence:<userId>
 * (field = instance, value = expiry in unix ms) and publish
 * {"kind":"presence","userId","online":true,"at"} on `presence`; the last one
 * removes the field and publishes online:false. A timer refreshes the fields
 * and the key's TTL every PRESENCE_REFRESH_MS, so the users of a crashed
 * receiver go offline within PRESENCE_TTL_S (readers ignore expired
 * fields). onlineUsers (queries.c) reads the hashes.
 *
 * Memory: one heap entry per locally present user, freed at count 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "chat/chat_internal.h"
#include "core/log.h"

#define PRESENCE_TTL_S 30          /* a field not refreshed for this long is offline */
#define PRESENCE_REFRESH_MS 10000u /* refresh period (a third of the TTL) */
#define PRESENCE_BUCKETS 1024u
#define PRESENCE_TEST_TTL_MAX 3600 /* CHATD_TEST_PRESENCE_TTL_S upper bound */

typedef struct pres {
    struct pres *next;
    unsigned count;
    char user[PROTO_MAX_USER_ID + 1];
} pres;

static struct {
    pres *buckets[PRESENCE_BUCKETS];
    char instance[33];
    uv_timer_t timer;
    bool timer_on;
    proto_server *srv;
    int ttl_s; /* PRESENCE_TTL_S, or the test override */
} ps;

/* With test fixtures on, CHATD_TEST_PRESENCE_TTL_S (1..3600) shortens the
 * TTL (and the refresh period to a third of it) so a test can watch a
 * killed receiver's users go offline. */
static int presence_ttl(proto_server *srv)
{
    if (ps.ttl_s) return ps.ttl_s;
    ps.ttl_s = PRESENCE_TTL_S;
    const char *t = getenv("CHATD_TEST_PRESENCE_TTL_S");
    if (t && srv->cfg && srv->cfg->test_fixtures) {
        long v = strtol(t, NULL, 10);
        if (v >= 1 && v <= PRESENCE_TEST_TTL_MAX) ps.ttl_s = (int)v;
    }
    return ps.ttl_s;
}

static const char *presence_instance(void)
{
    if (!ps.instance[0]) {
        uint64_t a = uv_hrtime();
        snprintf(ps.instance, sizeof ps.instance, "%08x%016" PRIx64, (unsigned)uv_os_getpid(), a);
    }
    return ps.instance;
}

static unsigned hash(const char *s)
{
    unsigned h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % PRESENCE_BUCKETS;
}

static void write_field(proto_server *srv, const char *user, bool online)
{
    if (!srv->rd) return;
    char key[PROTO_MAX_USER_ID + 16];
    snprintf(key, sizeof key, "presence:%s", user);
    if (online) {
        char exp[24], ttl[16];
        uv_timeval64_t tv;
        uv_gettimeofday(&tv);
        int t = presence_ttl(srv);
        snprintf(exp, sizeof exp, "%" PRId64, (int64_t)tv.tv_sec * 1000 + (int64_t)t * 1000);
        snprintf(ttl, sizeof ttl, "%d", t);
        const char *hset[] = {"HSET", key, presence_instance(), exp};
        const char *expire[] = {"EXPIRE", key, ttl};
        rd_command(srv->rd, 4, hset, NULL, NULL, NULL);
        rd_command(srv->rd, 3, expire, NULL, NULL, NULL);
    } else {
        const char *hdel[] = {"HDEL", key, presence_instance()};
        rd_command(srv->rd, 3, hdel, NULL, NULL, NULL);
    }
}

static void publish(proto_server *srv, const char *user, bool online)
{
    if (!srv->rd) return;
    char at[32], msg[192];
    chat_ev_now_iso(at);
    int n = snprintf(msg, sizeof msg,
                     "{\"kind\":\"presence\",\"userId\":\"%s\",\"online\":%s,\"at\":\"%s\"}", user,
                     online ? "true" : "false", at);
    if (n > 0 && (size_t)n < sizeof msg)
        rd_publish(srv->rd, CHAT_EV_PRESENCE_CHANNEL, msg, (size_t)n, NULL, NULL);
}

static void refresh(uv_timer_t *t)
{
    (void)t;
    for (unsigned b = 0; b < PRESENCE_BUCKETS; b++)
        for (pres *p = ps.buckets[b]; p; p = p->next)
            write_field(ps.srv, p->user, true);
}

static void presence_shutdown(proto_server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    if (ps.timer_on) {
        uv_timer_stop(&ps.timer);
        uv_close((uv_handle_t *)&ps.timer, NULL);
        ps.timer_on = false;
    }
}

void recv_presence_user_up(proto_server *srv, const char *user)
{
    if (!user || !*user || strlen(user) > PROTO_MAX_USER_ID) return;
    unsigned b = hash(user);
    for (pres *p = ps.buckets[b]; p; p = p->next)
        if (strcmp(p->user, user) == 0) {
            p->count++;
            return;
        }
    pres *p = cd_calloc(1, sizeof *p);
    if (!p) return;
    snprintf(p->user, sizeof p->user, "%s", user);
    p->count = 1;
    p->next = ps.buckets[b];
    ps.buckets[b] = p;
    if (!ps.timer_on && srv->rd && !srv->draining) {
        ps.srv = srv;
        uv_timer_init(srv->loop, &ps.timer);
        uv_unref((uv_handle_t *)&ps.timer);
        uint64_t every = presence_ttl(srv) == PRESENCE_TTL_S
                             ? PRESENCE_REFRESH_MS
                             : (uint64_t)presence_ttl(srv) * 1000u / 3u;
        uv_timer_start(&ps.timer, refresh, every, every);
        ps.timer_on = true;
        proto_on_shutdown(srv, presence_shutdown, NULL);
    }
    write_field(srv, user, true);
    publish(srv, user, true);
}

void recv_presence_user_down(proto_server *srv, const char *user)
{
    if (!user || !*user) return;
    pres **pp = &ps.buckets[hash(user)];
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->user, user) == 0) break;
    pres *p = *pp;
    if (!p || --p->count > 0) return;
    *pp = p->next;
    cd_free(p);
    write_field(srv, user, false);
    publish(srv, user, false);
}
