/*
 * password.c — argon2id hashing and verification off the event loop (see
 * password.h).
 *
 * A work item (pw_work) is cd_malloc'd per call and owns a copy of the
 * password and of the stored hash; it is freed in the after-work callback on
 * the loop thread, after the caller's callback returned. The worker thread
 * touches only its own item (no shared state), so no locks are needed. The
 * count of items in flight (queue bound) is touched only on the loop thread.
 */
#include "auth/password.h"

#include <sodium.h>
#include <string.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/log.h"

typedef struct pw_work {
    uv_work_t req;
    int verify; /* 0 = hash, 1 = verify */
    int status;
    auth_pw_hash_cb hash_cb;
    auth_pw_verify_cb verify_cb;
    void *ud;
    size_t len;
    int have_hash;
    char hash[AUTH_PW_HASH_MAX]; /* in: stored hash (verify); out: new hash */
    char pw[AUTH_PW_MAX_LEN + 1];
    cd_log_ctx logctx; /* the submitter's request id, for its callback's logs */
    uv_loop_t *loop;
    struct pw_work *next; /* the waiting list, while the run bound is reached */
} pw_work;

static unsigned pw_inflight, pw_queue_max = AUTH_PW_QUEUE_DEFAULT;
static unsigned pw_running, pw_run_max; /* 0 until set: the default */
static pw_work *pw_wait_head, *pw_wait_tail;

static unsigned pw_run_default(void)
{
    unsigned n = uv_available_parallelism();
    return n > 1 ? n - 1 : 1;
}

void auth_password_set_run_max(unsigned n)
{
    if (n == 0) n = pw_run_default();
    pw_run_max = n > AUTH_PW_RUN_MAX_LIMIT ? AUTH_PW_RUN_MAX_LIMIT : n;
}

unsigned auth_password_run_max(void)
{
    if (!pw_run_max) auth_password_set_run_max(0);
    return pw_run_max;
}

unsigned auth_password_running(void)
{
    return pw_running;
}

void auth_password_set_queue_max(unsigned n)
{
    pw_queue_max = n ? n : 1;
}

unsigned auth_password_inflight(void)
{
    return pw_inflight;
}

_Static_assert(AUTH_PW_HASH_MAX == crypto_pwhash_STRBYTES, "hash size");
_Static_assert(AUTH_PW_RUN_MAX_LIMIT == CD_CONFIG_MAX_PW_THREADS, "CHATD_PW_THREADS bound");

static int pw_init(void)
{
    return sodium_init() < 0 ? CD_EIO : 0;
}

int auth_password_check_len(size_t len)
{
    return len >= AUTH_PW_MIN_LEN && len <= AUTH_PW_MAX_LEN;
}

int auth_password_hash(const char *pw, size_t len, char out[AUTH_PW_HASH_MAX])
{
    if (pw_init() != 0) return CD_EIO;
    if (crypto_pwhash_str(out, pw, len, AUTH_PW_OPSLIMIT, (size_t)AUTH_PW_MEMLIMIT) != 0)
        return CD_ENOMEM; /* libsodium fails only when it cannot get the memory */
    return 0;
}

int auth_password_verify(const char *hash, const char *pw, size_t len)
{
    if (pw_init() != 0) return CD_EIO;
    if (!hash) {
        /* same cost as a real verification, always a mismatch */
        char scratch[AUTH_PW_HASH_MAX];
        int rc = auth_password_hash(pw, len, scratch);
        sodium_memzero(scratch, sizeof scratch);
        return rc == 0 ? CD_EAUTH : rc;
    }
    if (strnlen(hash, AUTH_PW_HASH_MAX) >= AUTH_PW_HASH_MAX) return CD_EAUTH;
    return crypto_pwhash_str_verify(hash, pw, len) == 0 ? 0 : CD_EAUTH;
}

static void pw_run(uv_work_t *req)
{
    pw_work *w = req->data;
    if (w->verify)
        w->status = auth_password_verify(w->have_hash ? w->hash : NULL, w->pw, w->len);
    else
        w->status = auth_password_hash(w->pw, w->len, w->hash);
    sodium_memzero(w->pw, sizeof w->pw);
}

static void pw_start_waiting(void);

static void pw_done(uv_work_t *req, int status)
{
    pw_work *w = req->data;
    pw_inflight--; /* before the callback: it may queue the next step */
    pw_running--;
    pw_start_waiting();
    if (status != 0 && w->status == 0) w->status = CD_EIO; /* cancelled */
    cd_log_ctx saved;
    cd_log_ctx_enter(w->logctx.request_id, &saved);
    if (w->verify)
        w->verify_cb(w->status, w->ud);
    else
        w->hash_cb(w->status, w->status == 0 ? w->hash : NULL, w->ud);
    cd_log_ctx_leave(&saved);
    sodium_memzero(w, sizeof *w);
    cd_free(w);
}

static pw_work *pw_new(const char *pw, size_t len, void *ud)
{
    pw_work *w = cd_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->req.data = w;
    w->ud = ud;
    w->logctx = *cd_log_ctx_current();
    w->len = len;
    memcpy(w->pw, pw, len);
    return w;
}

/* Runs the waiting operations while fewer than the bound run. One that the
 * thread pool refuses (it does not, short of a bug) is answered CD_EIO. */
static void pw_start_waiting(void)
{
    while (pw_wait_head && pw_running < auth_password_run_max()) {
        pw_work *w = pw_wait_head;
        pw_wait_head = w->next;
        if (!pw_wait_head) pw_wait_tail = NULL;
        w->next = NULL;
        pw_running++;
        if (uv_queue_work(w->loop, &w->req, pw_run, pw_done) != 0) {
            w->status = CD_EIO;
            pw_done(&w->req, 0);
        }
    }
}

static int pw_queue(uv_loop_t *loop, pw_work *w)
{
    w->loop = loop;
    if (pw_running < auth_password_run_max()) {
        if (uv_queue_work(loop, &w->req, pw_run, pw_done) != 0) {
            sodium_memzero(w, sizeof *w);
            cd_free(w);
            return CD_EIO;
        }
        pw_running++;
    } else if (pw_wait_tail) {
        pw_wait_tail->next = w;
        pw_wait_tail = w;
    } else {
        pw_wait_head = pw_wait_tail = w;
    }
    pw_inflight++;
    return 0;
}

int auth_password_hash_async(uv_loop_t *loop, const char *pw, size_t len, auth_pw_hash_cb cb,
                             void *ud)
{
    if (!auth_password_check_len(len)) return CD_EBAD;
    if (pw_inflight >= pw_queue_max) return CD_ELIMIT;
    if (pw_init() != 0) return CD_EIO;
    pw_work *w = pw_new(pw, len, ud);
    if (!w) return CD_ENOMEM;
    w->hash_cb = cb;
    return pw_queue(loop, w);
}

int auth_password_verify_async(uv_loop_t *loop, const char *hash, const char *pw, size_t len,
                               auth_pw_verify_cb cb, void *ud)
{
    if (len > AUTH_PW_MAX_LEN) return CD_EBAD;
    if (pw_inflight >= pw_queue_max) return CD_ELIMIT;
    if (pw_init() != 0) return CD_EIO;
    pw_work *w = pw_new(pw, len, ud);
    if (!w) return CD_ENOMEM;
    w->verify = 1;
    w->verify_cb = cb;
    if (hash) {
        size_t hl = strnlen(hash, AUTH_PW_HASH_MAX);
        if (hl < AUTH_PW_HASH_MAX) {
            memcpy(w->hash, hash, hl + 1);
            w->have_hash = 1;
        } /* else: malformed stored hash → verified as "no hash" (mismatch) */
    }
    return pw_queue(loop, w);
}
