/*
 * throttle.c — login throttling sessions on a short hiredis connection (see
 * throttle.h).
 *
 * Lifetime of a chat_rl (cd_malloc'd, owned by itself):
 *   open → connect + AUTH/SELECT + one EVAL reading both counters and TTLs
 *   → check callback (once: reply, error, disconnect or timeout)
 *   → chat_rl_finish → EVAL INCR / DEL, graceful disconnect
 *   → freed in the timer's close callback once the hiredis context is gone
 *     (disconnect callback, failed connect, or redisAsyncFree on timeout).
 * hiredis calls our reply callbacks with privdata = the session; a session
 * is never freed while its context is alive, so those pointers stay valid.
 *
 * The store module's rd_client (redis.h) has no generic command yet; this
 * file keeps its own connection per login until it does, parsed by
 * rd_url_parse and driven by rd_client's libuv adapter (rd_hiredis_attach),
 * which reports socket errors: a refused connect fails open at once.
 */
#include "throttle.h"

#include <ctype.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/core.h"
#include "core/log.h"
#include "store/redis.h"

#define RL_KEY_MAX 256u

/* Reads both counters and their TTLs in one round trip. */
static const char rl_check_lua[] = "return {tonumber(redis.call('GET', KEYS[1]) or '0'),"
                                   " tonumber(redis.call('GET', KEYS[2]) or '0'),"
                                   " redis.call('TTL', KEYS[1]), redis.call('TTL', KEYS[2])}";
/* INCR with the window set on the first failure, atomically. */
static const char rl_incr_lua[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n";

struct chat_rl {
    uv_timer_t timer;
    redisAsyncContext *ac;
    chat_rl_check_cb cb;
    void *ud;
    bool check_pending;
    bool finished;
    bool timer_closing;
    char ukey[RL_KEY_MAX];
    char akey[RL_KEY_MAX];
};

bool chat_throttle_locked(long user_fails, long addr_fails)
{
    return user_fails >= LOGIN_LOCK_USER || addr_fails >= LOGIN_LOCK_ADDR;
}

static uint32_t delay_for(long fails, long slow_after)
{
    if (fails < slow_after) return 0;
    uint64_t d = (uint64_t)(fails - slow_after + 1) * LOGIN_SLOW_STEP_MS;
    return d > LOGIN_SLOW_MAX_MS ? LOGIN_SLOW_MAX_MS : (uint32_t)d;
}

uint32_t chat_throttle_delay_ms(long user_fails, long addr_fails)
{
    uint32_t a = delay_for(user_fails, LOGIN_SLOW_AFTER_USER);
    uint32_t b = delay_for(addr_fails, LOGIN_SLOW_AFTER_ADDR);
    return a > b ? a : b;
}

static void rl_timer_closed(uv_handle_t *h)
{
    cd_free(h->data);
}

static void rl_maybe_free(chat_rl *s)
{
    if (s->ac || !s->finished || s->check_pending || s->timer_closing) return;
    s->timer_closing = true;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, rl_timer_closed);
}

static void rl_report(chat_rl *s, int status, long uf, long af, long retry)
{
    if (!s->check_pending) return;
    s->check_pending = false;
    uv_timer_stop(&s->timer);
    s->cb(s->ud, status, uf, af, retry);
}

static void rl_on_connect(const redisAsyncContext *ac, int status)
{
    chat_rl *s = ac->data;
    if (status != REDIS_OK) {
        cd_warn("throttle", "redis connect failed (%s): login not throttled", ac->errstr);
        s->ac = NULL; /* hiredis frees the context after this callback */
        rl_report(s, CD_EUNAVAIL, 0, 0, 0);
        rl_maybe_free(s);
    }
}

static void rl_on_disconnect(const redisAsyncContext *ac, int status)
{
    CD_UNUSED(status);
    chat_rl *s = ac->data;
    s->ac = NULL;
    rl_report(s, CD_EUNAVAIL, 0, 0, 0);
    rl_maybe_free(s);
}

static long rl_int(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
}

static void rl_on_check(redisAsyncContext *ac, void *reply, void *privdata)
{
    CD_UNUSED(ac);
    chat_rl *s = privdata;
    const redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
        if (r && r->type == REDIS_REPLY_ERROR) cd_warn("throttle", "redis: %s", r->str);
        rl_report(s, CD_EUNAVAIL, 0, 0, 0);
        return;
    }
    long uf = rl_int(r->element[0]), af = rl_int(r->element[1]);
    long ut = rl_int(r->element[2]), at = rl_int(r->element[3]);
    long retry = 0;
    if (uf >= LOGIN_LOCK_USER && ut > retry) retry = ut;
    if (af >= LOGIN_LOCK_ADDR && at > retry) retry = at;
    if (chat_throttle_locked(uf, af) && retry <= 0) retry = 1;
    rl_report(s, 0, uf, af, retry);
}

static void rl_on_timeout(uv_timer_t *t)
{
    chat_rl *s = t->data;
    cd_warn("throttle", "redis did not answer within %u ms: login not throttled",
            LOGIN_REDIS_TIMEOUT_MS);
    rl_report(s, CD_EUNAVAIL, 0, 0, 0);
    if (s->ac) {
        redisAsyncContext *ac = s->ac;
        s->ac = NULL;
        redisAsyncFree(ac);
    }
    rl_maybe_free(s);
}

static size_t rl_key(char *out, const char *kind, const char *v, size_t len, bool lower)
{
    int n = snprintf(out, RL_KEY_MAX, "%s%s:", LOGIN_KEY_PREFIX, kind);
    size_t o = (size_t)n;
    for (size_t i = 0; i < len && o + 1 < RL_KEY_MAX; i++)
        out[o++] = lower ? (char)tolower((unsigned char)v[i]) : v[i];
    out[o] = 0;
    return o;
}

chat_rl *chat_rl_open(uv_loop_t *loop, const char *url, const char *username, size_t ulen,
                      const char *addr, chat_rl_check_cb cb, void *ud)
{
    if (!url || !*url) return NULL;
    rd_url u;
    if (rd_url_parse(url, &u) != 0) {
        cd_warn("throttle", "cannot parse REDIS_URL: login not throttled");
        return NULL;
    }
    chat_rl *s = cd_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cb = cb;
    s->ud = ud;
    rl_key(s->ukey, "u", username, ulen, true);
    rl_key(s->akey, "a", addr ? addr : "", addr ? strlen(addr) : 0, false);
    redisAsyncContext *ac = redisAsyncConnect(u.host, u.port);
    if (!ac || ac->err) {
        cd_warn("throttle", "redis connect: %s: login not throttled", ac ? ac->errstr : "oom");
        if (ac) redisAsyncFree(ac);
        cd_free(s);
        return NULL;
    }
    if (rd_hiredis_attach(ac, loop) != 0) {
        redisAsyncFree(ac);
        cd_free(s);
        return NULL;
    }
    ac->data = s;
    s->ac = ac;
    redisAsyncSetConnectCallback(ac, rl_on_connect);
    redisAsyncSetDisconnectCallback(ac, rl_on_disconnect);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->check_pending = true;
    uv_timer_start(&s->timer, rl_on_timeout, LOGIN_REDIS_TIMEOUT_MS, 0);
    if (u.password[0]) {
        if (u.user[0])
            redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", u.user, u.password);
        else
            redisAsyncCommand(ac, NULL, NULL, "AUTH %s", u.password);
    }
    if (u.db) redisAsyncCommand(ac, NULL, NULL, "SELECT %d", u.db);
    const char *argv[] = {"EVAL", rl_check_lua, "2", s->ukey, s->akey};
    if (redisAsyncCommandArgv(ac, rl_on_check, s, 5, argv, NULL) != REDIS_OK) {
        /* cannot queue: tear down through the timeout path at once */
        uv_timer_start(&s->timer, rl_on_timeout, 0, 0);
    }
    return s;
}

void chat_rl_finish(chat_rl *s, chat_rl_outcome outcome)
{
    s->finished = true;
    if (s->ac && !(s->ac->c.flags & REDIS_DISCONNECTING)) {
        char win[16];
        snprintf(win, sizeof win, "%d", LOGIN_FAIL_WINDOW_S);
        if (outcome == CHAT_RL_FAILED) {
            const char *a1[] = {"EVAL", rl_incr_lua, "1", s->ukey, win};
            const char *a2[] = {"EVAL", rl_incr_lua, "1", s->akey, win};
            redisAsyncCommandArgv(s->ac, NULL, NULL, 5, a1, NULL);
            redisAsyncCommandArgv(s->ac, NULL, NULL, 5, a2, NULL);
        } else if (outcome == CHAT_RL_OK) {
            const char *a[] = {"DEL", s->ukey};
            redisAsyncCommandArgv(s->ac, NULL, NULL, 2, a, NULL);
        }
        /* bounded: a hung Redis is cut off by the timer */
        uv_timer_start(&s->timer, rl_on_timeout, LOGIN_REDIS_TIMEOUT_MS, 0);
        redisAsyncDisconnect(s->ac);
        return;
    }
    rl_maybe_free(s);
}
