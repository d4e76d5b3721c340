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
 * A login's session (chat_rl) runs its commands on the process's broker
 * client (rd_command on the publishing connection): one EVAL reading both
 * counters, then one fire-and-forget EVAL/DEL recording the outcome. When
 * Redis is not configured, disconnected or slower than
 * LOGIN_REDIS_TIMEOUT_MS, logins are not throttled (fail open, logged):
 * throttling protects passwords, Redis availability must not decide whether
 * users can sign in.
 */
#ifndef CHATD_CHAT_THROTTLE_H
#define CHATD_CHAT_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/redis.h"

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

/* Opens a session for one login of `username` from `addr` and reads the
 * counters through *rdp (the process's broker client; read at every use, so
 * a client closed and set to NULL meanwhile is never touched). NULL when it
 * cannot start (no client, disconnected, OOM): proceed unthrottled.
 * Otherwise cb runs once, and the caller must then call chat_rl_finish
 * exactly once. */
chat_rl *chat_rl_open(uv_loop_t *loop, rd_client *const *rdp, const char *username, size_t ulen,
                      const char *addr, chat_rl_check_cb cb, void *ud);

/* Outcome of a login for chat_rl_finish. */
typedef enum chat_rl_outcome {
    CHAT_RL_NONE = 0, /* not attempted (refused, bad input, error): counters unchanged */
    CHAT_RL_FAILED,   /* wrong password / unknown user: both counters +1 */
    CHAT_RL_OK        /* signed in: the username's counter is cleared */
} chat_rl_outcome;

/* Records the outcome (fire and forget) and ends the session; it frees
 * itself once the check's reply (or its timeout) is in. No callback. */
void chat_rl_finish(chat_rl *s, chat_rl_outcome outcome);

/* Pure policy (unit-tested at the edges). */
bool chat_throttle_locked(long user_fails, long addr_fails);
uint32_t chat_throttle_delay_ms(long user_fails, long addr_fails);

#endif
