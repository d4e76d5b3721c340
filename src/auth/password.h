/*
 * password.h — argon2id password hashes (libsodium crypto_pwhash_str).
 *
 * One argon2id hash with AUTH_PW_OPSLIMIT / AUTH_PW_MEMLIMIT takes tens of
 * milliseconds of CPU and 64 MiB of memory (measured in docs/architecture.md
 * and by tests/unit/test_auth_password.c), far too long to run on the event
 * loop. The *_async functions therefore run on libuv's thread pool
 * (uv_queue_work) and call back on the loop thread; the blocking versions are
 * for tests and tools only.
 *
 * The hash string is what the database stores; it never leaves the server.
 * Plain passwords are copied into a work item and wiped (sodium_memzero)
 * before the callback runs. Callbacks run exactly once, later from the loop,
 * when the call returned 0; never when it returned a negative code.
 */
#ifndef CHATD_AUTH_PASSWORD_H
#define CHATD_AUTH_PASSWORD_H

#include <stddef.h>
#include <uv.h>

#include "core/core.h"

#define AUTH_PW_MIN_LEN 8                      /* bytes; shorter passwords are refused */
#define AUTH_PW_MAX_LEN 128                    /* bytes; longer passwords are refused */
#define AUTH_PW_HASH_MAX 128                   /* crypto_pwhash_STRBYTES: hash string incl. NUL */
#define AUTH_PW_OPSLIMIT 2ULL                  /* crypto_pwhash_OPSLIMIT_INTERACTIVE */
#define AUTH_PW_MEMLIMIT (64ULL * 1024 * 1024) /* crypto_pwhash_MEMLIMIT_INTERACTIVE */
/* Default bound on *_async operations queued or running in this process
 * (CHATD_PW_QUEUE_MAX): one more is refused with CD_ELIMIT at once, so a
 * flood of sign-ups or logins cannot queue unbounded 64 MiB hashes. */
#define AUTH_PW_QUEUE_DEFAULT 64u
/* Bound on hashes running at once (CHATD_PW_THREADS; 0 = the default: the
 * CPUs libuv reports minus one, at least 1). The others wait in FIFO order
 * inside the queue bound, so a flood of sign-ins leaves a core to the event
 * loop and to the thread pool's other work. */
#define AUTH_PW_RUN_MAX_LIMIT 64u

/* status 0 with the hash string (valid during the callback), or CD_ENOMEM. */
typedef void (*auth_pw_hash_cb)(int status, const char *hash, void *ud);
/* status 0 when the password matches, CD_EAUTH when it does not (or the
 * stored hash is malformed), CD_ENOMEM. */
typedef void (*auth_pw_verify_cb)(int status, void *ud);

/* True when len is within AUTH_PW_MIN_LEN..AUTH_PW_MAX_LEN. */
int auth_password_check_len(size_t len);

/* Sets the queue bound (>= 1; the loop thread only). */
void auth_password_set_queue_max(unsigned n);
/* Sets the bound on operations running at once (0 = CPUs - 1, at least 1;
 * capped at AUTH_PW_RUN_MAX_LIMIT; the loop thread only). */
void auth_password_set_run_max(unsigned n);
/* The bound in force. */
unsigned auth_password_run_max(void);
/* Operations running now (on the thread pool). */
unsigned auth_password_running(void);
/* Operations queued or running now. */
unsigned auth_password_inflight(void);

/* Hashes pw (len bytes) off-loop. Returns 0 (cb will run), CD_EBAD (length
 * outside the limits), CD_ELIMIT (queue full: retry later), CD_ENOMEM. */
int auth_password_hash_async(uv_loop_t *loop, const char *pw, size_t len, auth_pw_hash_cb cb,
                             void *ud);

/* Verifies pw against `hash` off-loop. hash may be NULL (unknown user or an
 * account without password): the same amount of work is done and the
 * callback gets CD_EAUTH, so timing does not tell whether the user exists.
 * Returns 0 (cb will run), CD_EBAD (len > AUTH_PW_MAX_LEN), CD_ELIMIT (queue
 * full), CD_ENOMEM. */
int auth_password_verify_async(uv_loop_t *loop, const char *hash, const char *pw, size_t len,
                               auth_pw_verify_cb cb, void *ud);

/* Blocking versions (tests, tools; never on a serving loop). */
int auth_password_hash(const char *pw, size_t len, char out[AUTH_PW_HASH_MAX]);
int auth_password_verify(const char *hash, const char *pw, size_t len);

#endif
