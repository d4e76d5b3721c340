/*
 * throttle.c — login throttling sessions on the broker client (see
 * chat_internal.h).
 *
 * Lifetime of a chat_rl (cd_malloc'd, owned by itself):
 *   open → rd_command(EVAL: check and reserve a slot in both counters)
 *   → check callback (once: the reply, or LOGIN_REDIS_TIMEOUT_MS)
 *   → chat_rl_finish → rd_command(EVAL releasing the slots unless the
 *     attempt failed), no reply wanted
 *   → freed in the timer's close callback once the check's reply is in
 *     (rd_command calls back exactly once, also on disconnect/close), so a
 *     late reply never touches freed memory.
 * A reply that arrives while chat_rl_open is still on the stack is held and
 * reported from the timer, so the check callback never runs inside open.
 */
#include <ctype.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/core.h"
#include "core/log.h"

#define RL_KEY_MAX 256u

/* The check-and-count, atomically (one script runs alone on Redis): when
 * either counter is at its lock limit, answer {0, u, a, ttl_u, ttl_a}
 * (refused, nothing counted); otherwise count this attempt as a failure in
 * advance (INCR both, the window set on a fresh key) and answer
 * {1, u, a, 0, 0} with the counts from before it. Concurrent logins thus
 * take distinct slots: at most the limit of guesses is ever verified per
 * window. ARGV: lock_user, lock_addr, window_s. */
static const char rl_reserve_lua[] =
    "local u = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "local a = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "if u >= tonumber(ARGV[1]) or a >= tonumber(ARGV[2]) then "
    "return {0, u, a, redis.call('TTL', KEYS[1]), redis.call('TTL', KEYS[2])} end "
    "for _, k in ipairs(KEYS) do redis.call('INCR', k) "
    "if redis.call('TTL', k) < 0 then redis.call('EXPIRE', k, ARGV[3]) end end "
    "return {1, u, a, 0, 0}";
/* Sign-ups: refuse at ARGV[1] attempts in the window, else count this one
 * (same reply shape as rl_reserve_lua; the second counter is unused). */
static const char rl_signup_lua[] =
    "local n = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "if n >= tonumber(ARGV[1]) then return {0, n, 0, redis.call('TTL', KEYS[1]), 0} end "
    "redis.call('INCR', KEYS[1]) "
    "if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end "
    "return {1, n, 0, 0, 0}";
/* Gives reserved slots back: DECR each existing key (deleted at 0).
 * ARGV[1] = "1": delete KEYS[1] instead (a success clears the username). */
static const char rl_release_lua[] =
    "for i, k in ipairs(KEYS) do "
    "if i == 1 and ARGV[1] == '1' then redis.call('DEL', k) "
    "elseif redis.call('EXISTS', k) == 1 then "
    "if redis.call('DECR', k) <= 0 then redis.call('DEL', k) end end end return 0";
/* Best effort when the check could not reserve (Redis failed meanwhile):
 * INCR with the window set on the first failure. */
static const char rl_incr_lua[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n";

struct chat_rl {
    uv_timer_t timer;
    rd_client *const *rdp;
    chat_rl_check_cb cb;
    void *ud;
    bool in_open;
    bool reply_pending; /* rd_command's callback has not run yet */
    bool have_result;   /* reply held for the timer (arrived inside open) */
    bool check_pending; /* cb has not run yet */
    bool finished;
    bool timer_closing;
    bool reserved; /* this attempt holds a slot in the counters */
    bool refused;  /* the check said no */
    bool signup;   /* a sign-up session: every attempt stays counted */
    int status;
    long uf, af, retry;
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
    if (s->reply_pending || !s->finished || s->check_pending || s->timer_closing) return;
    s->timer_closing = true;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, rl_timer_closed);
}

static void rl_report(chat_rl *s, int status, long uf, long af, long retry)
{
    if (!s->check_pending) return;
    s->check_pending = false;
    uv_timer_stop(&s->timer);
    s->cb(s->ud, status, status == 0 && s->refused, uf, af, retry);
}

static void rl_on_timer(uv_timer_t *t);

static long rl_int(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
}

static void rl_on_check(void *ud, int status, const struct redisReply *r)
{
    chat_rl *s = ud;
    s->reply_pending = false;
    if (status != 0 || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 5) {
        cd_warn("throttle", "redis check failed (%s%s%s): login not throttled",
                cd_strerror(status ? status : CD_EIO), r && r->str ? ": " : "",
                r && r->str ? r->str : "");
        s->status = CD_EUNAVAIL;
        s->uf = s->af = s->retry = 0;
    } else {
        s->status = 0;
        s->reserved = rl_int(r->element[0]) == 1;
        s->uf = rl_int(r->element[1]);
        s->af = rl_int(r->element[2]);
        long ut = rl_int(r->element[3]), at = rl_int(r->element[4]);
        s->retry = 0;
        s->refused = !s->reserved;
        if (s->refused) s->retry = ut > at ? ut : at;
        if (s->refused && s->retry <= 0) s->retry = 1;
    }
    if (s->in_open) {
        s->have_result = true; /* reported from the timer, outside open */
        uv_timer_start(&s->timer, rl_on_timer, 0, 0);
        return;
    }
    rl_report(s, s->status, s->uf, s->af, s->retry);
    rl_maybe_free(s);
}

static void rl_on_timer(uv_timer_t *t)
{
    chat_rl *s = t->data;
    if (s->have_result) {
        rl_report(s, s->status, s->uf, s->af, s->retry);
    } else if (s->check_pending) {
        cd_warn("throttle", "redis did not answer within %u ms: login not throttled",
                LOGIN_REDIS_TIMEOUT_MS);
        rl_report(s, CD_EUNAVAIL, 0, 0, 0);
    }
    rl_maybe_free(s);
}

static void rl_key(char *out, const char *prefix, const char *v, size_t len, bool lower)
{
    int n = snprintf(out, RL_KEY_MAX, "%s", prefix);
    size_t o = (size_t)n;
    for (size_t i = 0; i < len && o + 1 < RL_KEY_MAX; i++)
        out[o++] = lower ? (char)tolower((unsigned char)v[i]) : v[i];
    out[o] = 0;
}

/* Starts a session running `script` over the session's keys (ukey, and
 * akey when nkeys is 2) with argv a1..a3 (a3 may be NULL). */
static chat_rl *rl_start(uv_loop_t *loop, rd_client *const *rdp, chat_rl *s, const char *script,
                         int nkeys, const char *a1, const char *a2, const char *a3)
{
    s->rdp = rdp;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->in_open = true;
    s->reply_pending = s->check_pending = true;
    const char *argv[8] = {"EVAL", script, nkeys == 2 ? "2" : "1", s->ukey};
    int argc = 4;
    if (nkeys == 2) argv[argc++] = s->akey;
    argv[argc++] = a1;
    argv[argc++] = a2;
    if (a3) argv[argc++] = a3;
    int rc = rd_command(*rdp, argc, argv, NULL, rl_on_check, s);
    s->in_open = false;
    if (rc != 0) {
        cd_warn("throttle", "redis unavailable (%s): %s not throttled", cd_strerror(rc),
                s->signup ? "sign-up" : "login");
        uv_close((uv_handle_t *)&s->timer, rl_timer_closed); /* frees s */
        return NULL;
    }
    if (!s->have_result) uv_timer_start(&s->timer, rl_on_timer, LOGIN_REDIS_TIMEOUT_MS, 0);
    return s;
}

chat_rl *chat_rl_open(uv_loop_t *loop, rd_client *const *rdp, const char *username, size_t ulen,
                      const char *addr, chat_rl_check_cb cb, void *ud)
{
    if (!rdp || !*rdp) return NULL;
    chat_rl *s = cd_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cb = cb;
    s->ud = ud;
    /* the script reads both keys: on a Redis Cluster they share the {login}
     * hash tag (one slot) */
    bool cluster = rd_is_cluster(*rdp);
    rl_key(s->ukey, cluster ? LOGIN_KEY_PREFIX_CLUSTER "u:" : LOGIN_KEY_PREFIX "u:", username, ulen,
           true);
    rl_key(s->akey,
           cluster ? LOGIN_KEY_PREFIX_CLUSTER "a:" : LOGIN_KEY_PREFIX "a:", addr ? addr : "",
           addr ? strlen(addr) : 0, false);
    char lu[16], la[16], win[16];
    snprintf(lu, sizeof lu, "%d", LOGIN_LOCK_USER);
    snprintf(la, sizeof la, "%d", LOGIN_LOCK_ADDR);
    snprintf(win, sizeof win, "%d", LOGIN_FAIL_WINDOW_S);
    return rl_start(loop, rdp, s, rl_reserve_lua, 2, lu, la, win);
}

chat_rl *chat_rl_open_signup(uv_loop_t *loop, rd_client *const *rdp, const char *addr,
                             uint32_t limit, chat_rl_check_cb cb, void *ud)
{
    if (!rdp || !*rdp || limit == 0) return NULL;
    chat_rl *s = cd_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cb = cb;
    s->ud = ud;
    s->signup = true;
    rl_key(s->ukey, SIGNUP_KEY_PREFIX, addr ? addr : "", addr ? strlen(addr) : 0, false);
    char lim[16], win[16];
    snprintf(lim, sizeof lim, "%u", limit);
    snprintf(win, sizeof win, "%d", CD_SIGNUP_WINDOW_S);
    return rl_start(loop, rdp, s, rl_signup_lua, 1, lim, win, NULL);
}

void chat_rl_finish(chat_rl *s, chat_rl_outcome outcome)
{
    s->finished = true;
    rd_client *rd = *s->rdp;
    if (s->signup) {
        /* every attempt counts */
    } else if (rd && s->reserved && outcome != CHAT_RL_FAILED) {
        /* the failure counted in advance did not happen: give the slots
         * back (a success also clears the username's counter) */
        const char *a[] = {"EVAL",  rl_release_lua, "2",
                           s->ukey, s->akey,        outcome == CHAT_RL_OK ? "1" : "0"};
        (void)rd_command(rd, 6, a, NULL, NULL, NULL);
    } else if (rd && !s->reserved && outcome == CHAT_RL_FAILED) {
        char win[16];
        snprintf(win, sizeof win, "%d", LOGIN_FAIL_WINDOW_S);
        const char *a1[] = {"EVAL", rl_incr_lua, "1", s->ukey, win};
        const char *a2[] = {"EVAL", rl_incr_lua, "1", s->akey, win};
        (void)rd_command(rd, 5, a1, NULL, NULL, NULL);
        (void)rd_command(rd, 5, a2, NULL, NULL, NULL);
    } else if (rd && !s->reserved && outcome == CHAT_RL_OK) {
        const char *a[] = {"DEL", s->ukey};
        (void)rd_command(rd, 2, a, NULL, NULL, NULL);
    }
    rl_maybe_free(s);
}
