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
 * Last seen (User.lastSeenAt): every write of a user's field also sets
 * presence:seen:<userId> = now (unix ms, kept PRESENCE_SEEN_TTL_S), so after
 * a receiver crash the time is its last refresh (at most one refresh period
 * old). When a user's last local subscription ends, users.last_seen_at is
 * set too — batched: ids wait up to PRESENCE_SEEN_FLUSH_MS (or until
 * PRESENCE_SEEN_BATCH are waiting) and go in one UPDATE. User.online and
 * User.lastSeenAt (bound here, served in every role) read the hash and the
 * key; lastSeenAt is the current time while online, else the key, else the
 * column.
 *
 * Memory: one heap entry per locally present user, freed at count 0; the
 * waiting last-seen ids are a fixed array; a User field's lookup lives in
 * its resolver arena.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include <hiredis/hiredis.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/text.h"

#define PRESENCE_TTL_S 30          /* a field not refreshed for this long is offline */
#define PRESENCE_REFRESH_MS 10000u /* refresh period (a third of the TTL) */
#define PRESENCE_BUCKETS 1024u
#define PRESENCE_TEST_TTL_MAX 3600            /* CHATD_TEST_PRESENCE_TTL_S upper bound */
#define PRESENCE_SEEN_TTL_S (30L * 24 * 3600) /* presence:seen:<id> lives this long */
#define PRESENCE_SEEN_FLUSH_MS 2000u          /* users.last_seen_at written after at most this */
#define PRESENCE_SEEN_BATCH 256u              /* ... or when this many users wait */
#define PRESENCE_SEEN_PREFIX "presence:seen:"

/* One online user (a pool object sized to its id: 64 bytes for a UUID). */
typedef struct pres {
    struct pres *next;
    unsigned count;
    char user[]; /* at most PROTO_MAX_USER_ID bytes and a NUL */
} pres;
_Static_assert(sizeof(pres) + PROTO_MAX_USER_ID + 1 <= CD_POOL_MAX, "pres in the pool");

static struct {
    pres *buckets[PRESENCE_BUCKETS];
    char instance[33];
    uv_timer_t timer;
    bool timer_on;
    proto_server *srv;
    int ttl_s; /* PRESENCE_TTL_S, or the test override */
    /* users.last_seen_at waiting to be written */
    char seen[PRESENCE_SEEN_BATCH][PROTO_MAX_USER_ID + 1];
    unsigned nseen;
    uv_timer_t seen_timer;
    bool seen_timer_on;
} ps;

static const chat_stmt presence_stmts[] = {
    {"presence_seen", "UPDATE users SET last_seen_at = now() WHERE id = ANY ($1::uuid[])", 1},
    {"presence_seen_get", "SELECT chatd_ts(last_seen_at) FROM users WHERE id = $1::uuid", 1},
};

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
    char skey[PROTO_MAX_USER_ID + 24], now[24], sttl[24];
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    snprintf(skey, sizeof skey, PRESENCE_SEEN_PREFIX "%s", user);
    snprintf(now, sizeof now, "%" PRId64, (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    snprintf(sttl, sizeof sttl, "%ld", PRESENCE_SEEN_TTL_S);
    const char *set[] = {"SET", skey, now, "EX", sttl};
    rd_command(srv->rd, 5, set, NULL, NULL, NULL);
}

/* ---- users.last_seen_at, batched ---- */

static void seen_written(const pg_result *r, void *ud)
{
    (void)ud;
    if (r->status != 0) cd_warn("presence", "last_seen_at not written: %s", r->message);
}

static void seen_flush(proto_server *srv)
{
    if (ps.nseen == 0) return;
    pg_pool *p = chat_pool(srv);
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_putc(&b, '{');
    for (unsigned i = 0; i < ps.nseen; i++) {
        if (i) cd_buf_putc(&b, ',');
        cd_buf_puts(&b, ps.seen[i]);
    }
    cd_buf_putc(&b, '}');
    cd_buf_putc(&b, 0);
    ps.nseen = 0;
    if (p && !cd_buf_failed(&b)) {
        const char *params[] = {b.data};
        /* a lost write only leaves an older last-seen time */
        if (pg_pool_query(p, "presence_seen", 1, params, seen_written, NULL) != 0)
            cd_warn("presence", "last_seen_at not written (database unavailable)");
    }
    cd_buf_free(&b);
}

static void seen_tick(uv_timer_t *t)
{
    seen_flush(t->data);
}

/* Queues users.last_seen_at = now() for user (a UUID). */
static void seen_queue(proto_server *srv, const char *user)
{
    if (!srv->pg || !cd_uuid_valid(user, strlen(user))) return;
    for (unsigned i = 0; i < ps.nseen; i++)
        if (strcmp(ps.seen[i], user) == 0) return;
    snprintf(ps.seen[ps.nseen++], sizeof ps.seen[0], "%s", user);
    if (ps.nseen >= PRESENCE_SEEN_BATCH) {
        seen_flush(srv);
        return;
    }
    if (!ps.seen_timer_on) {
        uv_timer_init(srv->loop, &ps.seen_timer);
        uv_unref((uv_handle_t *)&ps.seen_timer);
        ps.seen_timer.data = srv;
        ps.seen_timer_on = true;
    }
    if (!uv_is_active((uv_handle_t *)&ps.seen_timer))
        uv_timer_start(&ps.seen_timer, seen_tick, PRESENCE_SEEN_FLUSH_MS, 0);
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
    (void)ud;
    seen_flush(srv);
    if (ps.seen_timer_on) {
        uv_timer_stop(&ps.seen_timer);
        uv_close((uv_handle_t *)&ps.seen_timer, NULL);
        ps.seen_timer_on = false;
    }
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
    size_t n = strlen(user);
    pres *p = cd_pool_calloc(sizeof *p + n + 1);
    if (!p) return;
    memcpy(p->user, user, n + 1);
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
    cd_pool_free(p);
    write_field(srv, user, false);
    publish(srv, user, false);
    seen_queue(srv, user);
}

/* ---- User.online / User.lastSeenAt (every role) ---- */

typedef struct pop {
    chat_op base;
    bool last_seen; /* lastSeenAt (else online) */
    int pending;    /* Redis replies still to come */
    bool online;
    int64_t seen_ms;
    const char *id;
} pop;

static void iso_of_ms(int64_t ms, char out[32])
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static void on_seen_row(const pg_result *r, void *ud)
{
    pop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "presence_seen_get");
        return;
    }
    const char *at = pg_result_rows(r) > 0 ? pg_result_get(r, 0, 0) : NULL;
    if (!at) {
        gql_ri_return(op->base.ri, gql_null());
        return;
    }
    char *s = cd_arena_strdup(gql_ri_arena(op->base.ri), at);
    gql_ri_return(op->base.ri, s ? gql_str_ref(s, strlen(s)) : gql_null());
}

static void pop_done(pop *op)
{
    gql_rinfo *ri = op->base.ri;
    if (!op->last_seen) {
        gql_ri_return(ri, gql_bool(op->online));
        return;
    }
    if (op->online || op->seen_ms > 0) {
        char at[32];
        if (op->online) {
            chat_ev_now_iso(at);
        } else {
            iso_of_ms(op->seen_ms, at);
        }
        char *s = cd_arena_strdup(gql_ri_arena(ri), at);
        gql_ri_return(ri, s ? gql_str_ref(s, strlen(s)) : gql_null());
        return;
    }
    /* Redis knows nothing (never seen since its data began, or no broker):
     * the persisted time */
    if (!op->base.srv || !op->base.srv->pg) {
        gql_ri_return(ri, gql_null());
        return;
    }
    const char *params[] = {op->id};
    chat_op_run(&op->base, "presence_seen_get", 1, params, on_seen_row);
}

static void on_hash(void *ud, int status, const redisReply *reply)
{
    pop *op = ud;
    if (status == 0 && reply && reply->type == REDIS_REPLY_ARRAY) {
        uv_timeval64_t tv;
        uv_gettimeofday(&tv);
        int64_t now = (int64_t)tv.tv_sec * 1000;
        for (size_t i = 1; i < reply->elements; i += 2) {
            const redisReply *v = reply->element[i];
            if (v->type == REDIS_REPLY_STRING && strtoll(v->str, NULL, 10) > now) op->online = true;
        }
    }
    if (--op->pending == 0) pop_done(op);
}

static void on_seen_key(void *ud, int status, const redisReply *reply)
{
    pop *op = ud;
    if (status == 0 && reply && reply->type == REDIS_REPLY_STRING)
        op->seen_ms = strtoll(reply->str, NULL, 10);
    if (--op->pending == 0) pop_done(op);
}

static void r_user_presence(gql_rinfo *ri)
{
    const gql_value *p = gql_ri_parent(ri);
    const gql_value *id = p && p->kind == GQL_V_OBJECT ? gql_obj_get(p, "id") : NULL;
    if (!id || id->kind != GQL_V_STRING || !cd_uuid_valid(id->u.s, id->len)) {
        gql_ri_return(ri, gql_null());
        return;
    }
    pop *op = CHAT_OP_NEW(ri, pop);
    if (!op) return;
    op->id = id->u.s;
    op->last_seen = strcmp(gql_ri_field_name(ri), "lastSeenAt") == 0;
    proto_server *srv = op->base.srv;
    char key[PROTO_MAX_USER_ID + 24], skey[PROTO_MAX_USER_ID + 24];
    snprintf(key, sizeof key, "presence:%s", op->id);
    snprintf(skey, sizeof skey, PRESENCE_SEEN_PREFIX "%s", op->id);
    const char *hget[] = {"HGETALL", key};
    const char *get[] = {"GET", skey};
    /* pending counts the replies still owed, plus one held until both are
     * sent (a command refused at once answers nothing) */
    op->pending = 1;
    if (srv && srv->rd) {
        op->pending++;
        if (rd_command(srv->rd, 2, hget, NULL, on_hash, op) != 0) op->pending--;
        if (op->last_seen) {
            op->pending++;
            if (rd_command(srv->rd, 2, get, NULL, on_seen_key, op) != 0) op->pending--;
        }
    }
    if (--op->pending == 0) pop_done(op);
}

int recv_presence_bind(proto_server *srv)
{
    static const char *const coords[] = {"User.online", "User.lastSeenAt"};
    for (unsigned i = 0; i < CD_ARRAY_LEN(coords); i++) {
        int rc = gql_schema_bind(srv->schema, coords[i], r_user_presence, srv);
        if (rc != 0) {
            cd_error("presence", "bind %s: %s", coords[i], cd_strerror(rc));
            return rc;
        }
    }
    return chat_stmts_add(presence_stmts, CD_ARRAY_LEN(presence_stmts));
}
