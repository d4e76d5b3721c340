/*
 * router.c — the http_server request handler (proto_http_handle): CORS, the
 * routes modules above mount (proto_route_add), the WebSocket upgrade on
 * /graphql (gql_ws.c), GraphQL over HTTP (gql_http.c) and the operational
 * endpoints /healthz, /readyz and /metrics.
 *
 * Every request first gets its request id and log context (respond.c).
 * Order of a request: a mounted route (any method but OPTIONS) → a WebSocket
 * upgrade → a CORS preflight (OPTIONS) → /graphql (and /) → the operational
 * endpoints → 404. CORS headers are sent only to allowed origins
 * (cfg->cors_origins), built once per request in its arena.
 */
#include <stdio.h>
#include <string.h>

#include "core/metrics.h"
#include "protocol/gql_http.h"
#include "protocol/protocol.h"
#include "protocol/respond.h"

#define PROTO_CORS_ALLOW_HEADERS                                                                   \
    "content-type, authorization, user-id, username, apollo-require-preflight, "                   \
    "x-apollo-operation-name, accept, x-request-id"
#define PROTO_CORS_MAX_AGE 86400
#define PROTO_DEFAULT_METHODS "GET, POST, OPTIONS"
#define CT_TEXT "text/plain; charset=utf-8"

/* ---- mounted routes ---- */

int proto_route_add(proto_server *srv, const char *path, const char *methods, proto_route_fn fn,
                    void *ud)
{
    if (!path || !*path || !fn) return CD_EBAD;
    if (srv->nroutes >= PROTO_MAX_ROUTES) return CD_ELIMIT;
    srv->routes[srv->nroutes++] = (proto_route){
        .path = path, .methods = methods ? methods : PROTO_DEFAULT_METHODS, .fn = fn, .ud = ud};
    return 0;
}

int proto_route_stream_post(proto_server *srv, const char *path)
{
    for (unsigned i = 0; i < srv->nroutes; i++) {
        if (strcmp(srv->routes[i].path, path) == 0) {
            srv->routes[i].stream_post = true;
            return 0;
        }
    }
    return CD_ENOENT;
}

bool proto_http_stream(const http_request *req, void *user)
{
    const proto_server *srv = user;
    if (strcmp(req->method, "POST") != 0) return false;
    const proto_route *r = proto_route_match(srv, req->path);
    return r && r->stream_post;
}

const proto_route *proto_route_match(const proto_server *srv, const char *path)
{
    for (unsigned i = 0; i < srv->nroutes; i++) {
        const proto_route *r = &srv->routes[i];
        size_t n = strlen(r->path);
        bool prefix = r->path[n - 1] == '/';
        if (prefix ? strncmp(path, r->path, n) == 0 : strcmp(path, r->path) == 0) return r;
    }
    return NULL;
}

/* ---- CORS ---- */

/* The CORS headers for the request's Origin, or NULL when it sent none or
 * an origin not allowed. */
static char *cors_headers(http_request *req, const cd_config *cfg)
{
    const char *origin = http_req_header(req, "origin");
    if (!origin || !cd_config_origin_allowed(cfg, origin, strlen(origin))) return NULL;
    return cd_arena_sprintf(req->arena,
                            "Access-Control-Allow-Origin: %s\r\n"
                            "Access-Control-Allow-Credentials: true\r\n"
                            "Access-Control-Expose-Headers: X-Request-Id\r\n"
                            "Vary: Origin\r\n",
                            origin);
}

/* OPTIONS: 204 with the Allow list (the route's `methods` on a mounted path),
 * plus the preflight answer for an allowed origin. */
static void handle_preflight(http_request *req, const char *cors, const proto_route *route)
{
    const char *methods = route ? route->methods : PROTO_DEFAULT_METHODS;
    if (!cors) {
        proto_respond(req, 204, NULL, cd_arena_sprintf(req->arena, "Allow: %s\r\n", methods), NULL,
                      0);
        return;
    }
    char *extra = cd_arena_sprintf(req->arena,
                                   "%sAccess-Control-Allow-Methods: %s\r\n"
                                   "Access-Control-Allow-Headers: " PROTO_CORS_ALLOW_HEADERS
                                   "\r\nAccess-Control-Max-Age: %d\r\n",
                                   cors, methods, PROTO_CORS_MAX_AGE);
    proto_respond(req, 204, NULL, extra, NULL, 0);
}

/* ---- WebSocket upgrade ---- */

static void handle_upgrade(proto_server *srv, http_request *req, bool gql_path)
{
    if (!gql_path) {
        proto_respond(req, 404, "text/plain", NULL, "not found\n", 10);
        return;
    }
    const char *origin = http_req_header(req, "origin");
    if (origin && !cd_config_origin_allowed(srv->cfg, origin, strlen(origin))) {
        proto_respond(req, 403, "text/plain", NULL, "origin not allowed\n", 19);
        return;
    }
    if (srv->draining) {
        proto_respond(req, 503, "text/plain", NULL, "draining\n", 9);
        return;
    }
    cd_metrics_http_status(101);
    proto_ws_upgrade(srv, req);
}

/* ---- operational endpoints ---- */

static void handle_healthz(proto_server *srv, http_request *req, const char *cors)
{
    CD_UNUSED(srv);
    proto_respond(req, 200, CT_TEXT, cors, "ok\n", 3);
}

/* The replica's line of /readyz: "" without one. A replica that is down or
 * behind does not make the process unready (reads fall back to the
 * primary); the line says how reads are served. */
static const char *replica_state(const proto_server *srv)
{
    if (!srv->pg_replica) return "";
    if (!pg_pool_ready(srv->pg_replica)) return "replica: down (reads from the primary)\n";
    if (srv->pg_replica_lagging) return "replica: lagging (reads from the primary)\n";
    return "replica: up\n";
}

static void handle_readyz(proto_server *srv, http_request *req, const char *cors)
{
    CD_UNUSED(cors);
    bool pg_ok = !srv->pg || pg_pool_ready(srv->pg);
    bool rd_ok = !srv->rd || rd_ready(srv->rd);
    if (srv->draining) {
        proto_respond(req, 503, CT_TEXT, NULL, "draining\n", 9);
        return;
    }
    char body[160];
    int n;
    if (pg_ok && rd_ok)
        n = snprintf(body, sizeof body, "ready\n%s", replica_state(srv));
    else
        n = snprintf(body, sizeof body, "not ready:%s%s\n%s", pg_ok ? "" : " postgres",
                     rd_ok ? "" : " redis", replica_state(srv));
    proto_respond(req, pg_ok && rd_ok ? 200 : 503, CT_TEXT, NULL, body, (size_t)n);
}

static void handle_metrics(proto_server *srv, http_request *req, const char *cors)
{
    CD_UNUSED(srv);
    CD_UNUSED(cors);
    cd_buf b;
    cd_buf_init(&b);
    cd_metrics_render(&b);
    proto_respond_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, &b);
}

/* GET (or HEAD) only. */
static const struct {
    const char *path;
    void (*fn)(proto_server *srv, http_request *req, const char *cors);
} proto_ops_routes[] = {
    {"/healthz", handle_healthz},
    {"/readyz", handle_readyz},
    {"/metrics", handle_metrics},
};

/* ---- connection caps ---- */

/* The connection of req is over a cap (cfg max_conns / max_conns_per_addr;
 * this connection counted): 503 with Retry-After, then close. Checked on
 * every request, so a WebSocket upgrade over a cap is refused with 503 too
 * (the cap on one user's WebSockets is gql_ws.c's: close 1013). */
static bool refuse_over_cap(proto_server *srv, http_request *req, const char *cors)
{
    const cd_config *cfg = srv->cfg;
    const char *what = NULL;
    if (cfg->max_conns && req->server && http_server_conn_count(req->server) > cfg->max_conns)
        what = "server";
    else if (cfg->max_conns_per_addr && req->server &&
             http_req_addr_conns(req) > cfg->max_conns_per_addr)
        what = "address";
    if (!what) return false;
    char *extra = cd_arena_sprintf(req->arena, "%sRetry-After: %u\r\n", cors ? cors : "",
                                   PROTO_CAP_RETRY_AFTER_S);
    char body[80];
    int n = snprintf(body, sizeof body, "too many connections (%s limit), try again later\n", what);
    http_req_close_after(req);
    proto_respond(req, 503, CT_TEXT, extra, body, (size_t)n);
    return true;
}

/* ---- the handler ---- */

static void route(proto_server *srv, http_request *req)
{
    const char *path = req->path;
    bool gql_path =
        strcmp(path, "/graphql") == 0 || strcmp(path, "/graphql/") == 0 || strcmp(path, "/") == 0;
    bool options = strcmp(req->method, "OPTIONS") == 0;
    char *cors = cors_headers(req, srv->cfg);
    if (refuse_over_cap(srv, req, cors)) return;

    const proto_route *route = proto_route_match(srv, path);
    if (route && !options && route->fn(srv, req, cors, route->ud)) return;
    if (req->is_websocket) {
        handle_upgrade(srv, req, gql_path);
        return;
    }
    if (options) {
        handle_preflight(req, cors, route);
        return;
    }
    if (gql_path) {
        proto_gql_http_handle(srv, req, cors);
        return;
    }
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    for (unsigned i = 0; get && i < CD_ARRAY_LEN(proto_ops_routes); i++) {
        if (strcmp(path, proto_ops_routes[i].path) == 0) {
            proto_ops_routes[i].fn(srv, req, cors);
            return;
        }
    }
    proto_respond(req, 404, CT_TEXT, cors, "not found\n", 10);
}

/* Everything a request does on this turn of the loop logs with its request
 * id; work it queues (PostgreSQL queries) carries the id along (log.h). The
 * request may be completed and freed inside route(): nothing of it is used
 * afterwards. */
void proto_http_handle(http_request *req, void *user)
{
    proto_req_info *ri = proto_req_begin(req);
    cd_log_ctx saved;
    cd_log_ctx_enter(ri ? ri->request_id : NULL, &saved);
    route(user, req);
    cd_log_ctx_leave(&saved);
}
