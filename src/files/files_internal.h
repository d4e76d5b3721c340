/*
 * files_internal.h — state shared by the files module's pieces (private
 * to src/files): the store (store.c), signed URLs (sign.c), uploads
 * (upload.c), downloads (download.c), thumbnails (thumb.c), the resolvers
 * and the sweeper (bind.c).
 */
#ifndef CHATD_FILES_INTERNAL_H
#define CHATD_FILES_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "core/config.h"
#include "files/files.h"
#include "protocol/protocol.h"
#include "store/pg.h"

/* The files endpoints' answers (uploads, errors). */
#define FILES_CT_JSON "application/json"

#define FILES_SHA_HEX 64
#define FILES_UUID_LEN 36
/* Extra bytes a multipart body may carry over the file limit (its part
 * headers and boundaries): the Content-Length check allows this much. */
#define FILES_MULTIPART_OVERHEAD (16 * 1024)
/* Downloads read and send this much at a time (one piece in flight): from
 * the directory, and from a bucket (one ranged GET each). */
#define FILES_READ_CHUNK (64 * 1024)
#define FILES_S3_READ_CHUNK (256 * 1024)
/* Bucket requests running at once (libuv's thread pool, which has 4 threads
 * unless UV_THREADPOOL_SIZE says otherwise) and waiting for one of them;
 * more waiting → 503 SERVICE_BUSY. */
#define FILES_S3_WORKERS 2
#define FILES_S3_QUEUE 256
/* Thumbnails: box (pixels) and workers running at once. */
#define FILES_THUMB_BOX 320
#define FILES_THUMB_WORKERS 2
/* Signed URL expiry is rounded up to a multiple of this (stable URLs). */
#define FILES_URL_ROUND_S 300
/* Sweeper period bound (the period is min(this, grace / 2)). */
#define FILES_SWEEP_MAX_MS 10000u
/* Rows the sweeper removes per round. */
#define FILES_SWEEP_BATCH 500

typedef struct files_store_ops files_store_ops;
typedef struct files_ctx files_ctx;

/* Registers one piece's statements on the pool (0 or an error). */
typedef int (*files_prepare_fn)(files_ctx *fc);
/* Pieces with statements: uploads, downloads, the sweeper. */
#define FILES_PREPARE_MAX 4

struct files_ctx {
    proto_server *srv;
    const cd_config *cfg;
    char *dir; /* cfg->files_dir, absolute (the bytes, or only tmp/ with a bucket) */
    const files_store_ops *store; /* directory (store.c) or bucket (s3.c) */
    void *s3;                     /* the bucket backend's state (s3.c) */
    unsigned removing;            /* removals in flight: the sweeper waits for them */
    unsigned char url_key[32];
    bool url_key_set;
    unsigned thumb_running, thumb_waiting;
    uv_timer_t sweep;
    bool sweep_started, sweep_busy;
    pg_pool *prepared; /* the pool our statements were registered on */
    /* each piece's statement registration, set by files_bind (bind.c) and
     * run by files_db on first use */
    files_prepare_fn prepare[FILES_PREPARE_MAX];
};

/* common.c: the database with this module's statements registered (the
 * pool opens after the modules bind, so fc->prepare runs on first use);
 * NULL when no database is configured or registration failed. */
pg_pool *files_db(files_ctx *fc);

/* ---- the store: one interface, two backends ----
 *
 * Bytes are content-addressed: "<sha[0:2]>/<sha>" and "<sha[0:2]>/<sha>.thumb"
 * under CHATD_FILES_DIR (store.c) or as keys of an S3-compatible bucket
 * (s3.c, CHATD_FILES_S3_*). Uploads are spooled to "<dir>/tmp" either way and
 * handed to files_store_commit when complete. Every call is asynchronous and
 * calls its callback exactly once, on the loop thread, unless it returned
 * non-zero (then never). Statuses: 0, CD_ENOENT (no such bytes), CD_ELIMIT
 * (the backend's queue is full → 503 SERVICE_BUSY), CD_EIO / CD_EUNAVAIL
 * (storage failure → 503 SERVICE_UNAVAILABLE), CD_ENOMEM. */
typedef void (*files_store_cb)(int status, void *ud);

/* A stored object open for reading (embedded in its user, download.c):
 * files_store_open fills it, files_store_read reads ranges of it,
 * files_store_close releases it (also after a failed open; idempotent). */
typedef struct files_reader {
    files_ctx *fc;
    char sha[FILES_SHA_HEX + 1];
    bool thumb;
    uint64_t size; /* set when the open succeeded */
    uv_fs_t fs;    /* directory: the open file */
    uv_file fd;
    bool fd_open;
    files_store_cb cb; /* the pending call's */
    void *ud;
    ssize_t nread; /* files_store_read: bytes read (> 0), set before cb(0) */
} files_reader;

struct files_store_ops {
    const char *name;  /* "directory" / "s3" (logs) */
    size_t read_chunk; /* bytes a download asks for at a time */
    int (*commit)(files_ctx *fc, const char *tmp, const char *thumb_tmp, const char *sha,
                  files_store_cb cb, void *ud);
    void (*remove)(files_ctx *fc, const char *sha);
    int (*open)(files_reader *r, files_store_cb cb, void *ud);
    int (*read)(files_reader *r, char *buf, size_t len, uint64_t off, files_store_cb cb, void *ud);
    void (*close)(files_reader *r);
};

/* store.c: the directory backend */
extern const files_store_ops files_store_dir;
/* s3.c: the bucket backend; files_s3_init connects (start-up, blocking:
 * checks the bucket answers), CD_EBAD / CD_EUNAVAIL with err. */
extern const files_store_ops files_store_s3;
int files_s3_init(files_ctx *fc, char *err, size_t errlen);

/* Creates dir, dir/tmp (and dir/trash for the directory backend) and picks
 * the backend (blocking; start-up only). */
int files_store_init(files_ctx *fc, char *err, size_t errlen);
/* "<dir>/<sha[0:2]>/<sha>" (thumb: + ".thumb") into out (PATH_MAX). */
void files_store_path(const files_ctx *fc, const char *sha, bool thumb, char *out, size_t cap);
/* A fresh temp path "<dir>/tmp/<random>.part". */
void files_store_temp(const files_ctx *fc, char *out, size_t cap);
/* A fresh random name of 24 hex digits (out >= 25 bytes). */
void files_random_name(char *out, size_t cap);
/* Stores a finished temp file (and its thumbnail temp, when thumb_tmp is
 * not NULL) under the content address of sha (the same bytes already there
 * are kept: stored once). The temp files are gone afterwards, whatever the
 * status. */
int files_store_commit(files_ctx *fc, const char *tmp, const char *thumb_tmp, const char *sha,
                       files_store_cb cb, void *ud);
/* Removes the bytes of sha unless a files row still names them (checked
 * after moving them aside, so an upload committing at the same time keeps
 * its copy). Fire and forget; fc->removing counts those in flight. */
void files_store_remove(files_ctx *fc, const char *sha);
/* Opens the bytes of sha (or its thumbnail): cb(0) with r->size set, or
 * CD_ENOENT / a failure. */
int files_store_open(files_ctx *fc, files_reader *r, const char *sha, bool thumb, files_store_cb cb,
                     void *ud);
/* Reads up to len bytes at off into buf: cb(0) with r->nread > 0 bytes, or
 * a failure (also when the bytes end early). */
int files_store_read(files_reader *r, char *buf, size_t len, uint64_t off, files_store_cb cb,
                     void *ud);
void files_store_close(files_reader *r);
/* Unlinks path in the background (temp files). */
void files_unlink_async(uv_loop_t *loop, const char *path);
/* The "files named" check of a removal: cb(1) when a row still names sha,
 * 0 when none does, CD_EUNAVAIL when unknown (keep the bytes). */
typedef void (*files_named_cb)(int named, void *ud);
void files_store_ask_named(files_ctx *fc, const char *sha, files_named_cb cb, void *ud);

/* ---- sign.c ---- */
/* Derives the URL key from the JWT secret (false without one). */
bool files_sign_init(files_ctx *fc);
/* "<uid>.<exp>.<mac>" for file `id` and user `uid` into out (>= 160). */
bool files_sign(const files_ctx *fc, const char *id, const char *uid, int64_t now, char *out,
                size_t cap);
/* Verifies t for file id: 0 and the user into uid_out (37 bytes), CD_EAUTH
 * (bad or expired). */
int files_verify(const files_ctx *fc, const char *id, const char *t, size_t tlen, int64_t now,
                 char *uid_out);

/* ---- upload.c / download.c ---- */
bool files_route_upload(proto_server *srv, http_request *req, const char *cors, void *ud);
bool files_route_download(proto_server *srv, http_request *req, const char *cors, void *ud);
int files_upload_prepare(files_ctx *fc);
int files_download_prepare(files_ctx *fc);

/* ---- thumb.c ---- */
enum { FILES_THUMB_OK = 0, FILES_THUMB_NOT_IMAGE, FILES_THUMB_TOO_LARGE, FILES_THUMB_FAILED };
typedef struct files_thumb_result {
    int status; /* FILES_THUMB_* */
    int width, height;
    bool has_thumb;
    bool thumb_png; /* else JPEG */
} files_thumb_result;
typedef void (*files_thumb_cb)(const files_thumb_result *r, void *ud);
/* Reads the image header of `path` (pixel limit), and writes a thumbnail to
 * `thumb_path`, on a worker thread. CD_ELIMIT when the queue is full. */
int files_thumb_make(files_ctx *fc, const char *path, const char *thumb_path, files_thumb_cb cb,
                     void *ud);

/* ---- common.c ---- */
/* snprintf for paths: false when out (cap bytes) was too small. */
bool files_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* JSON error {"error":{"code","message"}} (+ extra members, JSON text
 * without braces, or NULL) with the CORS headers. */
void files_respond_error(http_request *req, const char *cors, int status, const char *code,
                         const char *extra_json, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
