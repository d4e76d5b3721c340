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

#define FILES_SHA_HEX 64
#define FILES_UUID_LEN 36
/* Extra bytes a multipart body may carry over the file limit (its part
 * headers and boundaries): the Content-Length check allows this much. */
#define FILES_MULTIPART_OVERHEAD (16 * 1024)
/* Downloads read and send this much at a time (one piece in flight). */
#define FILES_READ_CHUNK (64 * 1024)
/* Thumbnails: box (pixels) and workers running at once. */
#define FILES_THUMB_BOX 320
#define FILES_THUMB_WORKERS 2
/* Signed URL expiry is rounded up to a multiple of this (stable URLs). */
#define FILES_URL_ROUND_S 300
/* Sweeper period bound (the period is min(this, grace / 2)). */
#define FILES_SWEEP_MAX_MS 10000u
/* Rows the sweeper removes per round. */
#define FILES_SWEEP_BATCH 500

typedef struct files_ctx {
    proto_server *srv;
    const cd_config *cfg;
    char *dir; /* cfg->files_dir, absolute */
    unsigned char url_key[32];
    bool url_key_set;
    unsigned thumb_running, thumb_waiting;
    uv_timer_t sweep;
    bool sweep_started, sweep_busy;
    pg_pool *prepared; /* the pool our statements were registered on */
} files_ctx;

/* The database with this module's statements registered (the pool opens
 * after the modules bind, so they are registered on first use); NULL when
 * no database is configured or registration failed. */
pg_pool *files_db(files_ctx *fc);

/* ---- store.c ---- */
/* Creates dir, dir/tmp and dir/trash (blocking; start-up only). */
int files_store_init(files_ctx *fc, char *err, size_t errlen);
/* "<dir>/<sha[0:2]>/<sha>" (thumb: + ".thumb") into out (PATH_MAX). */
void files_store_path(const files_ctx *fc, const char *sha, bool thumb, char *out, size_t cap);
/* A fresh temp path "<dir>/tmp/<random>.part". */
void files_store_temp(const files_ctx *fc, char *out, size_t cap);
/* Moves a finished temp file (and its thumbnail temp, when thumb_tmp is
 * not NULL) to the content address of sha (replacing an existing copy:
 * same bytes). cb(status, ud): 0 or CD_EIO. */
typedef void (*files_store_cb)(int status, void *ud);
int files_store_commit(files_ctx *fc, const char *tmp, const char *thumb_tmp, const char *sha,
                       files_store_cb cb, void *ud);
/* Removes the bytes of sha unless a files row still names them (checked
 * after moving them aside, so an upload committing at the same time keeps
 * its copy). Fire and forget. */
void files_store_remove(files_ctx *fc, const char *sha);
/* Unlinks path in the background (temp files). */
void files_unlink_async(uv_loop_t *loop, const char *path);

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

/* ---- common ---- */
/* snprintf for paths: false when out (cap bytes) was too small. */
bool files_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* JSON error {"error":{"code","message"}} (+ extra members, JSON text
 * without braces, or NULL) with the CORS headers. */
void files_respond_error(http_request *req, const char *cors, int status, const char *code,
                         const char *extra_json, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
bool files_uuid_valid(const char *s, size_t len);

#endif
