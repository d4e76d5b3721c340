/*
 * net_internal.h — state shared by http.c and ws.c; private to src/net
 * (tests and fuzz drivers may use it).
 *
 * One struct, net_conn, per accepted TCP connection. The uv_tcp_t is its
 * first member and never moves, so an HTTP connection turns into a WebSocket
 * in place: the HTTP-only state (llhttp parser, request in progress) lives in
 * a separate heap block (http_conn) freed on upgrade, the WebSocket state in
 * net_conn.ws. The public ws_conn (ws.h) is the same object seen as a
 * WebSocket: only connections of kind NET_KIND_WS are handed out as one.
 * A connection is freed in exactly one place: the TCP handle's close
 * callback (net_conn_close_cb). Idle connections own no buffers: `pending`
 * holds bytes received but not yet consumed only while there are some.
 *
 * http_rx is the socket-free request parser (llhttp + limits + request
 * building); the socket layer and the fuzz driver both drive it.
 */
#ifndef CHATD_NET_INTERNAL_H
#define CHATD_NET_INTERNAL_H

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/deadline.h"
#include "core/tally.h"
#include "net/http.h"
#include "net/ws.h"
#include "net/ws_frame.h"

/* Bytes a connection buffers while a request is being handled (pipelined
 * requests, or frames sent right after an upgrade request). Over → reading
 * pauses until the response is written. */
#define HTTP_MAX_PENDING_BYTES (64 * 1024)

typedef struct net_conn net_conn;
typedef struct http_req_impl http_req_impl;

/* ---- request parsing without sockets ---- */

enum { HTTP_RX_IDLE, HTTP_RX_HEADERS, HTTP_RX_BODY };

typedef struct http_rx {
    llhttp_t parser;
    http_req_impl *req;        /* request being parsed, or NULL */
    http_req_impl *stream_req; /* request at the handler whose body is being parsed */
    http_stream_fn stream_fn;  /* NULL: never stream */
    void *stream_ud;
    cd_buf tmp;           /* current URL / header name / value piece */
    const char *cur_name; /* completed header name awaiting its value */
    size_t cur_name_len;
    size_t header_bytes;
    size_t url_bytes;
    size_t hdr_cap;       /* capacity of req->hdrs */
    int error;            /* status set by a callback (413, 414, 431, 500) */
    uint8_t stage;        /* HTTP_RX_* */
    bool expect_continue; /* headers asked for 100-continue; consumer clears */
    bool paused;          /* a complete request is waiting (llhttp paused) */
} http_rx;

/* Result of http_rx_feed besides an error status (>= 400). */
enum { HTTP_RX_AGAIN = 0, HTTP_RX_REQUEST = 1 };

void http_rx_init(http_rx *rx);
/* Feeds bytes; *used gets the bytes consumed. Returns HTTP_RX_AGAIN (all
 * consumed, request incomplete), HTTP_RX_REQUEST (a complete request: take
 * it with http_rx_take; bytes after *used belong to the next request or, for
 * an upgrade, to the new protocol), or a 4xx/5xx status to answer before
 * closing. After HTTP_RX_REQUEST, call http_rx_resume before feeding again. */
int http_rx_feed(http_rx *rx, const char *buf, size_t len, size_t *used);
http_req_impl *http_rx_take(http_rx *rx);
void http_rx_resume(http_rx *rx);
void http_rx_free(http_rx *rx);

struct http_req_impl {
    http_request pub; /* must stay first */
    cd_arena arena;
    http_header *hdrs;
    cd_buf body;
    net_conn *conn; /* NULL once aborted or detached */
    http_abort_fn abort_fn;
    void *abort_arg;
    bool aborted;
    bool keep_alive; /* llhttp_should_keep_alive at completion */
    bool upgrade;    /* llhttp saw an upgrade request */
    bool is_head;
    /* streamed body */
    int64_t content_length; /* -1: none */
    http_body_fn body_fn;
    void *body_arg;
    bool body_busy;     /* the handler holds a piece */
    bool body_complete; /* the parser saw the message end */
    bool body_ended;    /* end or failure delivered */
    bool body_probed;   /* the parser ran once without bytes (Content-Length: 0) */
    /* streamed response */
    bool resp_streaming;
    uint64_t resp_left; /* body bytes still to queue */
};

/* Frees a request and everything it owns. */
void http_req_free(http_req_impl *r);

/* ---- connections ---- */

enum { NET_KIND_HTTP = 0, NET_KIND_WS = 1 }; /* (net_conn.kind: one bit) */

/* HTTP connection phases. */
enum {
    HTTP_PH_READ = 0, /* reading a request (maybe none started yet) */
    HTTP_PH_HANDLER,  /* request handed to the handler */
    HTTP_PH_WRITING,  /* response write in flight */
    HTTP_PH_LINGER    /* error answered: discard input until EOF/timeout */
};

typedef struct http_conn {
    http_rx rx;
    http_req_impl *active; /* request at the handler, or NULL */
    uint8_t phase;
    bool close_after;  /* close once the current response is written */
    bool linger_after; /* ...after discarding input a while (unread body) */
    bool dispatching;  /* inside on_request (pending not yet updated) */
} http_conn;

/* WebSocket flags */
#define WS_F_SENT_CLOSE 0x01
#define WS_F_GOT_CLOSE 0x02
#define WS_F_FAILED 0x04
#define WS_F_RX_DONE 0x08 /* the receive state ended (close frame or error) */

/* The WebSocket part of a connection (used once kind == NET_KIND_WS). */
typedef struct net_ws_state {
    const ws_callbacks *cb;
    void *user;
    char *close_reason; /* heap, NUL-terminated, or NULL */
    /* Receive state only while a frame or a fragmented message is
     * incomplete (heap), else NULL: an idle connection holds none. */
    ws_rx *rx;
} net_ws_state;

/* WebSocket output queued during the current loop turn (ws.c): frames
 * (each a reference on a ws_frame_shared) written together with one
 * uv_try_write by the server's flush (prepare/check handles), so a burst
 * costs one write call per socket per turn. Allocated by the first send of
 * a turn and freed by the flush; the part the socket did not take goes on
 * with this same block as the uv_write request (`head` = first frame not
 * yet written, `off` = bytes of it already written). */
typedef struct net_outq {
    uv_write_t req;
    net_conn *conn;
    uint32_t n, cap, head;
    uint32_t off;
    size_t bytes; /* unwritten bytes of frames[head..n) */
    struct ws_frame_shared *frames[];
} net_outq;

struct net_conn {
    uv_tcp_t tcp;          /* must stay first: handle → conn; tcp.data is the server */
    net_conn *prev, *next; /* server's connection list */
    cd_deadline timer;     /* timeout (header, body, keep-alive, close) */
    net_outq *outq;        /* output of this loop turn, or NULL */
    uint32_t dirty_idx;    /* 1 + index in srv->dirty, 0 = not queued */
    /* (kind, flags and the WebSocket's flags and close code share 4 bytes) */
    uint8_t kind : 1;  /* NET_KIND_* */
    bool closing : 1;  /* uv_close called */
    bool shutting : 1; /* uv_shutdown issued */
    bool reading : 1;
    uint8_t ws_flags;         /* WebSocket: WS_F_* */
    uint16_t ws_close_code;   /* WebSocket: code reported by on_close */
    struct net_pend *pending; /* unconsumed input (heap) or NULL */
    http_conn *http;          /* HTTP state, NULL after upgrade */
    net_ws_state ws;          /* WebSocket state */
    const char *addr;         /* peer address text: srv->addrs' copy while
                               * counted there, else "" (static) */
};

/* Input received but not yet consumed (net_conn.pending, only while there
 * is some): `len` bytes of which the first `off` are consumed, and one
 * spare byte after them (parsers NUL-terminate in place). */
typedef struct net_pend {
    uint32_t len, off;
    char data[];
} net_pend;

/* Bytes of c's pending input not yet consumed. */
static inline size_t net_pend_left(const net_conn *c)
{
    return c->pending ? (size_t)(c->pending->len - c->pending->off) : 0;
}

/* Frees c's pending input. */
static inline void net_pend_drop(net_conn *c)
{
    cd_free(c->pending);
    c->pending = NULL;
}

/* c's server (kept in its handle's data pointer: no field of its own). */
static inline http_server *conn_srv(const net_conn *c)
{
    return (http_server *)c->tcp.data;
}

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t timer;        /* armed at the earliest connection deadline */
    uint64_t timer_due;      /* when `timer` fires; 0 = stopped */
    cd_deadlines deadlines;  /* connection timeouts, earliest first */
    uv_prepare_t flush_prep; /* flush WebSocket output queued this turn ... */
    uv_check_t flush_check;  /* ... before the loop blocks (prepare) or right
                              * after the I/O callbacks (check) */
    bool flush_on;           /* the two handles are active */
    uv_timer_t trim;         /* malloc_trim after a burst of connections */
    uint32_t churn;          /* connections opened + closed since the last check */
    bool trim_final;         /* one more trim when the burst is over */
    unsigned open_handles;   /* timer + flush handles not yet closed */
    net_conn **dirty;        /* connections with an outq, NULL holes */
    uint32_t ndirty, dirty_cap;
    uint64_t ws_write_calls; /* uv_try_write + uv_write calls for WebSocket
                              * output (tests read it) */
    http_server_opts opts;
    int port;
    net_conn *conns;
    size_t nconns;
    bool listener_closed;
    bool draining;
    bool finishing;
    uint64_t drain_deadline;
    uint64_t drain_idle_deadline; /* idle/reading connections close from then on */
    http_drain_fn drain_cb;
    void *drain_arg;
    int64_t date_sec;
    char date[40];   /* cached IMF-fixdate for the Date header */
    char *scratch;   /* HTTP_SCRATCH_BYTES, shared by every read */
    uv_tcp_t reject; /* spare handle to refuse a connection without memory */
    bool reject_busy;
    bool reject_retry; /* one was refused: more may be waiting */
    cd_tally addrs;    /* open connections per peer address */
};

/* http.c services for ws.c */
void net_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void net_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
/* Closes the TCP handle now (idempotent); pending writes are cancelled. */
void net_conn_close(net_conn *c);
/* Same, but with a TCP reset: the kernel drops unsent data at once (used
 * for slow readers, whose send buffers would otherwise linger). */
void net_conn_reset(net_conn *c);
/* Shuts down the write side after queued writes, then closes; the
 * connection's deadline closes it anyway after `timeout_ms`. */
void net_conn_close_graceful(net_conn *c, unsigned timeout_ms);
/* Appends bytes to c->pending. 0 or CD_ENOMEM. */
int net_conn_pend(net_conn *c, const char *data, size_t len);
/* Turns the connection of req into a WebSocket: writes `head` (copied; the
 * 101 response), frees the request and the HTTP state. Returns the conn or
 * NULL (request aborted: freed). */
net_conn *http_upgrade(http_request *req, const char *head, size_t head_len);
unsigned http_server_ws_close_timeout(const http_server *srv);
/* Sets (ms > 0) or clears (ms == 0) the connection's timeout. */
void net_conn_set_timeout(net_conn *c, unsigned ms);

/* ws.c services for http.c */
void ws_conn_on_data(net_conn *c, char *data, size_t len); /* data[len] writable */
void ws_conn_on_eof(net_conn *c);
void ws_conn_on_closed(net_conn *c);  /* from the close callback: on_close + free WS state */
void ws_conn_on_timeout(net_conn *c); /* close handshake timed out */
/* Writes c's queued output (one uv_try_write, the rest one uv_write). */
void net_ws_flush(net_conn *c);
/* Drops c's queued output unwritten (reset, or the socket is gone). */
void net_ws_drop_output(net_conn *c);
/* Flushes every connection with queued output (prepare/check callback). */
void net_ws_flush_all(http_server *srv);

/* Header helpers */
bool net_header_has_token(const char *value, const char *token);

#endif
