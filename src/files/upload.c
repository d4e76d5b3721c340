/*
 * upload.c — POST /files (sender role): the body streams from the socket
 * to a temp file in <dir>/tmp (one piece in flight: the next is pulled when
 * the previous is on disk), hashed (SHA-256) and sniffed as it goes; then
 * images are checked and thumbnailed on a worker (thumb.c), the row is
 * inserted (quota checked under a per-user advisory lock) and the file is
 * moved to its content address (store.c). docs/api.md "Files".
 *
 * Steps: identify → headers checks (411/413) → user row (401, quota) →
 * open temp → pieces (multipart parser or raw) → close → type checks →
 * thumbnail → INSERT → commit → 201. Any failure answers a JSON error and
 * removes the temp files; a client that goes away does the same silently.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/text.h"
#include "files/files_internal.h"
#include "store/pg.h"

typedef struct upload {
    files_ctx *fc;
    http_request *req;
    const char *cors;
    proto_caller caller;
    char uid[FILES_UUID_LEN + 1];
    bool multipart;
    files_mp mp;
    unsigned file_parts;
    bool in_file;
    char declared[128];
    char name[FILES_MAX_NAME_BYTES + 1];
    bool has_name;
    files_sniff sniff;
    crypto_hash_sha256_state sha;
    uint64_t size;
    cd_buf out; /* file bytes of the current piece */
    char tmp[PATH_MAX], thumb_tmp[PATH_MAX];
    uv_fs_t fs;
    uv_file fd;
    bool fd_open;
    bool busy;    /* an asynchronous step is in flight */
    bool aborted; /* the client went away */
    bool too_large;
    char sha_hex[FILES_SHA_HEX + 1];
    const char *ctype;
    int width, height;
    bool has_thumb, thumb_png;
    char id[FILES_UUID_LEN + 1];
} upload;

/* ---- the end of an upload ---- */

static void close_free_cb(uv_fs_t *fs)
{
    uv_fs_req_cleanup(fs);
    cd_free(fs);
}

static void drop_temp(upload *up)
{
    uv_loop_t *loop = up->fc->srv->loop;
    if (up->fd_open) {
        uv_fs_t *fs = cd_malloc(sizeof *fs);
        if (fs && uv_fs_close(loop, fs, up->fd, close_free_cb) != 0) cd_free(fs);
        up->fd_open = false;
    }
    if (up->tmp[0]) files_unlink_async(loop, up->tmp);
    if (up->thumb_tmp[0]) files_unlink_async(loop, up->thumb_tmp);
    up->tmp[0] = up->thumb_tmp[0] = 0;
}

static void up_free(upload *up)
{
    cd_buf_free(&up->out);
    cd_free(up);
}

static void up_fail(upload *up, int status, const char *code, const char *extra_json,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void up_fail(upload *up, int status, const char *code, const char *extra_json,
                    const char *fmt, ...)
{
    drop_temp(up);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    files_respond_error(up->req, up->cors, status, code, extra_json, "%s", msg);
    up_free(up);
}

static void on_abort(http_request *req, void *arg)
{
    CD_UNUSED(req);
    upload *up = arg;
    up->aborted = true;
    if (!up->busy) { /* waiting for body bytes: nothing will call us again */
        drop_temp(up);
        http_respond(up->req, 499, NULL, NULL, NULL, 0); /* only frees */
        up_free(up);
    }
}

/* true (and the upload is over) when the client went away meanwhile */
static bool gone(upload *up)
{
    up->busy = false;
    if (!up->aborted) return false;
    drop_temp(up);
    http_respond(up->req, 499, NULL, NULL, NULL, 0);
    up_free(up);
    return true;
}

static void too_large(upload *up)
{
    char extra[64];
    snprintf(extra, sizeof extra, "\"limit\":%zu", up->fc->cfg->max_file_bytes);
    up_fail(up, 413, "FILE_TOO_LARGE", extra, "File too large: at most %zu bytes",
            up->fc->cfg->max_file_bytes);
}

static void ignore_result(const pg_result *r, void *ud)
{
    CD_UNUSED(ud);
    if (r->status != 0) cd_warn("files", "removing a file row: %s", r->message);
}

/* ---- step: committed → 201 ---- */

/* The bytes could not be stored: the row goes, the client gets a 503
 * (SERVICE_BUSY when the store's queue was full). */
static void commit_failed(upload *up, int status)
{
    const char *params[] = {up->id};
    pg_pool_query(files_db(up->fc), "files_delete_row", 1, params, ignore_result, NULL);
    if (gone(up)) return;
    if (status == CD_ELIMIT)
        up_fail(up, 503, "SERVICE_BUSY", NULL, "Storage busy, try again");
    else
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Storage failure, try again");
}

static void committed(int status, void *ud)
{
    upload *up = ud;
    up->tmp[0] = up->thumb_tmp[0] = 0; /* the store took (or removed) them */
    if (status != 0) {
        commit_failed(up, status);
        return;
    }
    if (gone(up)) return;
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_printf(&b, "{\"id\":\"%s\",\"contentType\":", up->id);
    cd_buf_json_str(&b, up->ctype, strlen(up->ctype));
    cd_buf_printf(&b, ",\"size\":%llu,\"sha256\":\"%s\",", (unsigned long long)up->size,
                  up->sha_hex);
    if (up->width > 0)
        cd_buf_printf(&b, "\"width\":%d,\"height\":%d,", up->width, up->height);
    else
        cd_buf_puts(&b, "\"width\":null,\"height\":null,");
    cd_buf_puts(&b, "\"name\":");
    if (up->has_name)
        cd_buf_json_str(&b, up->name, strlen(up->name));
    else
        cd_buf_puts(&b, "null");
    cd_buf_printf(&b, ",\"hasThumbnail\":%s}", up->has_thumb ? "true" : "false");
    proto_respond_buf(up->req, 201, FILES_CT_JSON, up->cors, &b);
    up_free(up);
}

/* ---- step: row inserted → commit the bytes ---- */

static void inserted(const pg_result *r, void *ud)
{
    upload *up = ud;
    if (r->status != 0) {
        cd_error("files", "insert: %s", r->message);
        if (gone(up)) return;
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Database unavailable, try again");
        return;
    }
    if (PQntuples(r->res) != 1) {
        if (gone(up)) return;
        char extra[64];
        snprintf(extra, sizeof extra, "\"limit\":%zu", up->fc->cfg->files_quota_bytes);
        up_fail(up, 413, "QUOTA_EXCEEDED", extra,
                "Upload quota exceeded: your files may take at most %zu bytes",
                up->fc->cfg->files_quota_bytes);
        return;
    }
    files_fmt(up->id, sizeof up->id, "%s", PQgetvalue(r->res, 0, 0));
    /* commit even if the client left: the row exists, its bytes must too
     * (the sweeper removes the never-attached file later) */
    int rc = files_store_commit(up->fc, up->tmp, up->has_thumb ? up->thumb_tmp : NULL, up->sha_hex,
                                committed, up);
    if (rc != 0) commit_failed(up, rc); /* the temp files are still ours: up_fail drops them */
}

static void insert_row(upload *up)
{
    char size[24], w[16], h[16], quota[24];
    snprintf(size, sizeof size, "%llu", (unsigned long long)up->size);
    snprintf(w, sizeof w, "%d", up->width);
    snprintf(h, sizeof h, "%d", up->height);
    snprintf(quota, sizeof quota, "%zu", up->fc->cfg->files_quota_bytes);
    const char *params[] = {up->uid,
                            up->sha_hex,
                            up->ctype,
                            size,
                            up->width > 0 ? w : NULL,
                            up->width > 0 ? h : NULL,
                            up->has_thumb ? "true" : "false",
                            up->has_name ? up->name : NULL,
                            quota,
                            up->thumb_png ? "true" : "false"};
    up->busy = true;
    if (pg_pool_query(files_db(up->fc), "files_insert", 10, params, inserted, up) != 0) {
        up->busy = false;
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Database busy, try again");
    }
}

/* ---- step: image checked ---- */

static void thumbed(const files_thumb_result *r, void *ud)
{
    upload *up = ud;
    if (gone(up)) return;
    switch (r->status) {
    case FILES_THUMB_TOO_LARGE: {
        char extra[64];
        snprintf(extra, sizeof extra, "\"limit\":%u", up->fc->cfg->files_max_pixels);
        up_fail(up, 422, "IMAGE_TOO_LARGE", extra,
                "Image too large: %d x %d pixels, at most %u pixels", r->width, r->height,
                up->fc->cfg->files_max_pixels);
        return;
    }
    case FILES_THUMB_OK:
        break;
    default:
        up_fail(up, 415, "UNSUPPORTED_MEDIA_TYPE", NULL, "The file is not a readable %s image",
                up->ctype);
        return;
    }
    up->width = r->width;
    up->height = r->height;
    up->has_thumb = r->has_thumb;
    up->thumb_png = r->thumb_png;
    if (!up->has_thumb) up->thumb_tmp[0] = 0;
    insert_row(up);
}

/* ---- step: the body is on disk ---- */

static void closed(uv_fs_t *fs)
{
    upload *up = fs->data;
    ssize_t rc = fs->result;
    uv_fs_req_cleanup(fs);
    up->fd_open = false;
    if (gone(up)) return;
    if (rc < 0) {
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Storage failure, try again");
        return;
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&up->sha, digest);
    sodium_bin2hex(up->sha_hex, sizeof up->sha_hex, digest, sizeof digest);
    up->ctype = files_sniff_type(&up->sniff);
    bool image = files_type_is_image(up->ctype);
    if (files_declared_image(up->declared) && !image) {
        up_fail(up, 415, "UNSUPPORTED_MEDIA_TYPE", NULL,
                "Declared %s but the bytes are not a PNG, JPEG, GIF or WebP image", up->declared);
        return;
    }
    if (!image) {
        insert_row(up);
        return;
    }
    files_fmt(up->thumb_tmp, sizeof up->thumb_tmp, "%s.thumb", up->tmp);
    up->busy = true;
    int r = files_thumb_make(up->fc, up->tmp, up->thumb_tmp, thumbed, up);
    if (r != 0) {
        up->busy = false;
        up->thumb_tmp[0] = 0;
        up_fail(up, 503, "SERVICE_BUSY", NULL, "Server busy making thumbnails, try again");
    }
}

static void body_done(upload *up)
{
    if (up->multipart) {
        if (files_mp_finish(&up->mp) != 0) {
            up_fail(up, 400, "BAD_REQUEST", NULL, "%s", up->mp.err);
            return;
        }
        if (up->file_parts == 0) {
            up_fail(up, 400, "BAD_REQUEST", NULL,
                    "No file part (a part with a filename) in the multipart body");
            return;
        }
    }
    up->busy = true;
    up->fs.data = up;
    if (uv_fs_close(up->fc->srv->loop, &up->fs, up->fd, closed) != 0) {
        up->busy = false;
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Storage failure, try again");
    }
}

/* ---- pieces of the body ---- */

static int file_bytes(upload *up, const char *d, size_t n)
{
    up->size += n;
    if (up->size > up->fc->cfg->max_file_bytes) {
        up->too_large = true;
        return CD_ELIMIT;
    }
    files_sniff_feed(&up->sniff, d, n);
    crypto_hash_sha256_update(&up->sha, (const unsigned char *)d, n);
    cd_buf_append(&up->out, d, n);
    return cd_buf_failed(&up->out) ? CD_ENOMEM : 0;
}

static int mp_part(void *ud, const files_mp_part *p)
{
    upload *up = ud;
    up->in_file = p->has_filename;
    if (!p->has_filename) return 0;
    if (++up->file_parts > 1) {
        up->mp.err = "Only one file per upload (a second part with a filename)";
        return CD_EBAD;
    }
    files_fmt(up->declared, sizeof up->declared, "%s", p->content_type);
    if (p->filename[0]) {
        files_fmt(up->name, sizeof up->name, "%s", p->filename);
        up->has_name = true;
    }
    return 0;
}

static int mp_data(void *ud, const char *d, size_t n)
{
    upload *up = ud;
    return up->in_file ? file_bytes(up, d, n) : 0;
}

static int mp_end(void *ud)
{
    ((upload *)ud)->in_file = false;
    return 0;
}

static void written(uv_fs_t *fs)
{
    upload *up = fs->data;
    ssize_t rc = fs->result;
    uv_fs_req_cleanup(fs);
    if (gone(up)) return;
    if (rc < 0 || (size_t)rc != up->out.len) {
        cd_error("files", "write %s: %s", up->tmp, rc < 0 ? uv_strerror((int)rc) : "short write");
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Storage failure (disk full?), try again");
        return;
    }
    cd_buf_reset(&up->out);
    http_req_body_next(up->req);
}

static void on_body(http_request *req, void *arg, const char *data, size_t len, int status)
{
    CD_UNUSED(req);
    upload *up = arg;
    if (status == 408) {
        up_fail(up, 408, "REQUEST_TIMEOUT", NULL, "The upload stalled");
        return;
    }
    if (status) {
        up_fail(up, status == 503 ? 503 : 400,
                status == 503 ? "SERVICE_UNAVAILABLE" : "BAD_REQUEST", NULL,
                "Malformed request body");
        return;
    }
    if (len == 0) {
        body_done(up);
        return;
    }
    int rc = up->multipart ? files_mp_feed(&up->mp, data, len) : file_bytes(up, data, len);
    if (up->too_large) {
        too_large(up);
        return;
    }
    if (rc != 0) {
        up_fail(up, 400, "BAD_REQUEST", NULL, "%s",
                up->mp.err ? up->mp.err : "Malformed multipart body");
        return;
    }
    if (up->out.len == 0) {
        http_req_body_next(up->req);
        return;
    }
    up->busy = true;
    up->fs.data = up;
    uv_buf_t b = uv_buf_init(up->out.data, (unsigned)up->out.len);
    if (uv_fs_write(up->fc->srv->loop, &up->fs, up->fd, &b, 1, -1, written) != 0) {
        up->busy = false;
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Storage failure, try again");
    }
}

/* ---- step: temp file open → pull the body ---- */

static void opened(uv_fs_t *fs)
{
    upload *up = fs->data;
    ssize_t rc = fs->result;
    uv_fs_req_cleanup(fs);
    if (rc >= 0) {
        up->fd = (uv_file)rc;
        up->fd_open = true;
    } else {
        up->tmp[0] = 0;
    }
    if (gone(up)) return;
    if (rc < 0) {
        cd_error("files", "create temp file: %s", uv_strerror((int)rc));
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Storage failure, try again");
        return;
    }
    http_req_body_start(up->req, on_body, up);
}

/* ---- step: the user row (active, token version, quota) ---- */

static void user_checked(const pg_result *r, void *ud)
{
    upload *up = ud;
    if (gone(up)) return;
    if (r->status != 0) {
        cd_warn("files", "user check: %s", r->message);
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Database unavailable, try again");
        return;
    }
    if (PQntuples(r->res) != 1) {
        up_fail(up, 401, "UNAUTHENTICATED", NULL, "Unknown or removed account");
        return;
    }
    long long ver = strtoll(PQgetvalue(r->res, 0, 0), NULL, 10);
    if (!up->caller.trust && up->caller.token_ver < ver) {
        up_fail(up, 401, "UNAUTHENTICATED", NULL, "Session revoked, sign in again");
        return;
    }
    unsigned long long used = strtoull(PQgetvalue(r->res, 0, 1), NULL, 10);
    size_t quota = up->fc->cfg->files_quota_bytes;
    int64_t cl = http_req_content_length(up->req);
    uint64_t incoming = !up->multipart && cl > 0 ? (uint64_t)cl : 0;
    if (quota && used + incoming > quota) {
        char extra[96];
        snprintf(extra, sizeof extra, "\"limit\":%zu,\"used\":%llu", quota, used);
        up_fail(up, 413, "QUOTA_EXCEEDED", extra,
                "Upload quota exceeded: your files may take at most %zu bytes (%llu used)", quota,
                used);
        return;
    }
    files_store_temp(up->fc, up->tmp, sizeof up->tmp);
    up->busy = true;
    up->fs.data = up;
    if (uv_fs_open(up->fc->srv->loop, &up->fs, up->tmp, O_WRONLY | O_CREAT | O_EXCL, 0640,
                   opened) != 0) {
        up->busy = false;
        up->tmp[0] = 0;
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Storage failure, try again");
    }
}

/* ---- the route ---- */

static bool identify(upload *up, http_request *req)
{
    proto_server *srv = up->fc->srv;
    proto_caller_from_request(&up->caller, req->arena, srv, req);
    if (!up->caller.trust) {
        const char *h = http_req_header(req, "authorization");
        const char *tok;
        size_t tl;
        const char *why = "";
        if (!h || auth_bearer(h, strlen(h), &tok, &tl) != 0 ||
            proto_caller_verify(&up->caller, req->arena, tok, tl, &why) != 0)
            return false;
    }
    const char *u = up->caller.user_id;
    if (!cd_uuid_valid(u, strlen(u))) return false;
    memcpy(up->uid, u, FILES_UUID_LEN + 1);
    proto_req_set_caller(req, &up->caller);
    return true;
}

static bool has_chunked(http_request *req)
{
    const char *te = http_req_header(req, "transfer-encoding");
    return te && strstr(te, "chunked");
}

bool files_route_upload(proto_server *srv, http_request *req, const char *cors, void *ud)
{
    files_ctx *fc = ud;
    CD_UNUSED(srv);
    if (req->is_websocket) return false;
    if (strcmp(req->method, "POST") != 0) {
        files_respond_error(req, cors, 405, "METHOD_NOT_ALLOWED", NULL,
                            "Use POST to upload a file");
        return true;
    }
    upload *up = cd_calloc(1, sizeof *up);
    if (!up) {
        files_respond_error(req, cors, 503, "SERVICE_UNAVAILABLE", NULL, "Out of memory");
        return true;
    }
    up->fc = fc;
    up->req = req;
    up->cors = cors;
    cd_buf_init(&up->out);
    files_sniff_init(&up->sniff);
    crypto_hash_sha256_init(&up->sha);
    if (!identify(up, req)) {
        files_respond_error(req, cors, 401, "UNAUTHENTICATED", NULL,
                            up->caller.trust ? "Authentication required: send the user-id header"
                                             : "Authentication required: a valid bearer token");
        up_free(up);
        return true;
    }
    if (!files_db(fc)) {
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "No database configured");
        return true;
    }
    const char *ct = http_req_header(req, "content-type");
    up->multipart = files_is_multipart(ct);
    int64_t cl = http_req_content_length(req);
    if (cl < 0 && !has_chunked(req)) {
        up_fail(up, 411, "LENGTH_REQUIRED", NULL,
                "Send Content-Length (or a chunked body) with the file");
        return true;
    }
    uint64_t allowed = fc->cfg->max_file_bytes + (up->multipart ? FILES_MULTIPART_OVERHEAD : 0);
    if (cl > 0 && (uint64_t)cl > allowed) {
        too_large(up);
        return true;
    }
    if (up->multipart) {
        static const files_mp_callbacks cb = {mp_part, mp_data, mp_end};
        if (files_mp_init(&up->mp, ct, &cb, up) != 0) {
            up_fail(up, 400, "BAD_REQUEST", NULL, "%s", up->mp.err);
            return true;
        }
    } else {
        if (ct) files_fmt(up->declared, sizeof up->declared, "%s", ct);
        const char *name;
        size_t nl;
        int r = http_req_query_param(req, "name", &name, &nl);
        if (r == 0) {
            bool ok = nl > 0 && nl <= FILES_MAX_NAME_BYTES && strlen(name) == nl;
            for (size_t i = 0; ok && i < nl; i++)
                ok = (unsigned char)name[i] >= 0x20 && name[i] != 0x7f && name[i] != '/' &&
                     name[i] != '\\';
            if (!ok) {
                up_fail(up, 400, "BAD_REQUEST", NULL,
                        "name must be 1-255 bytes without control characters or slashes");
                return true;
            }
            memcpy(up->name, name, nl + 1);
            up->has_name = true;
        } else if (r != CD_ENOENT) {
            up_fail(up, 400, "BAD_REQUEST", NULL, "Malformed name parameter");
            return true;
        }
    }
    http_req_on_abort(req, on_abort, up);
    const char *params[] = {up->uid};
    up->busy = true;
    if (pg_pool_query(files_db(fc), "files_user", 1, params, user_checked, up) != 0) {
        up->busy = false;
        up_fail(up, 503, "SERVICE_UNAVAILABLE", NULL, "Database busy, try again");
    }
    return true;
}

static const struct {
    const char *name, *sql;
    int n;
} upload_stmts[] = {
    {"files_user",
     "SELECT u.token_version, (SELECT coalesce(sum(f.size), 0) FROM files f"
     " WHERE f.owner_id = u.id) FROM users u WHERE u.id = $1::uuid AND u.is_active",
     1},
    {"files_insert",
     "WITH lk AS (SELECT pg_advisory_xact_lock(hashtext('chatd.files.' || $1))),"
     " used AS (SELECT coalesce(sum(f.size), 0) AS n FROM lk LEFT JOIN files f"
     "  ON f.owner_id = $1::uuid)"
     " INSERT INTO files (owner_id, sha256, content_type, size, width, height, has_thumb, name,"
     "  thumb_png)"
     " SELECT $1::uuid, $2, $3, $4::bigint, $5::int, $6::int, $7::bool, $8, $10::bool FROM used"
     " WHERE $9::bigint = 0 OR used.n + $4::bigint <= $9::bigint RETURNING id::text",
     10},
    {"files_delete_row", "DELETE FROM files WHERE id = $1::uuid", 1},
    {"files_named", "SELECT EXISTS (SELECT 1 FROM files WHERE sha256 = $1)", 1},
};

int files_upload_prepare(files_ctx *fc)
{
    for (unsigned i = 0; i < CD_ARRAY_LEN(upload_stmts); i++) {
        int rc = pg_pool_prepare(fc->srv->pg, upload_stmts[i].name, upload_stmts[i].sql,
                                 upload_stmts[i].n);
        if (rc != 0) return rc;
    }
    return 0;
}
