/*
 * fuzz_net_http.c — libFuzzer driver for the HTTP request path without
 * sockets: http_rx (llhttp + limits + request building) and the request
 * helpers (header lookup, query parameters, URL decoding, WebSocket
 * subprotocol selection).
 *
 * Input: byte 0 picks the slice size (1..256); the rest is the client byte
 * stream, fed like reads from a socket. Each complete request is inspected,
 * freed and the parser resumed with the remaining bytes, as the server does
 * for pipelined requests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "net/http.h"
#include "net/net_internal.h"
#include "net/ws.h"

static void inspect(http_request *req)
{
    if (strlen(req->path) + strlen(req->query) > HTTP_MAX_URL_BYTES) abort();
    if (req->body_len > HTTP_MAX_BODY_BYTES || req->nheaders > HTTP_MAX_HEADERS) abort();
    if (req->body[req->body_len] != 0) abort();
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header *h = &req->headers[i];
        if (h->name[h->name_len] != 0 || h->value[h->value_len] != 0) abort();
        (void)http_req_header(req, h->name);
    }
    const char *v;
    size_t n;
    (void)http_req_query_param(req, "query", &v, &n);
    (void)http_req_query_param(req, "a", &v, &n);
    (void)http_url_decode(req->arena, req->path, strlen(req->path), false, &n);
    static const char *const protos[] = {"graphql-transport-ws", "graphql-ws", NULL};
    (void)ws_select_protocol(req, protos);
    (void)net_header_has_token(http_req_header(req, "Connection"), "upgrade");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = (size_t)data[0] + 1;
    data++;
    size--;
    http_rx rx;
    http_rx_init(&rx);
    size_t off = 0;
    int requests = 0;
    while (off < size && requests < 64) {
        size_t k = size - off < step ? size - off : step;
        char *slice = malloc(k);
        memcpy(slice, data + off, k);
        size_t used = 0;
        int r = http_rx_feed(&rx, slice, k, &used);
        free(slice);
        if (used > k) abort();
        off += used;
        if (r == HTTP_RX_AGAIN) {
            if (used != k) abort();
            continue;
        }
        if (r != HTTP_RX_REQUEST) {
            if (r < 400 || r > 599) abort();
            break;
        }
        http_req_impl *req = http_rx_take(&rx);
        inspect(&req->pub);
        bool upgrade = req->upgrade;
        http_req_free(req);
        requests++;
        if (upgrade) break; /* the rest is another protocol */
        http_rx_resume(&rx);
    }
    http_rx_free(&rx);
    return 0;
}
