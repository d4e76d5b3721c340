/*
 * s3.c — the bucket backend of the file store (files_store_s3): the same
 * content addresses as the directory ("<sha[0:2]>/<sha>", "... .thumb") as
 * keys of an S3-compatible bucket (CHATD_FILES_S3_*), through Debian's libs3
 * (2.0: path-style URLs, AWS signature version 2).
 *
 * libs3 blocks (curl underneath), so every request runs on libuv's thread
 * pool (uv_queue_work) as one job; at most FILES_S3_WORKERS jobs run at
 * once and at most FILES_S3_QUEUE wait (more → CD_ELIMIT → 503
 * SERVICE_BUSY for a new upload or download). The next piece of a download
 * under way and removals (the sweeper's, bounded by FILES_SWEEP_BATCH per
 * round) are never refused. A job's result comes back on the loop thread;
 * workers do not log (the job carries its note to the loop).
 *
 * - commit: HEAD each key; PUT the temp file only when the key is missing
 *   or has another size (same bytes stored once); the temp files are
 *   unlinked (in the worker).
 * - open: HEAD → the size (or CD_ENOENT). read: one ranged GET of at most
 *   FILES_S3_READ_CHUNK bytes into the caller's buffer — a download holds
 *   one piece and asks for the next when the socket took it, so a slow
 *   client costs memory, not a worker.
 * - remove: the directory's algorithm with copies: copy each key to
 *   "trash/<sha>.<random>[.thumb]" and delete it; ask the database whether a
 *   row still names the bytes; copy back if so (or when the answer is
 *   unknown); delete the trash copies. An upload inserts its row before its
 *   HEAD, so either the removal sees the row, or the upload's HEAD comes
 *   after the move and it PUTs the bytes again.
 *
 * Any failure of the bucket (refused, unreachable, an error answer) is
 * CD_EUNAVAIL; a request stalled below 1 KiB/s for 15 s is ended by libs3.
 * Nothing is deleted before its copy exists.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libs3.h>

#include "core/log.h"
#include "files/files_internal.h"

/* Extra attempts of a request that failed in a way libs3 calls retryable
 * (connection reset, timeout, 5xx), FILES_S3_RETRY_MS apart. */
#define FILES_S3_RETRIES 2
#define FILES_S3_RETRY_MS 200
/* "trash/" + sha + "." + 24 hex + ".thumb" */
#define FILES_S3_KEY_MAX 128
/* The key read at start-up to check the bucket and the keys. */
#define FILES_S3_PROBE_KEY "chatd-probe"

typedef struct s3_state {
    S3BucketContext bc;
    unsigned running, waiting;
    struct s3_job *head, *tail;
} s3_state;

enum { J_COMMIT, J_OPEN, J_READ, J_ASIDE, J_FINISH };
struct s3_job;
static void removal_step(struct s3_job *j);

typedef struct s3_job {
    uv_work_t work;
    files_ctx *fc;
    int kind;
    int status; /* the result: 0 or CD_* */
    struct s3_job *next;
    char key[2][FILES_S3_KEY_MAX], trash[2][FILES_S3_KEY_MAX];
    char tmp[2][PATH_MAX];
    bool has[2];  /* commit: a file to store; remove: a key moved aside */
    bool restore; /* remove: a row still names the bytes (or unknown) */
    char sha[FILES_SHA_HEX + 1];
    files_reader *rd; /* open / read */
    char *buf;
    size_t len;
    uint64_t off;
    files_store_cb cb;
    void *ud;
    char note[256]; /* the first failure, logged on the loop thread */
} s3_job;

/* ---- blocking requests (worker threads only) ---- */

typedef struct s3_call {
    S3Status status;
    uint64_t length; /* the answer's Content-Length */
    uint64_t start;  /* GET: the first byte */
    FILE *in;        /* PUT: the file, and bytes left */
    uint64_t in_left;
    char *out; /* GET: the buffer, its size and bytes so far */
    size_t out_cap, out_len;
    char msg[160];
} s3_call;

static S3Status props_cb(const S3ResponseProperties *p, void *ud)
{
    ((s3_call *)ud)->length = p->contentLength;
    return S3StatusOK;
}

static void complete_cb(S3Status status, const S3ErrorDetails *e, void *ud)
{
    s3_call *c = ud;
    c->status = status;
    if (e && e->message) snprintf(c->msg, sizeof c->msg, "%s", e->message);
}

static int put_data_cb(int size, char *buf, void *ud)
{
    s3_call *c = ud;
    if (c->in_left == 0) return 0;
    size_t want = (uint64_t)size < c->in_left ? (size_t)size : (size_t)c->in_left;
    size_t n = fread(buf, 1, want, c->in);
    if (n == 0) return -1; /* the file ended early: abort the PUT */
    c->in_left -= n;
    return (int)n;
}

static S3Status get_data_cb(int size, const char *buf, void *ud)
{
    s3_call *c = ud;
    if ((size_t)size > c->out_cap - c->out_len) return S3StatusAbortedByCallback;
    memcpy(c->out + c->out_len, buf, (size_t)size);
    c->out_len += (size_t)size;
    return S3StatusOK;
}

static const S3ResponseHandler resp_handler = {props_cb, complete_cb};

/* Notes the first failure of a job (workers do not log: the logger is the
 * loop thread's). */
static void note(s3_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(s3_job *j, const char *fmt, ...)
{
    if (j->note[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->note, sizeof j->note, fmt, ap);
    va_end(ap);
}

static int call_result(s3_job *j, const s3_call *c, const char *what, const char *key)
{
    if (c->status == S3StatusOK) return 0;
    if (c->status == S3StatusHttpErrorNotFound || c->status == S3StatusErrorNoSuchKey)
        return CD_ENOENT;
    note(j, "bucket %s %s: %s%s%s", what, key, S3_get_status_name(c->status), c->msg[0] ? ": " : "",
         c->msg);
    return CD_EUNAVAIL;
}

typedef enum { OP_HEAD, OP_PUT, OP_GET, OP_COPY, OP_DELETE } s3_op;

/* One request, retried while libs3 calls its failure retryable. */
static int s3_request(s3_job *j, s3_op op, const char *key, const char *arg, s3_call *c)
{
    s3_state *st = j->fc->s3;
    static const char *const names[] = {"HEAD", "PUT", "GET", "COPY", "DELETE"};
    for (int attempt = 0;; attempt++) {
        c->status = S3StatusInternalError;
        c->msg[0] = 0;
        c->out_len = 0;
        switch (op) {
        case OP_HEAD:
            S3_head_object(&st->bc, key, NULL, &resp_handler, c);
            break;
        case OP_PUT: {
            S3PutObjectHandler h = {resp_handler, put_data_cb};
            S3_put_object(&st->bc, key, c->in_left, NULL, NULL, &h, c);
            break;
        }
        case OP_GET: {
            S3GetObjectHandler h = {resp_handler, get_data_cb};
            S3_get_object(&st->bc, key, NULL, c->start, c->out_cap, NULL, &h, c);
            break;
        }
        case OP_COPY:
            S3_copy_object(&st->bc, key, NULL, arg, NULL, NULL, 0, NULL, NULL, &resp_handler, c);
            break;
        case OP_DELETE:
            S3_delete_object(&st->bc, key, NULL, &resp_handler, c);
            break;
        }
        /* a PUT whose body was partly sent cannot simply be repeated */
        if (c->status == S3StatusOK || attempt >= FILES_S3_RETRIES || op == OP_PUT ||
            !S3_status_is_retryable(c->status))
            return call_result(j, c, names[op], key);
        usleep(FILES_S3_RETRY_MS * 1000);
    }
}

static int s3_head(s3_job *j, const char *key, uint64_t *size)
{
    s3_call c = {0};
    int rc = s3_request(j, OP_HEAD, key, NULL, &c);
    if (rc == 0 && size) *size = c.length;
    return rc;
}

static int s3_put_file(s3_job *j, const char *key, const char *path)
{
    s3_call c = {0};
    c.in = fopen(path, "rb");
    struct stat sb;
    if (!c.in || fstat(fileno(c.in), &sb) != 0) {
        note(j, "bucket PUT %s: cannot read %s", key, path);
        if (c.in) fclose(c.in);
        return CD_EIO;
    }
    c.in_left = (uint64_t)sb.st_size;
    int rc = s3_request(j, OP_PUT, key, NULL, &c);
    fclose(c.in);
    return rc;
}

static int s3_move(s3_job *j, const char *from, const char *to)
{
    s3_call c = {0};
    int rc = s3_request(j, OP_COPY, from, to, &c);
    if (rc != 0) return rc;
    s3_call d = {0};
    return s3_request(j, OP_DELETE, from, NULL, &d);
}

static int s3_delete(s3_job *j, const char *key)
{
    s3_call c = {0};
    int rc = s3_request(j, OP_DELETE, key, NULL, &c);
    return rc == CD_ENOENT ? 0 : rc;
}

/* ---- jobs ---- */

static void job_work(uv_work_t *w)
{
    s3_job *j = w->data;
    switch (j->kind) {
    case J_COMMIT:
        j->status = 0;
        for (int i = 0; i < 2; i++) {
            if (!j->has[i]) continue;
            if (j->status == 0) {
                /* there with the same size: the same bytes (content address);
                 * missing, or another size (damaged): PUT */
                uint64_t have = 0;
                struct stat sb;
                int rc = s3_head(j, j->key[i], &have);
                if (rc == CD_ENOENT ||
                    (rc == 0 && stat(j->tmp[i], &sb) == 0 && have != (uint64_t)sb.st_size))
                    rc = s3_put_file(j, j->key[i], j->tmp[i]);
                j->status = rc;
            }
            unlink(j->tmp[i]);
        }
        break;
    case J_OPEN:
        j->status = s3_head(j, j->key[0], &j->rd->size);
        break;
    case J_READ: {
        s3_call c = {0};
        c.start = j->off;
        c.out = j->buf;
        c.out_cap = j->len;
        j->status = s3_request(j, OP_GET, j->key[0], NULL, &c);
        j->rd->nread = (ssize_t)c.out_len;
        if (j->status == 0 && c.out_len == 0) { /* ended early */
            note(j, "bucket GET %s: no bytes at %" PRIu64, j->key[0], j->off);
            j->status = CD_EIO;
        }
        break;
    }
    case J_ASIDE:
        for (int i = 0; i < 2; i++) {
            int rc = s3_move(j, j->key[i], j->trash[i]);
            j->has[i] = rc == 0;
            if (rc != 0 && rc != CD_ENOENT) s3_delete(j, j->trash[i]); /* copy only */
        }
        break;
    case J_FINISH:
        for (int i = 0; i < 2; i++) {
            if (!j->has[i]) continue;
            if (j->restore) {
                s3_call c = {0};
                if (s3_request(j, OP_COPY, j->trash[i], j->key[i], &c) != 0) {
                    j->note[0] = 0;
                    note(j, "bucket: %s kept as %s (restoring it failed)", j->key[i], j->trash[i]);
                    continue; /* the trash copy stays: nothing is lost */
                }
            }
            s3_delete(j, j->trash[i]);
        }
        break;
    }
}

static void job_start_waiting(files_ctx *fc);

static void job_after(uv_work_t *w, int status)
{
    s3_job *j = w->data;
    files_ctx *fc = j->fc;
    s3_state *st = fc->s3;
    st->running--;
    if (status != 0) j->status = CD_EIO; /* cancelled */
    if (j->note[0]) {
        if (j->kind == J_FINISH || j->kind == J_ASIDE)
            cd_error("files", "%s", j->note);
        else
            cd_warn("files", "%s", j->note);
        j->note[0] = 0;
    }
    job_start_waiting(fc);
    if (j->kind == J_ASIDE || j->kind == J_FINISH) {
        removal_step(j);
        return;
    }
    files_store_cb cb = j->cb;
    void *ud = j->ud;
    int rc = j->status;
    cd_free(j);
    cb(rc, ud);
}

static void job_run(files_ctx *fc, s3_job *j)
{
    s3_state *st = fc->s3;
    st->running++;
    j->work.data = j;
    if (uv_queue_work(fc->srv->loop, &j->work, job_work, job_after) != 0) {
        j->status = CD_EIO;
        job_after(&j->work, 0);
    }
}

static void job_start_waiting(files_ctx *fc)
{
    s3_state *st = fc->s3;
    while (st->head && st->running < FILES_S3_WORKERS) {
        s3_job *j = st->head;
        st->head = j->next;
        if (!st->head) st->tail = NULL;
        j->next = NULL;
        st->waiting--;
        job_run(fc, j);
    }
}

/* Queues j; CD_ELIMIT (j not taken) when a new upload's or download's job
 * finds the queue full. The next piece of an admitted download and the
 * steps of a removal are never refused (bounded by the downloads admitted
 * and by FILES_SWEEP_BATCH). */
static int job_submit(files_ctx *fc, s3_job *j)
{
    s3_state *st = fc->s3;
    bool internal = j->kind == J_READ || j->kind == J_ASIDE || j->kind == J_FINISH;
    if (st->running < FILES_S3_WORKERS && !st->head) {
        job_run(fc, j);
        return 0;
    }
    if (!internal && st->waiting >= FILES_S3_QUEUE) return CD_ELIMIT;
    if (st->tail)
        st->tail->next = j;
    else
        st->head = j;
    st->tail = j;
    st->waiting++;
    return 0;
}

static void key_of(char *out, const char *sha, bool thumb)
{
    snprintf(out, FILES_S3_KEY_MAX, "%.2s/%s%s", sha, sha, thumb ? ".thumb" : "");
}

/* ---- the interface ---- */

static int s3_commit(files_ctx *fc, const char *tmp, const char *thumb_tmp, const char *sha,
                     files_store_cb cb, void *ud)
{
    s3_job *j = cd_calloc(1, sizeof *j);
    if (!j) return CD_ENOMEM;
    j->fc = fc;
    j->kind = J_COMMIT;
    j->cb = cb;
    j->ud = ud;
    const char *tmps[2] = {tmp, thumb_tmp};
    for (int i = 0; i < 2; i++) {
        if (!tmps[i]) continue;
        j->has[i] = true;
        key_of(j->key[i], sha, i == 1);
        files_fmt(j->tmp[i], sizeof j->tmp[i], "%s", tmps[i]);
    }
    int rc = job_submit(fc, j);
    if (rc != 0) cd_free(j);
    return rc;
}

/* A reader's request (J_OPEN / J_READ) for its object's key; NULL when out
 * of memory. */
static s3_job *reader_job(files_reader *r, int kind, files_store_cb cb, void *ud)
{
    s3_job *j = cd_calloc(1, sizeof *j);
    if (!j) return NULL;
    j->fc = r->fc;
    j->kind = kind;
    j->rd = r;
    j->cb = cb;
    j->ud = ud;
    key_of(j->key[0], r->sha, r->thumb);
    return j;
}

static int reader_submit(files_reader *r, s3_job *j)
{
    int rc = job_submit(r->fc, j);
    if (rc != 0) cd_free(j);
    return rc;
}

static int s3_open(files_reader *r, files_store_cb cb, void *ud)
{
    s3_job *j = reader_job(r, J_OPEN, cb, ud);
    return j ? reader_submit(r, j) : CD_ENOMEM;
}

static int s3_read(files_reader *r, char *buf, size_t len, uint64_t off, files_store_cb cb,
                   void *ud)
{
    s3_job *j = reader_job(r, J_READ, cb, ud);
    if (!j) return CD_ENOMEM;
    j->buf = buf;
    j->len = len;
    j->off = off;
    return reader_submit(r, j);
}

static void s3_close(files_reader *r)
{
    CD_UNUSED(r); /* nothing held between requests */
}

/* removal: aside (worker) → ask (loop) → finish (worker) → free */

static void removal_named(int named, void *ud)
{
    s3_job *j = ud;
    j->restore = named != 0; /* unknown (database down): keep the bytes */
    j->kind = J_FINISH;
    job_submit(j->fc, j);
}

static void removal_step(s3_job *j)
{
    if (j->kind == J_ASIDE && (j->has[0] || j->has[1])) {
        files_store_ask_named(j->fc, j->sha, removal_named, j);
        return;
    }
    j->fc->removing--;
    cd_free(j);
}

static void s3_remove(files_ctx *fc, const char *sha)
{
    s3_job *j = cd_calloc(1, sizeof *j);
    if (!j) return;
    j->fc = fc;
    j->kind = J_ASIDE;
    files_fmt(j->sha, sizeof j->sha, "%s", sha);
    char r[25];
    files_random_name(r, sizeof r);
    for (int i = 0; i < 2; i++) {
        key_of(j->key[i], sha, i == 1);
        snprintf(j->trash[i], FILES_S3_KEY_MAX, "trash/%s.%s%s", sha, r, i ? ".thumb" : "");
    }
    fc->removing++;
    job_submit(fc, j);
}

const files_store_ops files_store_s3 = {
    .name = "s3",
    .read_chunk = FILES_S3_READ_CHUNK,
    .commit = s3_commit,
    .remove = s3_remove,
    .open = s3_open,
    .read = s3_read,
    .close = s3_close,
};

/* ---- start-up (blocking) ---- */

int files_s3_init(files_ctx *fc, char *err, size_t errlen)
{
    const cd_config *cfg = fc->cfg;
    static bool initialized;
    if (strlen(cfg->files_s3_endpoint) > S3_MAX_HOSTNAME_SIZE) {
        snprintf(err, errlen, "CHATD_FILES_S3_ENDPOINT: at most %d bytes", S3_MAX_HOSTNAME_SIZE);
        return CD_EBAD;
    }
    if (S3_validate_bucket_name(cfg->files_s3_bucket, S3UriStylePath) != S3StatusOK) {
        snprintf(err, errlen, "CHATD_FILES_S3_BUCKET \"%s\" is not a valid bucket name",
                 cfg->files_s3_bucket);
        return CD_EBAD;
    }
    if (!initialized) {
        S3Status s = S3_initialize("chatd", S3_INIT_ALL, cfg->files_s3_endpoint);
        if (s != S3StatusOK) {
            snprintf(err, errlen, "libs3: %s", S3_get_status_name(s));
            return CD_EIO;
        }
        initialized = true;
    }
    s3_state *st = cd_calloc(1, sizeof *st);
    if (!st) return CD_ENOMEM;
    st->bc = (S3BucketContext){
        .hostName = cfg->files_s3_endpoint,
        .bucketName = cfg->files_s3_bucket,
        .protocol = cfg->files_s3_https ? S3ProtocolHTTPS : S3ProtocolHTTP,
        .uriStyle = S3UriStylePath,
        .accessKeyId = cfg->files_s3_access_key,
        .secretAccessKey = cfg->files_s3_secret_key,
    };
    fc->s3 = st;
    if (cfg->files_s3_https)
        cd_warn("files",
                "libs3 2.0 checks the bucket's certificate name but not its issuer: "
                "reach %s over a network you trust (docs/operations.md \"Files\")",
                cfg->files_s3_endpoint);
    /* Does the bucket answer? (a GET of a key nobody writes: libs3 2.0
     * signs bucket-level requests in path style wrongly.) A wrong bucket or
     * key stops the start; an unreachable service does not (uploads and
     * downloads answer 503 until it is back). */
    s3_call c = {0};
    char probe[1];
    c.out = probe;
    c.out_cap = sizeof probe;
    S3GetObjectHandler h = {resp_handler, get_data_cb};
    S3_get_object(&st->bc, FILES_S3_PROBE_KEY, NULL, 0, sizeof probe, NULL, &h, &c);
    if (c.status == S3StatusErrorNoSuchKey) return 0;
    if (c.status == S3StatusOK) return 0;
    if (S3_status_is_retryable(c.status) || c.status == S3StatusNameLookupError) {
        cd_warn("files", "bucket %s at %s does not answer (%s): files answer 503 until it does",
                st->bc.bucketName, st->bc.hostName, S3_get_status_name(c.status));
        return 0;
    }
    snprintf(err, errlen, "bucket %s at %s: %s%s%s", st->bc.bucketName, st->bc.hostName,
             S3_get_status_name(c.status), c.msg[0] ? ": " : "", c.msg);
    return CD_EUNAVAIL;
}
