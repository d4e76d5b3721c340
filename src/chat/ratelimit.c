/*
 * ratelimit.c — per-user write limits: token buckets kept in Redis, so one
 * user's limit holds across every sender instance, with a bucket in this
 * process's memory taking over when Redis is not configured, down or slow
 * (see the ratelimit.c section of chat_internal.h).
 *
 * A check (chat_rate_take) runs one EVAL of rate_lua on the broker client.
 * While it waits it sits in a FIFO: every check waits at most
 * CHAT_RATE_REDIS_TIMEOUT_MS, so the FIFO is ordered by deadline and ONE
 * timer, set to the head's deadline, decides the late ones locally. A check
 * is decided exactly once (Redis reply, timeout or immediate failure) and
 * freed once it is decided AND its Redis callback ran (rd_command calls back
 * exactly once, also on disconnect or close), so a late reply never touches
 * freed memory.
 *
 * Local buckets: CHAT_RATE_LOCAL_SLOTS direct-mapped slots keyed by
 * kind + user; a user whose slot another user took starts with a full
 * bucket (a collision can only make the local fallback more lenient, never
 * refuse someone who did nothing).
 */
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/log.h"

#define CHAT_RATE_KEY_MAX 96u

/* One token from bucket KEYS[1] (ARGV: rate per second, burst), on Redis's
 * clock so every instance agrees. Returns {1, 0} (taken) or {0, ms until a
 * token is there}. The key lives as long as a bucket needs to refill. */
static const char rate_lua[] =
    "if redis.replicate_commands then pcall(redis.replicate_commands) end "
    "local rate = tonumber(ARGV[1]) local burst = tonumber(ARGV[2]) "
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "local b = redis.call('HMGET', KEYS[1], 't', 'n') "
    "local ts = tonumber(b[1]) local n = tonumber(b[2]) "
    "if not ts or not n then ts = now n = burst end "
    "if now > ts then n = math.min(burst, n + (now - ts) * rate / 1000) ts = now end "
    "local ok, wait = 0, 0 "
    "if n >= 1 then n = n - 1 ok = 1 else wait = math.ceil((1 - n) * 1000 / rate) end "
    "redis.call('HSET', KEYS[1], 't', ts, 'n', tostring(n)) "
    "redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000) "
    "return {ok, wait}";

typedef struct rate_req {
    struct rate_req *next, *prev; /* the FIFO, while waiting */
    uint64_t deadline;            /* loop ms */
    chat_rate_cb cb;
    void *ud;
    proto_server *srv;
    chat_rate_kind kind;
    bool waiting;       /* in the FIFO: not decided yet */
    bool reply_pending; /* rd_command's callback has not run */
    char key[CHAT_RATE_KEY_MAX];
} rate_req;

typedef struct rate_slot {
    char key[CHAT_RATE_KEY_MAX];
    double tokens;
    uint64_t ts; /* loop ms of the last refill */
} rate_slot;

static struct {
    uv_timer_t timer;
    bool timer_on; /* initialised and not closed */
    bool shut;     /* after the shutdown hook: local buckets only */
    rate_req *head, *tail;
    rate_slot *slots; /* CHAT_RATE_LOCAL_SLOTS, allocated at first use */
} rl;

static void rate_limits(const cd_config *cfg, chat_rate_kind kind, uint32_t *rate, uint32_t *burst)
{
    if (kind == CHAT_RATE_MESSAGE) {
        *rate = cfg->rate_messages;
        *burst = cfg->rate_messages_burst;
    } else {
        *rate = cfg->rate_mutations;
        *burst = cfg->rate_mutations_burst;
    }
}

chat_rate_kind chat_rate_kind_of(const char *field)
{
    return field && strcmp(field, "createMessage") == 0 ? CHAT_RATE_MESSAGE : CHAT_RATE_MUTATION;
}

bool chat_rate_bucket_take(double *tokens, uint64_t *ts, uint64_t now_ms, uint32_t rate,
                           uint32_t burst, uint32_t *retry_after_s)
{
    if (now_ms > *ts) {
        *tokens += (double)(now_ms - *ts) * rate / 1000.0;
        *ts = now_ms;
    }
    if (*tokens > burst) *tokens = burst;
    if (*tokens >= 1.0) {
        *tokens -= 1.0;
        return true;
    }
    double s = ceil((1.0 - *tokens) / rate);
    *retry_after_s = s < 1 ? 1 : (uint32_t)s;
    return false;
}

static unsigned slot_of(const char *key)
{
    uint32_t h = 2166136261u;
    for (; *key; key++)
        h = (h ^ (uint8_t)*key) * 16777619u;
    return h % CHAT_RATE_LOCAL_SLOTS;
}

/* The local decision (Redis unusable). */
static bool local_take(proto_server *srv, const char *key, chat_rate_kind kind, uint32_t *retry)
{
    uint32_t rate, burst;
    rate_limits(srv->cfg, kind, &rate, &burst);
    if (!rl.slots) rl.slots = cd_calloc(CHAT_RATE_LOCAL_SLOTS, sizeof *rl.slots);
    if (!rl.slots) return true; /* no memory for buckets: do not refuse writes for it */
    rate_slot *s = &rl.slots[slot_of(key)];
    uint64_t now = uv_now(srv->loop);
    if (strcmp(s->key, key) != 0) {
        snprintf(s->key, sizeof s->key, "%s", key);
        s->tokens = burst;
        s->ts = now;
    }
    return chat_rate_bucket_take(&s->tokens, &s->ts, now, rate, burst, retry);
}

static void fifo_unlink(rate_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        rl.head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        rl.tail = q->prev;
    q->next = q->prev = NULL;
    q->waiting = false;
}

static void on_timer(uv_timer_t *t);

static void timer_rearm(proto_server *srv)
{
    if (!rl.timer_on) return;
    if (!rl.head) {
        uv_timer_stop(&rl.timer);
        return;
    }
    uint64_t now = uv_now(srv->loop);
    uv_timer_start(&rl.timer, on_timer, rl.head->deadline > now ? rl.head->deadline - now : 0, 0);
}

/* Decides a waiting check: allowed by Redis (status 0 with a verdict) or
 * by the local bucket. */
static void decide(rate_req *q, int verdict, uint32_t retry)
{
    bool was_head = rl.head == q;
    fifo_unlink(q);
    proto_server *srv = q->srv;
    if (verdict < 0 && !local_take(srv, q->key, q->kind, &retry)) verdict = 0;
    if (verdict < 0) verdict = 1;
    if (was_head) timer_rearm(srv);
    q->cb(q->ud, verdict == 1, retry);
}

static void on_timer(uv_timer_t *t)
{
    proto_server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    while (rl.head && rl.head->deadline <= now) {
        rate_req *q = rl.head;
        cd_warn("ratelimit", "redis did not answer within %u ms: the local bucket decides",
                CHAT_RATE_REDIS_TIMEOUT_MS);
        decide(q, -1, 0); /* freed by on_reply */
    }
    timer_rearm(srv);
}

static long reply_int(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;
}

static void on_reply(void *ud, int status, const struct redisReply *r)
{
    rate_req *q = ud;
    q->reply_pending = false;
    if (q->waiting) {
        long ok = -1, wait = 0;
        if (status == 0 && r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            ok = reply_int(r->element[0]);
            wait = reply_int(r->element[1]);
        }
        if (ok != 0 && ok != 1) {
            cd_warn("ratelimit", "redis check failed (%s%s%s): the local bucket decides",
                    cd_strerror(status ? status : CD_EIO), r && r->str ? ": " : "",
                    r && r->str ? r->str : "");
            decide(q, -1, 0);
        } else {
            long s = (wait + 999) / 1000;
            decide(q, (int)ok, s < 1 ? 1u : (uint32_t)s);
        }
    }
    cd_free(q);
}

static void shutdown_hook(proto_server *srv, void *ud)
{
    CD_UNUSED(srv);
    CD_UNUSED(ud);
    rl.shut = true;
    if (rl.timer_on) {
        rl.timer_on = false;
        uv_timer_stop(&rl.timer);
        uv_close((uv_handle_t *)&rl.timer, NULL);
    }
    /* checks still waiting are decided by their Redis callback (the client
     * closes after the hooks and fails what is in flight) */
    cd_free(rl.slots);
    rl.slots = NULL;
}

static bool timer_ready(proto_server *srv)
{
    if (rl.timer_on) return true;
    if (rl.shut) return false;
    if (uv_timer_init(srv->loop, &rl.timer) != 0) return false;
    rl.timer.data = srv;
    uv_unref((uv_handle_t *)&rl.timer);
    rl.timer_on = true;
    if (proto_on_shutdown(srv, shutdown_hook, NULL) != 0) cd_warn("ratelimit", "no shutdown hook");
    return true;
}

void chat_rate_take(proto_server *srv, const char *user, chat_rate_kind kind, chat_rate_cb cb,
                    void *ud)
{
    uint32_t rate, burst, retry = 0;
    rate_limits(srv->cfg, kind, &rate, &burst);
    if (rate == 0) {
        cb(ud, true, 0);
        return;
    }
    char key[CHAT_RATE_KEY_MAX];
    snprintf(key, sizeof key, "%s%c:%.64s", CHAT_RATE_KEY_PREFIX,
             kind == CHAT_RATE_MESSAGE ? 'm' : 'w', user);
    rate_req *q = srv->rd && timer_ready(srv) ? cd_calloc(1, sizeof *q) : NULL;
    if (!q) {
        bool ok = local_take(srv, key, kind, &retry);
        cb(ud, ok, retry);
        return;
    }
    memcpy(q->key, key, sizeof key);
    q->srv = srv;
    q->cb = cb;
    q->ud = ud;
    q->kind = kind;
    q->deadline = uv_now(srv->loop) + CHAT_RATE_REDIS_TIMEOUT_MS;
    char r[16], b[16];
    snprintf(r, sizeof r, "%u", rate);
    snprintf(b, sizeof b, "%u", burst);
    const char *argv[] = {"EVAL", rate_lua, "1", q->key, r, b};
    q->waiting = q->reply_pending = true;
    /* in the FIFO before the call: a callback inside rd_command finds it */
    q->prev = rl.tail;
    if (rl.tail)
        rl.tail->next = q;
    else
        rl.head = q;
    rl.tail = q;
    if (rl.head == q) timer_rearm(srv);
    int rc = rd_command(srv->rd, 6, argv, NULL, on_reply, q);
    if (rc != 0) { /* the callback never runs */
        q->reply_pending = false;
        if (q->waiting) decide(q, -1, 0);
        cd_free(q);
    }
}
