/*
 * Loop tests for the HTTP server (src/net/http.c) over real sockets on
 * 127.0.0.1: keep-alive, pipelining, limits answered with 4xx at their edges,
 * chunked bodies, 100-continue, async responses, abort on disconnect,
 * timeouts, HTTP/1.0, busy port, graceful drain. Each test runs the loop to
 * its end and asserts uv_loop_close() == 0 (see net_testutil.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/core.h"
#include "net/net_internal.h"
#include "net_testutil.h"

/* ---- server side (loop thread) ---- */

static int g_aborts;
static int g_requests;

typedef struct delayed {
    uv_timer_t timer;
    http_request *req;
} delayed;

static void delayed_close_cb(uv_handle_t *h)
{
    free(h);
}

static void delayed_fire(uv_timer_t *t)
{
    delayed *d = (delayed *)t;
    http_respond(d->req, 200, "text/plain", NULL, "async", 5);
    uv_close((uv_handle_t *)t, delayed_close_cb);
}

static void on_abort(http_request *req, void *arg)
{
    (void)arg;
    g_aborts++;
    /* completing an aborted request only frees it */
    assert_true(http_req_aborted(req));
    assert_int_equal(http_respond(req, 200, NULL, NULL, "x", 1), CD_ECLOSED);
}

static void handler(http_request *req, void *user)
{
    (void)user;
    g_requests++;
    if (strcmp(req->path, "/echo") == 0) {
        const char *a = "";
        size_t alen;
        if (http_req_query_param(req, "a", &a, &alen) != 0) a = "-";
        char extra[512];
        snprintf(extra, sizeof extra, "X-Method: %s\r\nX-Query-A: %s\r\nX-Client: %s\r\n",
                 req->method, a, req->client_ip);
        http_respond(req, 200, "text/plain", extra, req->body, req->body_len);
    } else if (strncmp(req->path, "/async", 6) == 0) {
        delayed *d = malloc(sizeof *d);
        d->req = req;
        uv_timer_init(http_server_loop(req->server), &d->timer);
        uv_timer_start(&d->timer, delayed_fire, strcmp(req->path, "/async-slow") == 0 ? 300 : 30,
                       0);
    } else if (strcmp(req->path, "/nocontent") == 0) {
        /* body ignored for 204; extra headers passed through */
        http_respond(req, 204, NULL,
                     "Access-Control-Allow-Origin: *\r\nAccess-Control-Max-Age: 600\r\n", "zzz", 3);
    } else if (strcmp(req->path, "/hang") == 0) {
        http_req_on_abort(req, on_abort, NULL);
    } else if (strcmp(req->path, "/big") == 0 || strcmp(req->path, "/huge") == 0) {
        size_t n = req->path[1] == 'b' ? 200000 : 64u * 1024 * 1024;
        char *b = cd_malloc(n);
        for (size_t i = 0; i < n; i++)
            b[i] = (char)('a' + i % 26);
        http_respond_buf(req, 200, "application/octet-stream", NULL, b, n);
    } else {
        http_respond(req, 404, "text/plain", NULL, "nope", 4);
    }
}

static void reset(void)
{
    g_aborts = 0;
    g_requests = 0;
}

/* ---- streaming bodies and responses (http_req_body_*, http_respond_start/chunk) ---- */

typedef struct sink {
    uv_timer_t timer; /* "disk": each piece is taken a little later */
    http_request *req;
    uint64_t total, sum;
    unsigned pieces;
} sink;

static void sink_close_cb(uv_handle_t *h)
{
    free(h);
}

/* the client went away: the request is only freed */
static void sink_finish_aborted(sink *k)
{
    assert_int_equal(http_respond(k->req, 200, NULL, NULL, NULL, 0), CD_ECLOSED);
    uv_close((uv_handle_t *)&k->timer, sink_close_cb);
}

static void sink_next(uv_timer_t *t)
{
    sink *k = (sink *)t;
    if (http_req_aborted(k->req)) {
        sink_finish_aborted(k);
        return;
    }
    http_req_body_next(k->req);
}

static void sink_body(http_request *req, void *arg, const char *data, size_t len, int status)
{
    sink *k = arg;
    if (status || len == 0) {
        char out[64];
        int n = snprintf(out, sizeof out, "%llu %llu", (unsigned long long)k->total,
                         (unsigned long long)k->sum);
        if (status)
            http_respond(req, status, "text/plain", NULL, "bad", 3);
        else
            http_respond(req, 200, "text/plain", NULL, out, (size_t)n);
        uv_close((uv_handle_t *)&k->timer, sink_close_cb);
        return;
    }
    /* a piece never exceeds one read plus what may wait in pending */
    assert_true(len <= HTTP_SCRATCH_BYTES + HTTP_MAX_PENDING_BYTES);
    k->pieces++;
    k->total += len;
    for (size_t i = 0; i < len; i++)
        k->sum += (unsigned char)data[i];
    uv_timer_start(&k->timer, sink_next, 1, 0);
}

static void stream_abort(http_request *req, void *arg)
{
    (void)req;
    sink *k = arg;
    g_aborts++;
    /* waiting for bytes (no piece being "written"): nothing else will call */
    if (!uv_is_active((uv_handle_t *)&k->timer)) sink_finish_aborted(k);
}

typedef struct dl {
    http_request *req;
    uint64_t left, off;
} dl;

static void dl_next(http_request *req, void *arg, int status)
{
    dl *d = arg;
    if (status != 0) {
        http_respond_end(req);
        free(d);
        return;
    }
    size_t n = d->left < 7000 ? (size_t)d->left : 7000;
    char *b = cd_malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + (d->off + i) % 26);
    d->left -= n;
    d->off += n;
    int rc = http_respond_chunk(req, b, n, dl_next, d);
    if (rc != 0) {
        if (rc < 0) http_respond_end(req);
        free(d);
    }
}

static bool stream_pred(const http_request *req, void *user)
{
    (void)user;
    return strcmp(req->method, "POST") == 0 && strncmp(req->path, "/stream", 7) == 0;
}

static void stream_handler(http_request *req, void *user)
{
    if (strcmp(req->path, "/stream") == 0) {
        assert_true(req->streaming);
        g_requests++;
        sink *k = calloc(1, sizeof *k);
        k->req = req;
        uv_timer_init(http_server_loop(req->server), &k->timer);
        http_req_on_abort(req, stream_abort, k);
        http_req_body_start(req, sink_body, k);
    } else if (strcmp(req->path, "/stream-refuse") == 0) {
        g_requests++;
        http_respond(req, 413, "text/plain", NULL, "too big", 7); /* body never read */
    } else if (strcmp(req->path, "/download") == 0) {
        g_requests++;
        const char *n;
        size_t nl;
        dl *d = calloc(1, sizeof *d);
        d->left = http_req_query_param(req, "n", &n, &nl) == 0 ? strtoull(n, NULL, 10) : 0;
        int rc = http_respond_start(req, 200, "application/octet-stream", NULL, d->left);
        if (rc != 0) {
            free(d);
            return;
        }
        dl_next(req, d, 0);
    } else {
        handler(req, user);
    }
}

static void cl_streaming(tc_env *env)
{
    tc_resp r;
    char head[256];
    /* 3 MiB (three times the buffered-body limit) with Content-Length, then
     * a pipelined request on the same connection */
    size_t n = 3u * 1024 * 1024;
    char *body = malloc(n);
    unsigned long long sum = 0;
    for (size_t i = 0; i < n; i++) {
        body[i] = (char)(i * 31 + 7);
        sum += (unsigned char)body[i];
    }
    int fd = tc_connect(env->port);
    TC_CHECK(env, fd >= 0);
    snprintf(head, sizeof head, "POST /stream HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    TC_CHECK(env, tc_sends(fd, head) == 0 && tc_send(fd, body, n) == 0);
    TC_CHECK(env, tc_sends(fd, "GET /echo?a=after HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    char want[64];
    snprintf(want, sizeof want, "%zu %llu", n, sum);
    TC_CHECK(env, r.status == 200 && strcmp(r.body, want) == 0);
    free(r.body);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    char v[64];
    TC_CHECK(env,
             r.status == 200 && tc_header(&r, "X-Query-A", v, sizeof v) && strcmp(v, "after") == 0);
    free(r.body);
    /* chunked, with 100-continue; then Content-Length: 0 */
    TC_CHECK(env, tc_sends(fd, "POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                               "Expect: 100-continue\r\n\r\n") == 0);
    char cont[26];
    TC_CHECK(env, tc_recv_n(fd, cont, 25) == 0 &&
                      memcmp(cont, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
    TC_CHECK(env, tc_sends(fd, "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 200 && strcmp(r.body, "5 495") == 0);
    free(r.body);
    TC_CHECK(env, tc_sends(fd, "POST /stream HTTP/1.1\r\nContent-Length: 0\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 200 && strcmp(r.body, "0 0") == 0);
    free(r.body);
    /* a small body in the same packet as its headers, after a pipelined
     * request (parsed from the pending bytes) */
    TC_CHECK(env, tc_sends(fd, "GET /echo?a=first HTTP/1.1\r\n\r\n"
                               "POST /stream HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env,
             r.status == 200 && tc_header(&r, "X-Query-A", v, sizeof v) && strcmp(v, "first") == 0);
    free(r.body);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 200 && strcmp(r.body, "5 532") == 0);
    free(r.body);
    /* a streamed download of a known length, then HEAD */
    TC_CHECK(env, tc_sends(fd, "GET /download?n=300001 HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 200 && r.body_len == 300001);
    for (size_t i = 0; i < r.body_len; i++)
        if (r.body[i] != (char)('a' + i % 26)) {
            TC_CHECK(env, !"download content");
            break;
        }
    free(r.body);
    TC_CHECK(env, tc_sends(fd, "HEAD /download?n=5 HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response_ex(fd, &r, 1) == 0);
    TC_CHECK(env, r.status == 200 && tc_header(&r, "Content-Length", v, sizeof v) &&
                      strcmp(v, "5") == 0);
    free(r.body);
    close(fd);
    /* refused before the body was read: 413 with Connection: close, read
     * while the client is still sending */
    fd = tc_connect(env->port);
    snprintf(head, sizeof head, "POST /stream-refuse HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    TC_CHECK(env, tc_sends(fd, head) == 0);
    tc_send(fd, body, 200000);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 413 && tc_header(&r, "Connection", v, sizeof v) &&
                      strcmp(v, "close") == 0);
    free(r.body);
    TC_CHECK(env, tc_wait_closed(fd, 5000));
    close(fd);
    /* malformed chunking mid-body: the handler is told (400) */
    fd = tc_connect(env->port);
    TC_CHECK(env, tc_sends(fd, "POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\nZZ\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 400);
    free(r.body);
    close(fd);
    /* a client that leaves mid-body: the handler's abort callback runs */
    fd = tc_connect(env->port);
    snprintf(head, sizeof head, "POST /stream HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    TC_CHECK(env, tc_sends(fd, head) == 0);
    tc_send(fd, body, 100000);
    usleep(100 * 1000);
    close(fd);
    usleep(200 * 1000);
    free(body);
}

static void test_streaming(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = stream_handler, .stream_body = stream_pred};
    tc_run(&env, &o, cl_streaming, NULL);
    assert_int_equal(g_aborts, 1);
}

/* ---- clients (client thread) ---- */

static void cl_keepalive_pipelining(tc_env *env)
{
    int fd = tc_connect(env->port);
    TC_CHECK(env, fd >= 0);
    tc_resp r;
    char v[128];
    TC_CHECK(env, tc_sends(fd, "GET /echo?a=hello%20w+x HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 200);
    TC_CHECK(env, tc_header(&r, "X-Query-A", v, sizeof v) && strcmp(v, "hello w x") == 0);
    TC_CHECK(env, tc_header(&r, "X-Client", v, sizeof v) && strcmp(v, "127.0.0.1") == 0);
    TC_CHECK(env, tc_header(&r, "Date", v, sizeof v) != NULL);
    TC_CHECK(env, tc_header(&r, "Connection", v, sizeof v) == NULL);
    free(r.body);
    /* same connection: keep-alive */
    TC_CHECK(env, tc_sends(fd, "GET /nothing HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 404 && strcmp(r.body, "nope") == 0);
    free(r.body);
    /* three pipelined requests in one write, one of them async */
    TC_CHECK(env, tc_sends(fd, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\none"
                               "GET /async HTTP/1.1\r\n\r\n"
                               "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nthree") == 0);
    const char *want[] = {"one", "async", "three"};
    for (int i = 0; i < 3; i++) {
        TC_CHECK(env, tc_read_response(fd, &r) == 0);
        TC_CHECK(env, r.status == 200);
        TC_CHECK(env, strcmp(r.body, want[i]) == 0);
        free(r.body);
    }
    /* HEAD: headers only, Content-Length of the would-be body */
    TC_CHECK(env, tc_sends(fd, "HEAD /nothing HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response_ex(fd, &r, 1) == 0);
    TC_CHECK(env, r.status == 404 && tc_header(&r, "Content-Length", v, sizeof v) &&
                      strcmp(v, "4") == 0);
    free(r.body);
    TC_CHECK(env, tc_sends(fd, "GET /echo HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0); /* nothing extra after HEAD */
    TC_CHECK(env, r.status == 200);
    free(r.body);
    /* 204: no Content-Length, no body, extra headers kept */
    TC_CHECK(env, tc_sends(fd, "OPTIONS /nocontent HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 204 && !tc_header(&r, "Content-Length", v, sizeof v));
    TC_CHECK(env, tc_header(&r, "Access-Control-Max-Age", v, sizeof v) && strcmp(v, "600") == 0);
    free(r.body);
    TC_CHECK(env, tc_sends(fd, "GET /echo?a=after HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0 && r.status == 200);
    TC_CHECK(env, tc_header(&r, "X-Query-A", v, sizeof v) && strcmp(v, "after") == 0);
    free(r.body);
    close(fd);
}

/* More pipelined bytes than HTTP_MAX_PENDING_BYTES behind a slow request:
 * reading pauses and resumes, every request is answered, in order. */
static void cl_pipeline_flood(tc_env *env)
{
    int fd = tc_connect(env->port);
    TC_CHECK(env, fd >= 0);
    size_t cap = 200000, n = 0;
    char *all = malloc(cap);
    n += (size_t)snprintf(all, cap, "GET /async-slow HTTP/1.1\r\n\r\n");
    int count = 0;
    while (n < (size_t)HTTP_MAX_PENDING_BYTES * 2) {
        n += (size_t)snprintf(all + n, cap - n, "GET /echo?a=%d HTTP/1.1\r\n\r\n", count);
        count++;
    }
    TC_CHECK(env, tc_send(fd, all, n) == 0);
    free(all);
    tc_resp r;
    TC_CHECK(env, tc_read_response(fd, &r) == 0 && strcmp(r.body, "async") == 0);
    free(r.body);
    for (int i = 0; i < count; i++) {
        char v[32], want[32];
        snprintf(want, sizeof want, "%d", i);
        TC_CHECK(env, tc_read_response(fd, &r) == 0 && r.status == 200);
        free(r.body);
        TC_CHECK(env, tc_header(&r, "X-Query-A", v, sizeof v) && strcmp(v, want) == 0);
    }
    close(fd);
}

static void test_pipeline_flood(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_pipeline_flood, NULL);
    assert_true(g_requests > 4000);
}

static void test_keepalive_pipelining(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_keepalive_pipelining, NULL);
    assert_int_equal(g_requests, 9);
}

static void cl_body_limit(tc_env *env)
{
    size_t lim = HTTP_MAX_BODY_BYTES;
    char *body = malloc(lim + 1);
    memset(body, 'b', lim + 1);
    char head[128];
    tc_resp r;
    /* exactly the limit: accepted and echoed */
    int fd = tc_connect(env->port);
    TC_CHECK(env, fd >= 0);
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", lim);
    TC_CHECK(env, tc_sends(fd, head) == 0 && tc_send(fd, body, lim) == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 200 && r.body_len == lim && memcmp(r.body, body, lim) == 0);
    free(r.body);
    close(fd);
    /* limit + 1: 413, then the connection closes (body still being sent) */
    fd = tc_connect(env->port);
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", lim + 1);
    TC_CHECK(env, tc_sends(fd, head) == 0);
    tc_send(fd, body, 1000);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 413);
    char v[64];
    TC_CHECK(env, tc_header(&r, "Connection", v, sizeof v) && strcmp(v, "close") == 0);
    free(r.body);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* chunked: limit + 1 across two chunks → 413 */
    fd = tc_connect(env->port);
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n",
             lim);
    TC_CHECK(env, tc_sends(fd, head) == 0 && tc_send(fd, body, lim) == 0);
    TC_CHECK(env, tc_sends(fd, "\r\n1\r\nx\r\n0\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 413);
    free(r.body);
    close(fd);
    free(body);
}

static void test_body_limit(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_body_limit, NULL);
    assert_int_equal(g_requests, 1);
}

static void cl_chunked_continue_errors(tc_env *env)
{
    tc_resp r;
    int fd = tc_connect(env->port);
    TC_CHECK(env, fd >= 0);
    /* chunked body, sent in pieces */
    TC_CHECK(env,
             tc_sends(fd, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel") ==
                 0);
    usleep(20000);
    TC_CHECK(env, tc_sends(fd, "lo\r\n6\r\n world\r\n0\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 200 && strcmp(r.body, "hello world") == 0);
    free(r.body);
    /* Expect: 100-continue: interim response before the body is sent */
    TC_CHECK(env, tc_sends(fd, "POST /echo HTTP/1.1\r\nContent-Length: 4\r\n"
                               "Expect: 100-continue\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response_ex(fd, &r, 1) == 0);
    TC_CHECK(env, r.status == 100);
    free(r.body);
    TC_CHECK(env, tc_sends(fd, "body") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 200 && strcmp(r.body, "body") == 0);
    free(r.body);
    close(fd);
    /* malformed request: 400, then closed */
    fd = tc_connect(env->port);
    TC_CHECK(env, tc_sends(fd, "GARBAGE\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 400);
    free(r.body);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* URL over the limit: 414 */
    fd = tc_connect(env->port);
    char *url = malloc(HTTP_MAX_URL_BYTES + 64);
    strcpy(url, "GET /");
    memset(url + 5, 'u', HTTP_MAX_URL_BYTES);
    strcpy(url + 5 + HTTP_MAX_URL_BYTES, " HTTP/1.1\r\n\r\n");
    TC_CHECK(env, tc_sends(fd, url) == 0);
    free(url);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 414);
    free(r.body);
    close(fd);
    /* header section over the limit: 431 */
    fd = tc_connect(env->port);
    char *big = malloc(HTTP_MAX_HEADER_BYTES + 64);
    strcpy(big, "GET / HTTP/1.1\r\nX: ");
    size_t n = strlen(big);
    memset(big + n, 'v', HTTP_MAX_HEADER_BYTES);
    strcpy(big + n + HTTP_MAX_HEADER_BYTES, "\r\n\r\n");
    TC_CHECK(env, tc_sends(fd, big) == 0);
    free(big);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 431);
    free(r.body);
    close(fd);
    /* HTTP/1.0 without keep-alive: Connection: close and the server closes */
    fd = tc_connect(env->port);
    TC_CHECK(env, tc_sends(fd, "GET /echo HTTP/1.0\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    char v[64];
    TC_CHECK(env, r.status == 200 && tc_header(&r, "Connection", v, sizeof v) &&
                      strcmp(v, "close") == 0);
    free(r.body);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* HTTP/1.0 keep-alive */
    fd = tc_connect(env->port);
    TC_CHECK(env, tc_sends(fd, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, tc_header(&r, "Connection", v, sizeof v) && strcmp(v, "keep-alive") == 0);
    free(r.body);
    TC_CHECK(env, tc_sends(fd, "GET /echo HTTP/1.0\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0 && r.status == 200);
    free(r.body);
    close(fd);
    /* big response written in several pieces */
    fd = tc_connect(env->port);
    TC_CHECK(env, tc_sends(fd, "GET /big HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 200 && r.body_len == 200000 && r.body[199999] == 'a' + 199999 % 26);
    free(r.body);
    close(fd);
}

static void test_chunked_continue_errors(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_chunked_continue_errors, NULL);
}

static void cl_abort(tc_env *env)
{
    int fd = tc_connect(env->port);
    TC_CHECK(env, fd >= 0);
    TC_CHECK(env, tc_sends(fd, "GET /hang HTTP/1.1\r\n\r\n") == 0);
    usleep(50000);
    close(fd);
    usleep(100000); /* let the server see the disconnect before the drain */
}

static void test_abort_on_disconnect(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_abort, NULL);
    assert_int_equal(g_requests, 1);
    assert_int_equal(g_aborts, 1);
}

static void cl_timeouts(tc_env *env)
{
    tc_resp r;
    /* partial headers: 408 after the header timeout */
    int fd = tc_connect(env->port);
    TC_CHECK(env, tc_sends(fd, "GET / HTTP/1.1\r\nHo") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 408);
    free(r.body);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* connected, nothing sent: closed silently */
    fd = tc_connect(env->port);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* idle keep-alive connection: closed after the keep-alive timeout, not before */
    fd = tc_connect(env->port);
    TC_CHECK(env, tc_sends(fd, "GET /echo HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0 && r.status == 200);
    free(r.body);
    TC_CHECK(env, tc_quiet(fd, 150));
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* a body that stops coming: 408 after the body timeout */
    fd = tc_connect(env->port);
    TC_CHECK(env, tc_sends(fd, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    TC_CHECK(env, r.status == 408);
    free(r.body);
    close(fd);
}

/* A response the client does not read is abandoned after the write timeout. */
static void cl_write_timeout(tc_env *env)
{
    int fd = tc_connect(env->port);
    TC_CHECK(env, fd >= 0);
    TC_CHECK(env, tc_sends(fd, "GET /huge HTTP/1.1\r\n\r\n") == 0);
    usleep(1000000); /* not reading */
    size_t total = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        total += (size_t)n;
    }
    TC_CHECK(env, total > 0 && total < 64u * 1024 * 1024);
    close(fd);
}

static void test_write_timeout(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler, .write_timeout_ms = 300};
    tc_run(&env, &o, cl_write_timeout, NULL);
    assert_int_equal(g_requests, 1);
}

static void test_timeouts(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler,
                          .header_timeout_ms = 300,
                          .body_timeout_ms = 300,
                          .keepalive_timeout_ms = 500};
    tc_run(&env, &o, cl_timeouts, NULL);
    assert_int_equal(g_requests, 1);
}

static void cl_drain_inflight(tc_env *env)
{
    tc_resp r;
    int fd = tc_connect(env->port);
    int idle = tc_connect(env->port);
    TC_CHECK(env, fd >= 0 && idle >= 0);
    TC_CHECK(env, tc_sends(fd, "GET /async-slow HTTP/1.1\r\n\r\n") == 0);
    usleep(50000);
    tc_request_drain(env);
    /* the idle connection is closed at once; the in-flight request completes */
    TC_CHECK(env, tc_wait_closed(idle, 1000));
    TC_CHECK(env, tc_read_response(fd, &r) == 0);
    char v[64];
    TC_CHECK(env, r.status == 200 && strcmp(r.body, "async") == 0);
    TC_CHECK(env, tc_header(&r, "Connection", v, sizeof v) && strcmp(v, "close") == 0);
    free(r.body);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    close(idle);
    /* no longer accepting */
    TC_CHECK(env, tc_connect(env->port) < 0);
}

static void test_drain_inflight(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_drain_inflight, NULL);
    assert_int_equal(g_requests, 1);
}

/* drain_idle_ms (a load balancer's pooled connections): after the drain
 * starts, a request arriving on an idle keep-alive connection and one that
 * was still being received are both served (Connection: close); a third idle
 * connection stays open through the grace and is closed after it. */
#define T_DRAIN_IDLE_MS 1500
static void cl_drain_idle_grace(tc_env *env)
{
    tc_resp r;
    char v[64];
    int reuse = tc_connect(env->port);
    int idle = tc_connect(env->port);
    int partial = tc_connect(env->port);
    TC_CHECK(env, reuse >= 0 && idle >= 0 && partial >= 0);
    TC_CHECK(env, tc_sends(reuse, "GET /echo?a=1 HTTP/1.1\r\n\r\n") == 0); /* pooled: used once */
    TC_CHECK(env, tc_read_response(reuse, &r) == 0 && r.status == 200);
    free(r.body);
    TC_CHECK(env, tc_sends(partial, "GET /echo?a=2 HTTP/1.1\r\nX-Half: yes\r\n") == 0);
    usleep(50000);
    uint64_t t0 = uv_hrtime();
    tc_request_drain(env);
    usleep(100000);
    TC_CHECK(env, tc_connect(env->port) < 0); /* the listener is closed at once */
    TC_CHECK(env, tc_sends(reuse, "GET /echo?a=3 HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(reuse, &r) == 0);
    TC_CHECK(env,
             r.status == 200 && tc_header(&r, "X-Query-A", v, sizeof v) && strcmp(v, "3") == 0);
    TC_CHECK(env, tc_header(&r, "Connection", v, sizeof v) && strcmp(v, "close") == 0);
    free(r.body);
    TC_CHECK(env, tc_wait_closed(reuse, 1000));
    TC_CHECK(env, tc_sends(partial, "\r\n") == 0);
    TC_CHECK(env, tc_read_response(partial, &r) == 0);
    TC_CHECK(env,
             r.status == 200 && tc_header(&r, "X-Query-A", v, sizeof v) && strcmp(v, "2") == 0);
    TC_CHECK(env, tc_header(&r, "Connection", v, sizeof v) && strcmp(v, "close") == 0);
    free(r.body);
    TC_CHECK(env, tc_wait_closed(partial, 1000));
    /* the untouched idle connection: open until the grace has passed, then closed */
    int open_ms = (int)(T_DRAIN_IDLE_MS - (uv_hrtime() - t0) / 1000000) - 300;
    if (open_ms > 0) TC_CHECK(env, tc_quiet(idle, open_ms));
    TC_CHECK(env, tc_wait_closed(idle, T_DRAIN_IDLE_MS + 3000));
    /* libuv's timers count whole milliseconds of its cached loop clock (floored): the
     * close may come up to a millisecond before drain start + grace by our clock */
    TC_CHECK(env, (uv_hrtime() - t0) / 1000000 >= T_DRAIN_IDLE_MS - 1);
    close(reuse);
    close(partial);
    close(idle);
}

static void test_drain_idle_grace(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler, .drain_idle_ms = T_DRAIN_IDLE_MS};
    tc_run(&env, &o, cl_drain_idle_grace, NULL);
    assert_int_equal(g_requests, 3);
}

static void cl_ipv6(tc_env *env)
{
    int fd = tc_connect(env->port);
    TC_CHECK(env, fd >= 0);
    tc_resp r;
    char v[64];
    TC_CHECK(env, tc_sends(fd, "GET /echo HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0 && r.status == 200);
    TC_CHECK(env, tc_header(&r, "X-Client", v, sizeof v) && strcmp(v, "::1") == 0);
    free(r.body);
    close(fd);
}

static void test_ipv6(void **state)
{
    (void)state;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int have6 = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof a) == 0;
    if (probe >= 0) close(probe);
    if (!have6) skip();
    reset();
    tc_env env;
    http_server_opts o = {.host = "::1", .on_request = handler};
    tc_run(&env, &o, cl_ipv6, NULL);
    assert_int_equal(g_requests, 1);
}

static void drained_cb(http_server *srv, void *arg)
{
    (void)srv;
    (*(int *)arg)++;
}

static void test_port_busy_and_reuseport(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_server *a, *b, *c, *d;
    char err[256];
    http_server_opts o = {.host = "127.0.0.1", .port = 0, .on_request = handler};
    assert_int_equal(http_server_start(&loop, &o, &a, err, sizeof err), 0);
    o.port = http_server_port(a);
    err[0] = 0;
    assert_int_equal(http_server_start(&loop, &o, &b, err, sizeof err), CD_EEXIST);
    assert_null(b);
    assert_non_null(strstr(err, "address already in use"));
    assert_non_null(strstr(err, "127.0.0.1"));
    /* bad host */
    o.host = "not-an-ip";
    assert_int_equal(http_server_start(&loop, &o, &b, err, sizeof err), CD_EBAD);
    /* SO_REUSEPORT: two listeners on one port */
    o.host = "127.0.0.1";
    o.port = 0;
    o.reuseport = true;
    assert_int_equal(http_server_start(&loop, &o, &c, err, sizeof err), 0);
    o.port = http_server_port(c);
    assert_int_equal(http_server_start(&loop, &o, &d, err, sizeof err), 0);
    /* IPv6 loopback, if the host has it */
    http_server *e = NULL;
    http_server_opts o6 = {.host = "::1", .port = 0, .on_request = handler};
    int r6 = http_server_start(&loop, &o6, &e, err, sizeof err);
    int drained = 0;
    http_server_drain(a, 0, drained_cb, &drained);
    assert_int_equal(http_server_drain(a, 0, drained_cb, &drained), CD_ESTATE);
    http_server_drain(c, 0, drained_cb, &drained);
    http_server_drain(d, 0, drained_cb, &drained);
    if (r6 == 0) http_server_drain(e, 0, drained_cb, &drained);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(drained, r6 == 0 ? 4 : 3);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_pipelining),
        cmocka_unit_test(test_pipeline_flood),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_chunked_continue_errors),
        cmocka_unit_test(test_abort_on_disconnect),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_write_timeout),
        cmocka_unit_test(test_drain_inflight),
        cmocka_unit_test(test_drain_idle_grace),
        cmocka_unit_test(test_port_busy_and_reuseport),
        cmocka_unit_test(test_ipv6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
