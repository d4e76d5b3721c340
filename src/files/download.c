/*
 * download.c — GET/HEAD /files/:id and /files/:id/thumb (receiver role).
 *
 * Steps: caller (Authorization / trust header, or the signed ?t=) → one
 * statement: the file, its message and whether the caller may see it (the
 * history rule of messages: chatd_visible_from) and the caller's account →
 * open the stored bytes (files_store_open: the directory's open + fstat, or
 * the bucket's HEAD) → 200/206/304/416 → the bytes in pieces of the store's
 * read_chunk, one read and one write in flight at a time (the next read
 * starts when the socket took the previous piece: a slow client holds one
 * piece of memory, and with a bucket no worker thread).
 * docs/api.md "Files" has the statuses.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/auth.h"
#include "core/log.h"
#include "core/text.h"
#include "files/files_internal.h"
#include "store/pg.h"

typedef struct download {
    files_ctx *fc;
    http_request *req;
    const char *cors;
    proto_caller caller;
    bool thumb;
    bool busy, aborted;
    char id[FILES_UUID_LEN + 1];
    char uid[FILES_UUID_LEN + 1];
    char sha[FILES_SHA_HEX + 1];
    char ctype[128];
    char *name;
    files_reader rd;
    uint64_t size, off, left; /* file size; range start and bytes left */
    bool partial;
    char *chunk;
} download;

static void dl_free(download *d)
{
    files_store_close(&d->rd);
    cd_free(d->name);
    cd_free(d->chunk);
    cd_free(d);
}

static void on_abort(http_request *req, void *arg)
{
    CD_UNUSED(req);
    download *d = arg;
    d->aborted = true;
}

static bool gone(download *d)
{
    d->busy = false;
    if (!d->aborted && !http_req_aborted(d->req)) return false;
    http_respond(d->req, 499, NULL, NULL, NULL, 0); /* only frees */
    dl_free(d);
    return true;
}

static void fail(download *d, int status, const char *code, const char *msg)
{
    files_respond_error(d->req, d->cors, status, code, NULL, "%s", msg);
    dl_free(d);
}

/* ---- streaming the bytes ---- */

static void read_next(download *d);

static void chunk_written(http_request *req, void *arg, int status)
{
    CD_UNUSED(req);
    download *d = arg;
    if (status != 0) {
        http_respond_end(d->req);
        d->req = NULL;
        dl_free(d);
        return;
    }
    read_next(d);
}

static void read_done(int status, void *ud)
{
    download *d = ud;
    ssize_t n = status == 0 ? d->rd.nread : -1;
    if (d->aborted || http_req_aborted(d->req) || n <= 0) {
        if (n <= 0 && !d->aborted) cd_error("files", "read %s: %s", d->sha, cd_strerror(status));
        http_respond_end(d->req); /* closes the connection: the length cannot be met */
        dl_free(d);
        return;
    }
    d->off += (uint64_t)n;
    d->left -= (uint64_t)n;
    char *piece = d->chunk;
    d->chunk = NULL;
    int rc = http_respond_chunk(d->req, piece, (size_t)n, chunk_written, d);
    if (rc == 1) { /* the last piece: the request is complete */
        dl_free(d);
        return;
    }
    if (rc != 0) {
        http_respond_end(d->req);
        dl_free(d);
    }
}

static void read_next(download *d)
{
    size_t piece = d->fc->store->read_chunk;
    size_t want = d->left < piece ? (size_t)d->left : piece;
    d->chunk = cd_malloc(want);
    if (!d->chunk || files_store_read(&d->rd, d->chunk, want, d->off, read_done, d) != 0) {
        http_respond_end(d->req);
        dl_free(d);
    }
}

/* ---- headers: ranges, validators ---- */

/* One "bytes=" range: 1 ok (*off, *len), 0 ignore (serve whole), -1 416. */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!h) return 0;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "bytes=", 6) != 0) return 0;
    h += 6;
    if (strchr(h, ',')) return 0; /* multiple ranges: whole file */
    char *end;
    if (*h == '-') {
        if (h[1] < '0' || h[1] > '9') return 0;
        unsigned long long n = strtoull(h + 1, &end, 10);
        if (*end) return 0;
        if (n == 0 || size == 0) return -1;
        if (n > size) n = size;
        *off = size - n;
        *len = n;
        return 1;
    }
    if (*h < '0' || *h > '9') return 0;
    unsigned long long a = strtoull(h, &end, 10);
    if (*end != '-') return 0;
    h = end + 1;
    unsigned long long b = size ? size - 1 : 0;
    if (*h) {
        if (*h < '0' || *h > '9') return 0;
        b = strtoull(h, &end, 10);
        if (*end || b < a) return 0;
        if (b >= size) b = size - 1;
    }
    if (a >= size) return -1;
    *off = a;
    *len = b - a + 1;
    return 1;
}

static void append_disposition(cd_buf *b, const download *d)
{
    bool inline_ok =
        !d->thumb && (strncmp(d->ctype, "image/", 6) == 0 || strcmp(d->ctype, FILES_CT_PDF) == 0 ||
                      strncmp(d->ctype, "text/plain", 10) == 0);
    cd_buf_puts(b, "Content-Disposition: ");
    cd_buf_puts(b, d->thumb || inline_ok ? "inline" : "attachment");
    if (d->name && !d->thumb) {
        cd_buf_puts(b, "; filename*=UTF-8''");
        for (const unsigned char *s = (const unsigned char *)d->name; *s; s++) {
            if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                strchr("!#$&+-.^_`|~", *s))
                cd_buf_putc(b, (char)*s);
            else
                cd_buf_printf(b, "%%%02X", *s);
        }
    }
    cd_buf_puts(b, "\r\n");
}

static void opened(int st, void *ud)
{
    download *d = ud;
    if (st == 0) d->size = d->rd.size;
    if (gone(d)) return;
    if (st == CD_ENOENT) {
        fail(d, 404, "NOT_FOUND", "File not found");
        return;
    }
    if (st == CD_ELIMIT) {
        fail(d, 503, "SERVICE_BUSY", "Storage busy, try again");
        return;
    }
    if (st != 0) {
        fail(d, 503, "SERVICE_UNAVAILABLE", "Storage failure, try again");
        return;
    }
    http_request *req = d->req;
    char etag[FILES_SHA_HEX + 8];
    snprintf(etag, sizeof etag, "\"%s%s\"", d->sha, d->thumb ? "-t" : "");
    cd_buf h;
    cd_buf_init(&h);
    if (d->cors) cd_buf_puts(&h, d->cors);
    cd_buf_printf(&h,
                  "ETag: %s\r\nCache-Control: private, max-age=3600\r\nAccept-Ranges: bytes\r\n"
                  "X-Content-Type-Options: nosniff\r\n",
                  etag);
    append_disposition(&h, d);
    const char *inm = http_req_header(req, "if-none-match");
    if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
        cd_buf_putc(&h, 0);
        proto_respond(req, 304, NULL, h.data, NULL, 0);
        cd_buf_free(&h);
        dl_free(d);
        return;
    }
    uint64_t off = 0, len = d->size;
    const char *range = http_req_header(req, "range");
    const char *ifr = http_req_header(req, "if-range");
    int pr = (ifr && strcmp(ifr, etag) != 0) ? 0 : parse_range(range, d->size, &off, &len);
    if (pr < 0) {
        cd_buf_printf(&h, "Content-Range: bytes */%" PRIu64 "\r\n", d->size);
        cd_buf_putc(&h, 0);
        char *extra = cd_arena_strdup(req->arena, h.data);
        cd_buf_free(&h);
        files_respond_error(req, extra, 416, "RANGE_NOT_SATISFIABLE", NULL,
                            "Range not satisfiable: the file has %" PRIu64 " bytes", d->size);
        dl_free(d);
        return;
    }
    int status = 200;
    if (pr > 0) {
        status = 206;
        cd_buf_printf(&h, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n", off,
                      off + len - 1, d->size);
    }
    cd_buf_putc(&h, 0);
    if (cd_buf_failed(&h)) {
        cd_buf_free(&h);
        fail(d, 503, "SERVICE_UNAVAILABLE", "Out of memory");
        return;
    }
    d->off = off;
    d->left = len;
    cd_info("files", "GET %s%s %d bytes=%" PRIu64 " user=%s", d->id, d->thumb ? "/thumb" : "",
            status, len, d->uid);
    int rc = http_respond_start(req, status, d->ctype, h.data, len);
    cd_buf_free(&h);
    if (rc != 0) { /* complete (HEAD / empty) or failed: req is gone, except
                    * after CD_EIO, which still ends it */
        if (rc == CD_EIO) http_respond_end(req);
        dl_free(d);
        return;
    }
    read_next(d);
}

/* ---- the access check ---- */

static void checked(const pg_result *r, void *ud)
{
    download *d = ud;
    if (gone(d)) return;
    if (r->status != 0) {
        cd_warn("files", "access check: %s", r->message);
        fail(d, 503, "SERVICE_UNAVAILABLE", "Database unavailable, try again");
        return;
    }
    if (PQntuples(r->res) != 1) {
        fail(d, 404, "NOT_FOUND", "File not found");
        return;
    }
    PGresult *res = r->res;
    /* 0 sha, 1 type, 2 has_thumb, 3 name, 4 allowed, 5 removed, 6 caller's version */
    if (PQgetisnull(res, 0, 6)) {
        fail(d, 401, "UNAUTHENTICATED", "Unknown or removed account");
        return;
    }
    long long ver = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    if (!d->caller.trust && d->caller.authenticated && d->caller.token_ver < ver) {
        fail(d, 401, "UNAUTHENTICATED", "Session revoked, sign in again");
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 5), "t") == 0) {
        fail(d, 404, "NOT_FOUND", "File not found (its message was removed)");
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 4), "t") != 0) {
        fail(d, 403, "FORBIDDEN", "Forbidden: you may not see this file");
        return;
    }
    if (d->thumb && strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        fail(d, 404, "NOT_FOUND", "This file has no thumbnail");
        return;
    }
    files_fmt(d->sha, sizeof d->sha, "%s", PQgetvalue(res, 0, 0));
    if (d->thumb) {
        files_fmt(d->ctype, sizeof d->ctype, "%s",
                  strcmp(PQgetvalue(res, 0, 7), "t") == 0 ? "image/png" : "image/jpeg");
    } else {
        files_fmt(d->ctype, sizeof d->ctype, "%s", PQgetvalue(res, 0, 1));
    }
    if (!PQgetisnull(res, 0, 3)) {
        const char *n = PQgetvalue(res, 0, 3);
        size_t l = strlen(n);
        d->name = cd_malloc(l + 1);
        if (d->name) memcpy(d->name, n, l + 1);
    }
    d->busy = true;
    int rc = files_store_open(d->fc, &d->rd, d->sha, d->thumb, opened, d);
    if (rc != 0) {
        d->busy = false;
        fail(d, 503, rc == CD_ELIMIT ? "SERVICE_BUSY" : "SERVICE_UNAVAILABLE",
             rc == CD_ELIMIT ? "Storage busy, try again" : "Storage failure, try again");
    }
}

/* ---- the route ---- */

/* The caller: bearer token / trust header, else the signed ?t=. */
static int identify(download *d, http_request *req)
{
    proto_server *srv = d->fc->srv;
    proto_caller_from_request(&d->caller, req->arena, srv, req);
    const char *t;
    size_t tl;
    if (http_req_query_param(req, "t", &t, &tl) == 0) {
        if (files_verify(d->fc, d->id, t, tl, (int64_t)time(NULL), d->uid) != 0) return -1;
        d->caller.trust = true; /* the URL token stands for the user: no JWT version */
        return 0;
    }
    if (!d->caller.trust) {
        const char *h = http_req_header(req, "authorization");
        const char *tok;
        const char *why = "";
        if (!h) return -1;
        if (auth_bearer(h, strlen(h), &tok, &tl) != 0 ||
            proto_caller_verify(&d->caller, req->arena, tok, tl, &why) != 0)
            return -1;
    }
    const char *u = d->caller.user_id;
    if (!cd_uuid_valid(u, strlen(u))) return -1;
    memcpy(d->uid, u, FILES_UUID_LEN + 1);
    return 0;
}

bool files_route_download(proto_server *srv, http_request *req, const char *cors, void *ud)
{
    files_ctx *fc = ud;
    CD_UNUSED(srv);
    if (req->is_websocket) return false;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (!get) {
        files_respond_error(req, cors, 405, "METHOD_NOT_ALLOWED", NULL,
                            "Use GET to download a file");
        return true;
    }
    const char *rest = req->path + strlen("/files/");
    size_t n = strcspn(rest, "/");
    bool thumb = false;
    if (rest[n] == '/') {
        if (strcmp(rest + n, "/thumb") != 0) {
            files_respond_error(req, cors, 404, "NOT_FOUND", NULL, "Not found");
            return true;
        }
        thumb = true;
    }
    if (!cd_uuid_valid(rest, n)) {
        files_respond_error(req, cors, 404, "NOT_FOUND", NULL, "File not found");
        return true;
    }
    download *d = cd_calloc(1, sizeof *d);
    if (!d) {
        files_respond_error(req, cors, 503, "SERVICE_UNAVAILABLE", NULL, "Out of memory");
        return true;
    }
    d->fc = fc;
    d->req = req;
    d->cors = cors;
    d->thumb = thumb;
    memcpy(d->id, rest, FILES_UUID_LEN);
    for (char *p = d->id; *p; p++)
        if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
    if (identify(d, req) != 0) {
        fail(d, 401, "UNAUTHENTICATED",
             "Authentication required: a bearer token or a valid, unexpired ?t= URL");
        return true;
    }
    proto_req_set_caller(req, &d->caller);
    if (!files_db(fc)) {
        fail(d, 503, "SERVICE_UNAVAILABLE", "No database configured");
        return true;
    }
    http_req_on_abort(req, on_abort, d);
    const char *params[] = {d->id, d->uid};
    d->busy = true;
    if (pg_pool_query(files_db(fc), "files_access", 2, params, checked, d) != 0) {
        d->busy = false;
        fail(d, 503, "SERVICE_UNAVAILABLE", "Database busy, try again");
    }
    return true;
}

int files_download_prepare(files_ctx *fc)
{
    /* allowed: unattached → the owner; attached → a member who may see the
     * message now (history rule); removed message → 404 */
    return pg_pool_prepare(
        fc->srv->pg, "files_access",
        "SELECT f.sha256, f.content_type, f.has_thumb, f.name,"
        " coalesce(CASE WHEN f.message_id IS NULL THEN f.owner_id = $2::uuid"
        "  ELSE m.seq >= chatd_visible_from(m.chat_id, $2::uuid) END, false),"
        " f.gone OR coalesce(m.deleted_at IS NOT NULL, false),"
        " (SELECT u.token_version FROM users u WHERE u.id = $2::uuid AND u.is_active),"
        " f.thumb_png"
        " FROM files f LEFT JOIN messages m ON m.id = f.message_id WHERE f.id = $1::uuid",
        2);
}
