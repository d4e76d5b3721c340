/*
 * ws_frame.h — RFC 6455 frame codec, private to src/net (ws.c, tests, fuzz).
 *
 * ws_frame_parse() is a pure parser: it reads (buf, len), allocates nothing,
 * and returns the size of the complete frame, CD_AGAIN when more bytes are
 * needed, or CD_EBAD with the close code the violation calls for. It may be
 * fed any prefix of the input: a result never depends on bytes it did not see.
 *
 * ws_rx is the receive state machine a connection embeds: it feeds arbitrary
 * slices of the byte stream through ws_frame_parse(), keeps an incomplete
 * frame and a fragmented message in heap buffers that exist only while
 * something is incomplete (an idle ws_rx owns no memory), reassembles
 * fragments, validates UTF-8 and close frames, and reports complete messages
 * and control frames through callbacks. It unmasks payloads in place, so the
 * input buffer must be writable.
 */
#ifndef CHATD_NET_WS_FRAME_H
#define CHATD_NET_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

/* Longest frame header: 2 + 8 (64-bit length) + 4 (mask). */
#define WS_MAX_HEADER_LEN 14

typedef struct ws_frame {
    bool fin;
    bool masked;
    uint8_t opcode;
    uint8_t mask[4];
    size_t header_len; /* bytes before the payload */
    uint64_t payload_len;
    uint8_t *payload; /* into the parsed buffer (still masked) */
} ws_frame;

/* Parses one frame at buf. require_mask: reject unmasked frames (server
 * side). max_payload: larger payload → CD_EBAD with 1009. Returns header +
 * payload length (> 0) when the whole frame is in buf, CD_AGAIN when it is
 * not (f->header_len is set, non-zero, once the header is complete), or
 * CD_EBAD with *close_code = 1002 (reserved bits, unknown opcode, unmasked,
 * fragmented/oversized control frame, 64-bit length with the top bit) or
 * 1009 (payload over max_payload). */
int ws_frame_parse(uint8_t *buf, size_t len, bool require_mask, uint64_t max_payload, ws_frame *f,
                   int *close_code);

/* XORs n bytes with the mask, starting at mask offset `offset`. */
void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], size_t offset);

/* Writes an unmasked frame header (server → client) for a payload of len
 * bytes; returns its length (2, 4 or 10). */
size_t ws_frame_header(uint8_t out[WS_MAX_HEADER_LEN], uint8_t opcode, bool fin, uint64_t len);

/* Checks UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF). Returns 0 when
 * p[0..n) is valid except possibly for an incomplete but valid-so-far
 * sequence at the end; *complete gets the length of the complete prefix.
 * Returns -1 when invalid. Valid text: returns 0 with *complete == n. */
int ws_utf8_check(const uint8_t *p, size_t n, size_t *complete);

/* True for a close code a peer may send (1000-1003, 1007-1014, 3000-4999). */
bool ws_close_code_valid(int code);

/* Receive state. All zero = initial; an idle ws_rx owns no memory. */
typedef struct ws_rx {
    uint8_t *part; /* incomplete frame bytes (heap) or NULL */
    uint8_t *msg;  /* reassembled fragments (heap) or NULL */
    uint32_t part_len, part_cap;
    uint32_t msg_len, msg_cap;
    uint32_t msg_checked; /* msg bytes already UTF-8 checked */
    uint8_t msg_op;       /* WS_OP_TEXT/BINARY while a fragmented message is open */
    bool done;            /* a close frame or an error ended the input */
} ws_rx;

/* Callbacks of ws_rx_feed. Each returns 0 to continue or non-zero to stop
 * (the rest of the input is dropped and ws_rx_feed returns WS_RX_STOPPED). */
typedef struct ws_rx_handler {
    /* Complete message; text is valid UTF-8; data[len] == 0. */
    int (*on_message)(void *arg, bool is_text, const char *data, size_t len);
    /* Ping or pong (payload ≤ 125). */
    int (*on_ping)(void *arg, const uint8_t *data, size_t len);
    int (*on_pong)(void *arg, const uint8_t *data, size_t len);
    /* Close frame: code 1005 when it had no payload; reason UTF-8 checked.
     * After it, the rx is done and ignores further input. */
    int (*on_close)(void *arg, int code, const char *reason, size_t reason_len);
} ws_rx_handler;

#define WS_RX_STOPPED 1

/* Feeds len bytes (any split of the stream). buf must be writable and have
 * one more writable byte at buf[len] (payloads are unmasked in place and
 * NUL-terminated for the callback, then restored). Returns 0 (all consumed or
 * buffered), WS_RX_STOPPED, a close code ≥ 1000 for a protocol error (1002,
 * 1007, 1009; the rx is then done), or CD_ENOMEM. */
int ws_rx_feed(ws_rx *rx, uint8_t *buf, size_t len, const ws_rx_handler *h, void *arg);

/* Frees the buffers (the rx may be reused after, as an initial one). */
void ws_rx_free(ws_rx *rx);

#endif
