/*
 * http.h — HTTP/1.1 server on a libuv loop (llhttp parser), the public
 * contract of src/net for the protocol layer.
 *
 * Model: one http_server per listening socket. Each accepted connection parses
 * requests with llhttp; a complete request (headers + whole body) is handed
 * to the server's handler. Requests on one connection are handled strictly
 * one at a time and in order (pipelined bytes wait while a response is
 * pending: reading stops). The handler may respond at once or later from the
 * loop; every request handed to the handler must be completed EXACTLY ONCE by
 * http_respond()/http_respond_buf() or ws_accept() (ws.h) — also after an
 * abort, in which case the call only frees the request.
 *
 * Ownership: the http_request and everything it points to (method, path,
 * query, headers, body, arena) belong to the server and stay valid until the
 * handler completes the request; then they are freed. Copy what must outlive
 * the request. Response bodies passed to http_respond() are copied;
 * http_respond_buf() takes ownership of a cd_malloc'd buffer instead.
 *
 * Limits (named constants below) are answered with 4xx and the connection is
 * closed: header bytes → 431, body → 413, URL → 414, malformed → 400,
 * header timeout → 408. Idle keep-alive connections are closed silently.
 *
 * Memory: connections hold no read buffer while idle (reads go to a shared
 * per-server scratch buffer; only a pipelined remainder is copied to a small
 * per-connection heap buffer). All handles are freed in close callbacks.
 */
#ifndef CHATD_NET_HTTP_H
#define CHATD_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/arena.h"

/* ---- limits (each has a test at its edge) ---- */
/* Request line + all header names and values, in bytes. Over → 431. */
#define HTTP_MAX_HEADER_BYTES (16 * 1024)
/* Number of header fields in one request. Over → 431. */
#define HTTP_MAX_HEADERS 100
/* Request target (path + query) length. Over → 414. */
#define HTTP_MAX_URL_BYTES (8 * 1024)
/* Request body (Content-Length or sum of chunks). Over → 413. */
#define HTTP_MAX_BODY_BYTES (1024 * 1024)
/* From connection accept / first byte of a request until its headers are
 * complete (slow-loris guard). Over → 408 and close. */
#define HTTP_HEADER_TIMEOUT_MS 10000
/* From headers complete until the whole body is received. Over → 408. */
#define HTTP_BODY_TIMEOUT_MS 30000
/* A response the client does not read within this is abandoned (close). */
#define HTTP_WRITE_TIMEOUT_MS 30000
/* A keep-alive connection with no request in progress is closed after this. */
#define HTTP_KEEPALIVE_TIMEOUT_MS 30000
/* After an error response we read and discard (lingering close) this long
 * before closing, so the client sees the response instead of a reset. */
#define HTTP_LINGER_MS 2000
/* The timeouts above are deadlines in one per-server heap (core/deadline.h)
 * with one timer armed at the earliest: no periodic walk of connections. */
/* After a burst of at least HTTP_TRIM_MIN_CHURN connections opened or
 * closed, free heap pages go back to the kernel (glibc malloc_trim) every
 * HTTP_TRIM_INTERVAL_MS while it lasts and once more after it: the memory
 * of handshakes and subscribe work between the connections' own blocks
 * would otherwise stay in RSS. */
#define HTTP_TRIM_MIN_CHURN 64
#define HTTP_TRIM_INTERVAL_MS 1000
/* Size of the per-server scratch buffer every read lands in. */
#define HTTP_SCRATCH_BYTES (64 * 1024)

typedef struct http_server http_server;
typedef struct http_request http_request;

/* One header field as received (name keeps its case); both NUL-terminated. */
typedef struct http_header {
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;
} http_header;

/* The request a handler sees. All fields are read-only, except `user`. */
struct http_request {
    const char *method; /* "GET", "POST", "OPTIONS", ... */
    const char *path;   /* raw path as sent, not percent-decoded, no query */
    const char *query;  /* raw query string after '?', "" if none */
    const http_header *headers;
    size_t nheaders;
    const char *body; /* complete body, NUL-terminated; "" if none */
    size_t body_len;
    const char *client_ip; /* peer address text ("127.0.0.1", "::1") */
    int http_minor;        /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
    bool is_websocket;     /* GET with Upgrade: websocket, Connection: upgrade,
                            * Sec-WebSocket-Key and -Version: 13 (see ws.h) */
    cd_arena *arena;       /* per-request arena, freed with the request */
    http_server *server;   /* the server that accepted it */
    void *user;            /* free for the handler */
};

/* Called once per complete request. The handler must later (or now) call
 * http_respond*() or ws_accept() exactly once for it. */
typedef void (*http_handler_fn)(http_request *req, void *user);
/* Called when the client disconnected (or the server force-closed it)
 * before the response was written. The request stays valid; the handler
 * must still complete it with http_respond*(), which then only frees it. */
typedef void (*http_abort_fn)(http_request *req, void *arg);
/* Called by http_server_drain() when the server has no connections and no
 * listener left. The server is freed right after this returns. */
typedef void (*http_drain_fn)(http_server *srv, void *arg);

typedef struct http_server_opts {
    const char *host; /* "0.0.0.0", "::", "127.0.0.1", ...; NULL = "0.0.0.0" */
    int port;         /* 0 = ephemeral (see http_server_port) */
    bool reuseport;   /* set SO_REUSEPORT before bind */
    int backlog;      /* listen backlog; 0 = 511 */
    http_handler_fn on_request;
    void *user; /* passed to on_request */
    /* Timeouts in ms; 0 = the HTTP_* default above (tests shorten them). */
    unsigned header_timeout_ms;
    unsigned body_timeout_ms;
    unsigned keepalive_timeout_ms;
    unsigned write_timeout_ms;
    unsigned ws_close_timeout_ms; /* 0 = WS_CLOSE_TIMEOUT_MS (ws.h) */
} http_server_opts;

/* Binds and listens. On success *out is the server and 0 is returned. On
 * failure returns CD_EEXIST when the address is in use, CD_EBAD for a bad
 * host, CD_EIO otherwise, and writes a one-line message (e.g. "listen
 * 0.0.0.0:4000: address already in use") to err (may be NULL). After a
 * bind/listen failure the listener's close is still pending: run the loop
 * (uv_run) before uv_loop_close so its memory is released. */
int http_server_start(uv_loop_t *loop, const http_server_opts *opts, http_server **out, char *err,
                      size_t errlen);

/* The bound port (useful with port 0). */
int http_server_port(const http_server *srv);

/* The loop the server runs on. */
uv_loop_t *http_server_loop(const http_server *srv);

/* Number of open connections (HTTP + WebSocket). */
size_t http_server_conn_count(const http_server *srv);
/* Number of open connections (HTTP + WebSocket, this one included) from
 * the peer address of req (req->client_ip). */
size_t http_req_addr_conns(const http_request *req);

/* Graceful shutdown: stops accepting, closes idle HTTP connections, lets
 * requests already handed to the handler finish (their responses carry
 * Connection: close), closes every WebSocket with 1001 (going away) and
 * waits for the close handshakes. When all connections and the listener are
 * gone, calls done(srv, arg) and frees the server. timeout_ms > 0: whatever
 * is still open after that long is closed abruptly (pending requests get
 * their abort callback). Calling it twice is a no-op (returns CD_ESTATE). */
int http_server_drain(http_server *srv, unsigned timeout_ms, http_drain_fn done, void *arg);

/* ---- request helpers ---- */

/* First header with this name (case-insensitive), or NULL. */
const char *http_req_header(const http_request *req, const char *name);

/* Looks up query parameter `name` in req->query and URL-decodes it ('+' is a
 * space, %XX escapes) into req->arena. Returns 0 and *out, CD_ENOENT when
 * absent, CD_EBAD for a malformed escape, CD_ENOMEM. A key without '=' has
 * the value "". */
int http_req_query_param(const http_request *req, const char *name, const char **out,
                         size_t *out_len);

/* Percent-decodes (and, if plus_is_space, turns '+' into ' ') src into the
 * arena. Returns the NUL-terminated result or NULL (bad escape / no memory). */
char *http_url_decode(cd_arena *a, const char *src, size_t len, bool plus_is_space,
                      size_t *out_len);

/* The response to req will carry Connection: close and the connection is
 * closed after it (a refusal that should free the connection's slot). */
void http_req_close_after(http_request *req);

/* Registers a callback for a client disconnect before the response. */
void http_req_on_abort(http_request *req, http_abort_fn fn, void *arg);

/* True when the client is gone (the abort callback has run or would have). */
bool http_req_aborted(const http_request *req);

/* ---- responses ---- */

/* Writes the response and completes the request. status: 100..599 except
 * 101 (use ws_accept). content_type may be NULL (no Content-Type header).
 * extra_headers: NULL or complete header lines, each ending in "\r\n" (e.g.
 * "Access-Control-Allow-Origin: *\r\n"); must not contain Content-Length,
 * Connection or Date. body is copied. Adds Content-Length, Date and
 * Connection (close when the client asked, on HTTP/1.0 without keep-alive,
 * or while draining). A HEAD request gets the headers only.
 * Returns 0; CD_ECLOSED when the request had been aborted (nothing written,
 * request freed); CD_ENOMEM (connection closed, request freed). In every
 * case the request is completed and must not be used afterwards. */
int http_respond(http_request *req, int status, const char *content_type, const char *extra_headers,
                 const void *body, size_t len);

/* Same, but takes ownership of body (allocated with cd_malloc; freed with
 * cd_free after the write, or at once on error) — no copy for large bodies. */
int http_respond_buf(http_request *req, int status, const char *content_type,
                     const char *extra_headers, char *body, size_t len);

/* Reason phrase for a status code ("OK", "Not Found"; "Unknown" otherwise). */
const char *http_status_text(int status);

#endif
