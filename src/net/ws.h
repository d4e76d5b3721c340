/*
 * ws.h — RFC 6455 WebSocket connections on top of http.h (same port).
 *
 * Upgrade: the HTTP handler sees req->is_websocket and either calls
 * ws_accept() (writes 101 Switching Protocols with Sec-WebSocket-Accept and
 * the chosen subprotocol, completes the request, turns the connection into
 * a ws_conn) or refuses with http_respond() (the connection then closes).
 *
 * After the upgrade the layer enforces RFC 6455: client frames must be
 * masked (else close 1002), reserved bits / unknown opcodes → 1002, control
 * frames ≤ 125 bytes and unfragmented → 1002, fragments are reassembled
 * (control frames may interleave), text must be UTF-8 → 1007, frame or
 * message over the limits below → 1009, invalid close codes → 1002. Pings
 * are answered with pongs automatically. A peer close is answered with a
 * close echoing its code; ws_close() starts the handshake and closes the
 * TCP connection after the close timeout if the peer does not answer.
 *
 * Lifetime: a ws_conn lives from ws_accept() until its on_close callback
 * returns; it is freed right after (in the TCP handle's close callback).
 * on_close is called exactly once, also for abrupt disconnects (code 1006).
 * Do not use the ws_conn after on_close. Sends after the close started
 * return CD_ECLOSED and do nothing.
 *
 * Memory: an idle ws_conn holds no buffers (see http.h); partial frames and
 * fragmented messages are buffered in per-connection heap memory only while
 * incomplete. Outgoing frames are queued on the connection and written at
 * the end of the loop turn, all of them in one write call (coalescing);
 * fan-out uses ws_frame_shared (one encoded frame, reference-counted, many
 * sockets, never copied per socket).
 */
#ifndef CHATD_NET_WS_H
#define CHATD_NET_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

/* ---- limits ---- */
/* Largest payload of one received frame. Over → close 1009. */
#define WS_MAX_FRAME_SIZE (1024 * 1024)
/* Largest reassembled received message. Over → close 1009. */
#define WS_MAX_MESSAGE_SIZE (1024 * 1024)
/* Control frame payload limit from RFC 6455 (ping/pong/close). */
#define WS_MAX_CONTROL_PAYLOAD 125
/* Wait this long for the peer's close frame (and TCP FIN) after we sent ours. */
#define WS_CLOSE_TIMEOUT_MS 5000
/* Bytes queued for writing (slow reader). Over → the connection is dropped
 * (on_close with 1006): a subscriber that cannot keep up must resync. */
#define WS_MAX_WRITE_QUEUE (4 * 1024 * 1024)
/* Frames sent to one connection within a loop turn go out together (one
 * uv_try_write of several buffers) when the turn ends, or as soon as this
 * many frames or bytes are waiting. */
#define WS_COALESCE_MAX_FRAMES 64
#define WS_COALESCE_MAX_BYTES (64 * 1024)

/* ---- close codes (RFC 6455 §7.4.1) ---- */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_UNSUPPORTED 1003
#define WS_CLOSE_NO_STATUS 1005 /* reported only: the peer's close had no code */
#define WS_CLOSE_ABNORMAL 1006  /* reported only: no close frame (TCP dropped) */
#define WS_CLOSE_INVALID_DATA 1007
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL_ERROR 1011

/* A WebSocket: the connection it was upgraded from (net_internal.h), seen
 * through this API. Opaque. */
typedef struct net_conn ws_conn;
typedef struct ws_frame_shared ws_frame_shared;

typedef struct ws_callbacks {
    /* A complete message (reassembled). data is valid only during the call;
     * for text it is valid UTF-8 and NUL-terminated at data[len]. */
    void (*on_message)(ws_conn *c, bool is_text, const char *data, size_t len);
    /* Exactly once, when the connection is finished. code: the code of the
     * close handshake (the peer's, or ours if we closed first), 1005 if the
     * peer's close had no code, 1006 if TCP dropped without a close. reason
     * is NUL-terminated (may be ""). The conn is freed after this returns. */
    void (*on_close)(ws_conn *c, int code, const char *reason, size_t reason_len);
    /* Optional: a pong arrived (answer to ws_ping). */
    void (*on_pong)(ws_conn *c, const char *data, size_t len);
} ws_callbacks;

/* True when req is a valid WebSocket upgrade request (same as
 * req->is_websocket). */
bool ws_is_upgrade(const http_request *req);

/* Picks the first protocol offered in the client's Sec-WebSocket-Protocol
 * header (in the client's order) that appears in the NULL-terminated list
 * `supported`. Returns the matching entry of `supported`, or NULL. */
const char *ws_select_protocol(const http_request *req, const char *const *supported);

/* Accepts the upgrade: answers 101 with Sec-WebSocket-Accept and, when
 * subprotocol != NULL, Sec-WebSocket-Protocol: subprotocol. cb is not
 * copied (keep it static); user is stored on the conn. Completes the request
 * (it must not be used afterwards; copy headers you need before). Bytes the
 * client sent after the handshake are processed right after the 101.
 * Returns 0 and *out (may be NULL); CD_EBAD if req is not a WebSocket
 * upgrade (a 400 is sent instead); CD_ECLOSED if the request was aborted;
 * CD_ENOMEM. On error the request is completed too. */
int ws_accept(http_request *req, const char *subprotocol, const ws_callbacks *cb, void *user,
              ws_conn **out);

void *ws_conn_user(const ws_conn *c);
void ws_conn_set_user(ws_conn *c, void *user);
/* The server the connection belongs to. */
http_server *ws_conn_server(const ws_conn *c);
/* Writes the peer IP as text into buf (NUL-terminated). 0 or CD_EIO. */
int ws_conn_peer_ip(const ws_conn *c, char *buf, size_t len);
/* True once a close has started (ours or the peer's) or the conn is dying. */
bool ws_conn_closing(const ws_conn *c);
/* Bytes currently queued for writing on the socket. */
size_t ws_conn_write_queue(const ws_conn *c);

/* Sends one unfragmented text (must be UTF-8; not checked) or binary
 * message; data is copied. The frame is written at the end of the loop turn
 * together with the others of the turn. 0, CD_ECLOSED, CD_ELIMIT (write
 * queue over WS_MAX_WRITE_QUEUE: the connection is being dropped),
 * CD_ENOMEM (the connection is closed: no message is lost silently). */
int ws_send_text(ws_conn *c, const char *data, size_t len);
int ws_send_binary(ws_conn *c, const void *data, size_t len);

/* Shared, reference-counted encoded frame for fan-out: build it once, send
 * it to any number of connections, release your reference. Each send holds
 * a reference until its write completes. Server frames are unmasked so the
 * bytes are identical for every connection. Returns NULL on no memory. */
ws_frame_shared *ws_frame_new_text(const char *data, size_t len);
ws_frame_shared *ws_frame_new_binary(const void *data, size_t len);
/* Adds a reference (for callers that keep a frame in several queues). */
ws_frame_shared *ws_frame_ref(ws_frame_shared *f);
/* Drops a reference; the frame is freed when the last one goes. NULL ok. */
void ws_frame_release(ws_frame_shared *f);
/* Queues the frame on c (no copy). Same returns as ws_send_text. */
int ws_send_frame(ws_conn *c, ws_frame_shared *f);

/* Sends a ping (payload ≤ 125 bytes, else CD_ELIMIT); the pong is reported
 * through on_pong. A heartbeat is the caller's periodic ws_ping plus a check
 * of the last pong time. */
int ws_ping(ws_conn *c, const void *data, size_t len);

/* Starts the close handshake: sends a close frame with code (1000..4999, a
 * code valid on the wire) and reason (≤ 123 bytes, truncated otherwise),
 * stops delivering messages, waits for the peer's close, then closes TCP
 * (after the server's ws close timeout at most). on_close follows with this
 * code. Calling it again, or after the peer closed, is a no-op returning
 * CD_ECLOSED. */
int ws_close(ws_conn *c, int code, const char *reason);

#endif
