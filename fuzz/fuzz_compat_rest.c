/*
 * fuzz_compat_rest.c — libFuzzer driver for the seed-003 REST routes'
 * request layer: the client byte stream goes through http_rx (as the
 * server reads it), and each complete request below /api/v1/ through
 * compat_rest_parse (route, method, room id, query parameters, JSON body)
 * without a server, caller or database.
 *
 * Input: byte 0 picks the slice size (1..256); the rest is the byte stream.
 * Invariants checked: a failed parse is 404 / 405 / out of memory; a routed
 * request has its role; valid arguments have a UUID room on room routes, n
 * and before in their ranges, and the body fields of their route.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compat/compat_internal.h"
#include "core/core.h"
#include "net/http.h"
#include "net/net_internal.h"

static void check(http_request *req)
{
    if (strncmp(req->path, COMPAT_API_PREFIX, strlen(COMPAT_API_PREFIX)) != 0) return;
    compat_rest_args a;
    int rc = compat_rest_parse(req, &a);
    if (rc != 0) {
        if (rc == CD_ENOENT && a.route_status != 404) abort();
        if (rc == CD_EBAD && a.route_status != 405) abort();
        if (rc != CD_ENOENT && rc != CD_EBAD && rc != CD_ENOMEM) abort();
        return;
    }
    if (a.route < 0 || a.route >= COMPAT_REST_NROUTES || !a.role) abort();
    if (a.code) {
        if (!a.msg || (a.status != 400 && a.status != 404)) abort();
        return;
    }
    switch (a.route) {
    case COMPAT_REST_LOGIN:
        if (!a.username || !a.password) abort();
        break;
    case COMPAT_REST_DIRECT:
        if (!compat_uuid_ok(a.target)) abort();
        break;
    case COMPAT_REST_MESSAGES:
        if (a.n < 1 || a.n > COMPAT_MESSAGES_MAX || a.before < -1) abort();
        break;
    case COMPAT_REST_READ:
        if (a.n < 0 || a.n > INT32_MAX) abort();
        break;
    case COMPAT_REST_CLEANUP:
        if (a.n < 1 || a.n > COMPAT_KEEP_MAX) abort();
        break;
    default:
        break;
    }
    if (a.route >= COMPAT_REST_MESSAGES && !compat_uuid_ok(a.room)) abort();
    if (a.route < COMPAT_REST_MESSAGES && a.room) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
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
        off += used;
        if (r == HTTP_RX_AGAIN) continue;
        if (r != HTTP_RX_REQUEST) break;
        http_req_impl *req = http_rx_take(&rx);
        check(&req->pub);
        bool upgrade = req->upgrade;
        http_req_free(req);
        requests++;
        if (upgrade) break;
        http_rx_resume(&rx);
    }
    http_rx_free(&rx);
    return 0;
}
