/*
 * throttle.h — login throttling with counters in Redis.
 *
 * Failed logins are counted per username (lower-cased) and per client
 * address in keys that expire LOGIN_FAIL_WINDOW_S after the first failure
 * of a window. Before checking a password the login reads both counters:
 *   - at LOGIN_LOCK_USER failures for the username, or LOGIN_LOCK_ADDR for
 *     the address, the login is refused (RATE_LIMITED) until the key
 *     expires; retryAfter tells how long;
 *   - from LOGIN_SLOW_AFTER_USER / LOGIN_SLOW_AFTER_ADDR failures on, the
 *     answer is delayed (a loop timer, never a sleep) by chat_throttle_delay_ms.
 * A successful login clears the username's counter (not the address's).
 *
 * Each login uses one short Redis connection of its own (chat_rl): opened
 * before the check, closed after the outcome is recorded, so no handle
 * outlives a request and shutdown never waits on it. When Redis is not
 * configured, unreachable or slower than LOGIN_REDIS_TIMEOUT_MS, logins are
 * not throttled (fail open, logged): throttling protects passwords, Redis
 * availability must not decide whether users can sign in.
 */
#ifndef CHATD_CHAT_THROTTLE_H
#define CHATD_CHAT_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define LOGIN_FAIL_WINDOW_S 900     /* failure counters live 15 min from the first failure */
#define LOGIN_SLOW_AFTER_USER 2     /* failures per username before answers slow down */
#define LOGIN_LOCK_USER 5           /* failures per username → refused for the window */
#define LOGIN_SLOW_AFTER_ADDR 10    /* failures per address before answers slow down */
#define LOGIN_LOCK_ADDR 20          /* failures per address → refused for the window */
#define LOGIN_SLOW_STEP_MS 250u     /* added delay per failure past the slow threshold */
#define LOGIN_SLOW_MAX_MS 2000u     /* delay ceiling */
#define LOGIN_REDIS_TIMEOUT_MS 500u /* Redis slower than this → not throttled */
#define LOGIN_KEY_PREFIX "chatd:login:fail:"

typedef struct chat_rl chat_rl;

/* Counters read: status 0 (counts valid; retry_after_s = seconds until the
 * locking key expires, when locked), or CD_EUNAVAIL (Redis unusable:
 * counts are 0). Runs exactly once, never inside chat_rl_open. */
typedef void (*chat_rl_check_cb)(void *ud, int status, long user_fails, long addr_fails,
                                 long retry_after_s);

/* Opens a session for one login of `username` from `addr` against the Redis
 * at `url` and reads the counters. NULL when it cannot start (bad URL,
 * immediate connect failure, OOM): proceed unthrottled. Otherwise cb runs
 * once, and the caller must then call chat_rl_finish exactly once. */
chat_rl *chat_rl_open(uv_loop_t *loop, const char *url, const char *username, size_t ulen,
                      const char *addr, chat_rl_check_cb cb, void *ud);

/* Outcome of a login for chat_rl_finish. */
typedef enum chat_rl_outcome {
    CHAT_RL_NONE = 0, /* not attempted (refused, bad input, error): counters unchanged */
    CHAT_RL_FAILED,   /* wrong password / unknown user: both counters +1 */
    CHAT_RL_OK        /* signed in: the username's counter is cleared */
} chat_rl_outcome;

/* Records the outcome and closes the session; it frees itself after Redis
 * answered (or the timeout). No callback. */
void chat_rl_finish(chat_rl *s, chat_rl_outcome outcome);

/* Pure policy (unit-tested at the edges). */
bool chat_throttle_locked(long user_fails, long addr_fails);
uint32_t chat_throttle_delay_ms(long user_fails, long addr_fails);

#endif
