/*
 * fuzz_net_ws.c — libFuzzer driver for the WebSocket frame parser and the
 * ws_rx receive state machine (src/net/ws_frame.c).
 *
 * Input: byte 0 picks the slice size the stream is fed in (1..256), the rest
 * is the client byte stream. Every slice is copied into its own heap block
 * with exactly one spare byte, so ASan catches any read or write beyond what
 * the parser may touch. The whole stream is also parsed frame by frame with
 * ws_frame_parse in both mask modes; results must be consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "net/ws.h"
#include "net/ws_frame.h"

static int f_msg(void *arg, bool is_text, const char *data, size_t len)
{
    (void)arg;
    if (data[len] != 0) abort();
    if (is_text) {
        size_t ok;
        if (ws_utf8_check((const uint8_t *)data, len, &ok) != 0 || ok != len) abort();
    }
    if (len > WS_MAX_MESSAGE_SIZE) abort();
    return 0;
}
static int f_ctl(void *arg, const uint8_t *d, size_t n)
{
    (void)arg;
    (void)d;
    if (n > WS_MAX_CONTROL_PAYLOAD) abort();
    return 0;
}
static int f_close(void *arg, int code, const char *reason, size_t n)
{
    (void)arg;
    if (code != WS_CLOSE_NO_STATUS && !ws_close_code_valid(code)) abort();
    if (reason[n] != 0) abort();
    return 0;
}
static const ws_rx_handler handler = {f_msg, f_ctl, f_ctl, f_close};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = (size_t)data[0] + 1;
    data++;
    size--;

    ws_rx rx;
    memset(&rx, 0, sizeof rx);
    for (size_t off = 0; off < size; off += step) {
        size_t k = size - off < step ? size - off : step;
        uint8_t *slice = malloc(k + 1);
        memcpy(slice, data + off, k);
        int r = ws_rx_feed(&rx, slice, k, &handler, NULL);
        free(slice);
        if (r != 0) break;
    }
    ws_rx_free(&rx);

    uint8_t *all = malloc(size + 1);
    if (size) memcpy(all, data, size);
    for (int strict = 0; strict <= 1; strict++) {
        size_t off = 0;
        while (off < size) {
            ws_frame f;
            int code = 0;
            int r = ws_frame_parse(all + off, size - off, strict, WS_MAX_FRAME_SIZE, &f, &code);
            if (r == CD_EBAD) {
                if (code != WS_CLOSE_PROTOCOL_ERROR && code != WS_CLOSE_TOO_BIG) abort();
                break;
            }
            if (r == CD_AGAIN) break;
            if (r <= 0 || (size_t)r > size - off) abort();
            if (f.masked) ws_unmask(f.payload, (size_t)f.payload_len, f.mask, 0);
            off += (size_t)r;
        }
    }
    free(all);
    return 0;
}
