/*
 * gql_http.c — GraphQL over HTTP (graphql-over-http spec, as audited by
 * graphql-http's serverAudits) plus the operational routes.
 *
 * Routes: POST/GET /graphql (and /), OPTIONS (CORS preflight), WebSocket
 * upgrade on /graphql (gql_ws.c), GET /healthz, /readyz, /metrics.
 *
 * Media types: application/graphql-response+json when the client accepts it
 * (then request errors are 400), else application/json (request errors 200,
 * as the spec's legacy rules say). Protocol-level failures (bad JSON, missing
 * query, bad parameter types) are 400 in both. GET runs queries only (a
 * mutation → 405 with Allow: POST).
 *
 * Per request state (http_op) lives in the request's arena; the gql_exec is
 * freed in the done callback, which also completes the request (an aborted
 * request is completed the same way: http_respond then only frees it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/metrics.h"
#include "graphql/gql_internal.h"
#include "net/ws.h"
#include "protocol/protocol.h"

#define CT_JSON "application/json; charset=utf-8"
#define CT_GQL_RESPONSE "application/graphql-response+json; charset=utf-8"
#define PROTO_CORS_ALLOW_HEADERS                                                                   \
    "content-type, authorization, user-id, username, apollo-require-preflight, "                   \
    "x-apollo-operation-name, accept"
#define PROTO_CORS_MAX_AGE 86400
#define PROTO_MAX_EXTRA_HEADERS 1024u

typedef struct http_op {
    http_request *req;
    proto_server *srv;
    gql_exec *ex;
    bool gql_response; /* answer application/graphql-response+json */
    char *extra;       /* CORS headers (arena) */
    proto_caller caller;
    const char *token_error; /* why the presented token was refused, or NULL */
    uint64_t t0_ns;
} http_op;

/* ---- helpers ---- */

void proto_caller_init(proto_caller *c, proto_server *srv)
{
    memset(c, 0, sizeof *c);
    c->srv = srv;
    c->user_id = c->username = c->client_ip = "";
}

static const char **caller_field(proto_caller *c, proto_caller_field f, size_t *max)
{
    switch (f) {
    case PROTO_CALLER_USER_ID:
        *max = PROTO_MAX_USER_ID;
        return &c->user_id;
    case PROTO_CALLER_USERNAME:
        *max = PROTO_MAX_USERNAME;
        return &c->username;
    case PROTO_CALLER_CLIENT_IP:
    default:
        *max = PROTO_MAX_CLIENT_IP;
        return &c->client_ip;
    }
}

/* A caller uses one mode for all its strings: arena (HTTP requests) or heap
 * (WebSocket connections, released by proto_caller_free). */
int proto_caller_set(proto_caller *c, cd_arena *a, proto_caller_field f, const char *s, size_t len)
{
    size_t max;
    const char **dst = caller_field(c, f, &max);
    if (!a && **dst) cd_free((void *)*dst);
    *dst = "";
    if (len == 0 || len > max) return 0;
    char *copy = a ? cd_arena_strndup(a, s, len) : cd_malloc(len + 1);
    if (!copy) return CD_ENOMEM;
    if (!a) {
        memcpy(copy, s, len);
        copy[len] = 0;
    }
    *dst = copy;
    return 0;
}

void proto_caller_free(proto_caller *c)
{
    const char **fs[] = {&c->user_id, &c->username, &c->client_ip};
    for (unsigned i = 0; i < CD_ARRAY_LEN(fs); i++) {
        if (**fs[i]) cd_free((void *)*fs[i]);
        *fs[i] = "";
    }
}

void proto_write_error_json(cd_buf *out, const char *msg, const char *code)
{
    cd_buf_puts(out, "{\"errors\":[{\"message\":");
    cd_buf_json_str(out, msg, strlen(msg));
    if (code) {
        cd_buf_puts(out, ",\"extensions\":{\"code\":");
        cd_buf_json_str(out, code, strlen(code));
        cd_buf_puts(out, "}");
    }
    cd_buf_puts(out, "}]}");
}

static const char *const proto_public_fields[] = {
    "health", "__typename", "__schema", "__type", "createUser", "login", "refreshToken",
};

bool proto_field_is_public(const char *name)
{
    for (unsigned i = 0; i < CD_ARRAY_LEN(proto_public_fields); i++)
        if (strcmp(name, proto_public_fields[i]) == 0) return true;
    return false;
}

static const gql_fragment *find_fragment(const gql_document *d, const char *name)
{
    for (uint32_t i = 0; i < d->ndefs; i++)
        if (d->defs[i].kind == GQL_DEF_FRAGMENT && strcmp(d->defs[i].u.frag->name, name) == 0)
            return d->defs[i].u.frag;
    return NULL;
}

static bool selection_public(const gql_document *d, const gql_selection_set *ss, unsigned depth)
{
    if (!ss) return true;
    if (depth > 16) return false; /* fragment cycles are validation errors anyway */
    for (uint32_t i = 0; i < ss->n; i++) {
        const gql_selection *s = &ss->items[i];
        if (s->kind == GQL_SEL_FIELD) {
            if (!proto_field_is_public(s->name)) return false;
        } else if (s->kind == GQL_SEL_INLINE_FRAGMENT) {
            if (!selection_public(d, s->sel, depth + 1)) return false;
        } else {
            const gql_fragment *f = find_fragment(d, s->name);
            if (!f || !selection_public(d, f->sel, depth + 1)) return false;
        }
    }
    return true;
}

bool proto_operation_is_public(proto_server *srv, const char *query, size_t len,
                               const char *operation_name)
{
    /* the document is cached by gql_exec_prepare: this is a lookup */
    gql_cached_doc *cd = gql_cache_get(srv->cache, srv->schema, query, len);
    if (!cd) return false;
    bool pub = false;
    const gql_document *d = cd->doc;
    if (d) {
        const gql_operation *op = NULL;
        for (uint32_t i = 0; i < d->ndefs; i++) {
            if (d->defs[i].kind != GQL_DEF_OPERATION) continue;
            const gql_operation *o = d->defs[i].u.op;
            if (!operation_name || (o->name && strcmp(o->name, operation_name) == 0)) {
                op = o;
                break;
            }
        }
        pub = op && selection_public(d, op->sel, 0);
    }
    gql_cached_doc_release(cd);
    return pub;
}

/* Parses Accept: returns 1 for graphql-response+json, 0 for json, -1 when
 * neither is acceptable. Absent/empty Accept → json. */
static int pick_media(const char *accept)
{
    if (!accept || !*accept) return 0;
    double q_gql = -1, q_json = -1, q_any = -1;
    const char *p = accept;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ';')
            p++;
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        double q = 1.0;
        while (*p == ';') {
            p++;
            while (*p == ' ')
                p++;
            if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') q = strtod(p + 2, NULL);
            while (*p && *p != ';' && *p != ',')
                p++;
        }
        size_t n = (size_t)(end - start);
#define IS(lit) (n == sizeof(lit) - 1 && strncasecmp(start, lit, n) == 0)
        if (IS("application/graphql-response+json"))
            q_gql = q;
        else if (IS("application/json"))
            q_json = q;
        else if (IS("*/*") || IS("application/*"))
            q_any = q > q_any ? q : q_any;
#undef IS
    }
    if (q_gql > 0 && q_gql >= q_json) return 1;
    if (q_json > 0 || q_any > 0) return 0;
    return -1;
}

static char *cors_headers(http_request *req, const cd_config *cfg)
{
    const char *origin = http_req_header(req, "origin");
    if (!origin || !cd_config_origin_allowed(cfg, origin, strlen(origin))) return NULL;
    return cd_arena_sprintf(req->arena,
                            "Access-Control-Allow-Origin: %s\r\n"
                            "Access-Control-Allow-Credentials: true\r\n"
                            "Vary: Origin\r\n",
                            origin);
}

static void access_log(const http_request *req, int status, size_t len)
{
    cd_debug("http", "%s %s %d %zu bytes ip=%s", req->method, req->path, status, len,
             req->client_ip ? req->client_ip : "?");
}

static void respond(http_request *req, int status, const char *ct, const char *extra,
                    const char *body, size_t len)
{
    access_log(req, status, len);
    cd_metrics_http_status(status);
    http_respond(req, status, ct, extra, body, len);
}

static void respond_buf(http_request *req, int status, const char *ct, const char *extra, cd_buf *b)
{
    if (cd_buf_failed(b)) {
        cd_buf_free(b);
        respond(req, 500, "text/plain", extra, "out of memory\n", 14);
        return;
    }
    cd_metrics_http_status(status);
    size_t len;
    char *data = cd_buf_steal(b, &len);
    access_log(req, status, len);
    http_respond_buf(req, status, ct, extra, data, len);
}

static void respond_error(http_op *op, int status, const char *msg, const char *code,
                          const char *more_headers)
{
    cd_buf b;
    cd_buf_init(&b);
    proto_write_error_json(&b, msg, code);
    const char *extra = op->extra;
    if (more_headers)
        extra = cd_arena_sprintf(op->req->arena, "%s%s", op->extra ? op->extra : "", more_headers);
    if (op->ex) {
        gql_exec_free(op->ex);
        op->ex = NULL;
    }
    respond_buf(op->req, status, op->gql_response ? CT_GQL_RESPONSE : CT_JSON, extra, &b);
}

/* ---- GraphQL ---- */

static void op_done(gql_exec *ex, void *ud)
{
    http_op *op = ud;
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    uint32_t nerr = 0;
    gql_exec_errors(ex, &nerr);
    gql_op_kind kind = gql_exec_op(ex);
    gql_exec_free(ex);
    op->ex = NULL;
    cd_metrics_operation((int)kind, nerr ? CD_MO_ERROR : CD_MO_OK,
                         (double)(uv_hrtime() - op->t0_ns) / 1e9);
    respond_buf(op->req, 200, op->gql_response ? CT_GQL_RESPONSE : CT_JSON, op->extra, &b);
}

static void request_errors(http_op *op)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(op->ex, &b);
    gql_exec_free(op->ex);
    op->ex = NULL;
    cd_metrics_operation(GQL_QUERY, CD_MO_REJECTED, -1);
    respond_buf(op->req, op->gql_response ? 400 : 200, op->gql_response ? CT_GQL_RESPONSE : CT_JSON,
                op->extra, &b);
}

/* Fills op->caller from the request. A bad token is remembered in
 * op->token_error (a static reason) and decided per operation later, like a
 * missing one: public operations (login, refreshToken, health, ...) still run
 * unauthenticated — a client holding an expired access token must be able
 * to refresh it — everything else answers 401 invalid_token. */
static void identify(http_op *op)
{
    const cd_config *cfg = op->srv->cfg;
    proto_caller *c = &op->caller;
    proto_caller_init(c, op->srv);
    c->trust = cfg->auth == CD_AUTH_TRUST;
    http_request *req = op->req;
    if (req->client_ip)
        proto_caller_set(c, req->arena, PROTO_CALLER_CLIENT_IP, req->client_ip,
                         strlen(req->client_ip));
    if (c->trust) {
        const char *u = http_req_header(req, "user-id");
        const char *n = http_req_header(req, "username");
        if (u) proto_caller_set(c, req->arena, PROTO_CALLER_USER_ID, u, strlen(u));
        if (n) proto_caller_set(c, req->arena, PROTO_CALLER_USERNAME, n, strlen(n));
        return;
    }
    const char *h = http_req_header(req, "authorization");
    if (!h || !*h) return;
    const char *tok;
    size_t tl;
    auth_identity id;
    const char *why = "malformed Authorization header";
    if (auth_bearer(h, strlen(h), &tok, &tl) != 0 ||
        auth_verify(cfg->jwt_secret, tok, tl, 0, &id, &why) != 0) {
        op->token_error = why;
        return;
    }
    c->authenticated = true;
    proto_caller_set(c, req->arena, PROTO_CALLER_USER_ID, id.sub, strlen(id.sub));
    proto_caller_set(c, req->arena, PROTO_CALLER_USERNAME, id.username, strlen(id.username));
    c->token_exp = id.exp;
}

/* Reads {query, operationName, variables, extensions} from a JSON body or
 * GET parameters. Returns false after answering 400. */
typedef struct gql_params {
    const char *query;
    size_t query_len;
    const char *operation_name;
    const gql_value *variables;
} gql_params;

static bool params_from_object(http_op *op, const gql_value *body, gql_params *p)
{
    if (body->kind != GQL_V_OBJECT) {
        respond_error(op, 400, "The request body must be a JSON object", "BAD_REQUEST", NULL);
        return false;
    }
    const gql_value *q = gql_obj_get(body, "query");
    if (!q || q->kind == GQL_V_NULL) {
        respond_error(op, 400, "Missing query", "BAD_REQUEST", NULL);
        return false;
    }
    if (q->kind != GQL_V_STRING) {
        respond_error(op, 400, "The \"query\" parameter must be a string", "BAD_REQUEST", NULL);
        return false;
    }
    p->query = q->u.s;
    p->query_len = q->len;
    const gql_value *n = gql_obj_get(body, "operationName");
    if (n && n->kind != GQL_V_NULL && n->kind != GQL_V_STRING) {
        respond_error(op, 400, "The \"operationName\" parameter must be a string", "BAD_REQUEST",
                      NULL);
        return false;
    }
    p->operation_name = (n && n->kind == GQL_V_STRING) ? n->u.s : NULL;
    const gql_value *v = gql_obj_get(body, "variables");
    if (v && v->kind != GQL_V_NULL && v->kind != GQL_V_OBJECT) {
        respond_error(op, 400, "The \"variables\" parameter must be an object", "BAD_REQUEST",
                      NULL);
        return false;
    }
    p->variables = (v && v->kind == GQL_V_OBJECT) ? v : NULL;
    const gql_value *e = gql_obj_get(body, "extensions");
    if (e && e->kind != GQL_V_NULL && e->kind != GQL_V_OBJECT) {
        respond_error(op, 400, "The \"extensions\" parameter must be an object", "BAD_REQUEST",
                      NULL);
        return false;
    }
    return true;
}

static bool params_from_get(http_op *op, gql_params *p)
{
    http_request *req = op->req;
    const char *q;
    size_t ql;
    int rc = http_req_query_param(req, "query", &q, &ql);
    if (rc == CD_ENOENT) {
        respond_error(op, 400, "Missing query", "BAD_REQUEST", NULL);
        return false;
    }
    if (rc != 0) {
        respond_error(op, 400, "Malformed query string", "BAD_REQUEST", NULL);
        return false;
    }
    p->query = q;
    p->query_len = ql;
    const char *n;
    size_t nl;
    p->operation_name = NULL;
    if (http_req_query_param(req, "operationName", &n, &nl) == 0 && nl) p->operation_name = n;
    const char *v;
    size_t vl;
    p->variables = NULL;
    if (http_req_query_param(req, "variables", &v, &vl) == 0 && vl) {
        gql_value *val = cd_arena_alloc(req->arena, sizeof *val);
        char err[128];
        if (!val || gql_json_parse(req->arena, v, vl, val, err, sizeof err) != 0 ||
            (val->kind != GQL_V_OBJECT && val->kind != GQL_V_NULL)) {
            respond_error(op, 400, "The \"variables\" parameter must be a JSON object",
                          "BAD_REQUEST", NULL);
            return false;
        }
        if (val->kind == GQL_V_OBJECT) p->variables = val;
    }
    return true;
}

static bool content_type_is_json(const char *ct)
{
    if (!ct) return false;
    while (*ct == ' ')
        ct++;
    static const char json[] = "application/json";
    size_t n = sizeof json - 1;
    if (strncasecmp(ct, json, n) != 0) return false;
    return ct[n] == 0 || ct[n] == ';' || ct[n] == ' ';
}

static void on_abort(http_request *req, void *arg)
{
    CD_UNUSED(req);
    CD_UNUSED(arg);
    /* the run completes on its own and op_done answers: http_respond then
     * only frees the request */
}

static void handle_graphql(proto_server *srv, http_request *req, char *cors)
{
    const cd_config *cfg = srv->cfg;
    bool is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool is_post = strcmp(req->method, "POST") == 0;
    if (!is_get && !is_post) {
        char *extra =
            cd_arena_sprintf(req->arena, "%sAllow: GET, POST, OPTIONS\r\n", cors ? cors : "");
        respond(req, 405, "text/plain", extra, "method not allowed\n", 19);
        return;
    }
    http_op *op = cd_arena_calloc(req->arena, 1, sizeof *op);
    if (!op) {
        respond(req, 503, "text/plain", NULL, "out of memory\n", 14);
        return;
    }
    op->req = req;
    op->srv = srv;
    op->extra = cors;
    op->t0_ns = uv_hrtime();
    int media = pick_media(http_req_header(req, "accept"));
    if (media < 0) {
        respond_error(op, 406,
                      "Not acceptable: use application/graphql-response+json or application/json",
                      "BAD_REQUEST", NULL);
        return;
    }
    op->gql_response = media == 1;
    if (req->body_len > cfg->max_body) {
        respond_error(op, 413, "Request body too large", "PAYLOAD_TOO_LARGE", NULL);
        return;
    }

    gql_params p = {0};
    if (is_post) {
        if (!content_type_is_json(http_req_header(req, "content-type"))) {
            respond_error(op, 415, "Unsupported Media Type: send application/json", "BAD_REQUEST",
                          NULL);
            return;
        }
        if (req->body_len == 0) {
            respond_error(op, 400, "Missing request body", "BAD_REQUEST", NULL);
            return;
        }
        gql_value body;
        char err[160];
        int rc = gql_json_parse(req->arena, req->body, req->body_len, &body, err, sizeof err);
        if (rc != 0) {
            char msg[220];
            snprintf(msg, sizeof msg, "Invalid JSON body: %s", err);
            respond_error(op, 400, msg, "BAD_REQUEST", NULL);
            return;
        }
        if (!params_from_object(op, &body, &p)) return;
    } else if (!params_from_get(op, &p)) {
        return;
    }

    identify(op);

    op->ex = gql_exec_new(srv->schema, srv->cache);
    if (!op->ex) {
        respond_error(op, 503, "Out of memory", "INTERNAL_SERVER_ERROR", NULL);
        return;
    }
    if (gql_exec_prepare(op->ex, p.query, p.query_len, p.operation_name) != 0) {
        request_errors(op);
        return;
    }
    gql_op_kind kind = gql_exec_op(op->ex);
    if (is_get && kind != GQL_QUERY) {
        respond_error(op, 405, "Only queries are served over GET; use POST", "BAD_REQUEST",
                      "Allow: POST\r\n");
        return;
    }
    if (kind == GQL_SUBSCRIPTION) {
        respond_error(op, op->gql_response ? 400 : 200,
                      "Subscriptions are served over WebSocket (graphql-transport-ws) on /graphql",
                      "BAD_REQUEST", NULL);
        return;
    }
    if (gql_exec_set_variables(op->ex, p.variables) != 0) {
        request_errors(op);
        return;
    }
    if (cfg->auth == CD_AUTH_TOKEN && !op->caller.authenticated &&
        !proto_operation_is_public(srv, p.query, p.query_len, p.operation_name)) {
        cd_metrics_operation((int)kind, CD_MO_REJECTED, -1);
        if (op->token_error) {
            char msg[160];
            snprintf(msg, sizeof msg, "Invalid access token: %s", op->token_error);
            respond_error(op, 401, msg, "UNAUTHENTICATED",
                          "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n");
        } else {
            respond_error(op, 401, "Authentication required: send Authorization: Bearer <token>",
                          "UNAUTHENTICATED", "WWW-Authenticate: Bearer\r\n");
        }
        return;
    }
    http_req_on_abort(req, on_abort, op);
    gql_exec_opts o = {
        .service = srv->service, .context = &op->caller, .no_introspection = !cfg->introspection};
    int rc = gql_exec_run(op->ex, NULL, &o, op_done, op);
    if (rc != 0) respond_error(op, 500, "Execution failed", "INTERNAL_SERVER_ERROR", NULL);
}

/* ---- operational routes ---- */

static void handle_readyz(proto_server *srv, http_request *req)
{
    bool pg_ok = !srv->pg || pg_pool_ready(srv->pg);
    bool rd_ok = !srv->rd || rd_ready(srv->rd);
    if (srv->draining) {
        respond(req, 503, "text/plain; charset=utf-8", NULL, "draining\n", 9);
        return;
    }
    if (pg_ok && rd_ok) {
        respond(req, 200, "text/plain; charset=utf-8", NULL, "ready\n", 6);
        return;
    }
    char body[96];
    int n = snprintf(body, sizeof body, "not ready:%s%s\n", pg_ok ? "" : " postgres",
                     rd_ok ? "" : " redis");
    respond(req, 503, "text/plain; charset=utf-8", NULL, body, (size_t)n);
}

static void handle_metrics(proto_server *srv, http_request *req)
{
    CD_UNUSED(srv);
    cd_buf b;
    cd_buf_init(&b);
    cd_metrics_render(&b);
    respond_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, &b);
}

void proto_http_handle(http_request *req, void *user)
{
    proto_server *srv = user;
    const char *path = req->path;
    bool gql_path =
        strcmp(path, "/graphql") == 0 || strcmp(path, "/graphql/") == 0 || strcmp(path, "/") == 0;
    char *cors = cors_headers(req, srv->cfg);

    /* routes mounted by modules above (the seed-003 API: proto_route_add) */
    const proto_route *route = proto_route_match(srv, path);
    if (route && strcmp(req->method, "OPTIONS") != 0 && route->fn(srv, req, cors, route->ud))
        return;

    if (req->is_websocket) {
        if (!gql_path) {
            respond(req, 404, "text/plain", NULL, "not found\n", 10);
            return;
        }
        const char *origin = http_req_header(req, "origin");
        if (origin && !cd_config_origin_allowed(srv->cfg, origin, strlen(origin))) {
            respond(req, 403, "text/plain", NULL, "origin not allowed\n", 19);
            return;
        }
        if (srv->draining) {
            respond(req, 503, "text/plain", NULL, "draining\n", 9);
            return;
        }
        cd_metrics_http_status(101);
        proto_ws_upgrade(srv, req);
        return;
    }
    if (strcmp(req->method, "OPTIONS") == 0) {
        const char *methods = route ? route->methods : "GET, POST, OPTIONS";
        if (!cors) {
            respond(req, 204, NULL, cd_arena_sprintf(req->arena, "Allow: %s\r\n", methods), NULL,
                    0);
            return;
        }
        char *extra = cd_arena_sprintf(req->arena,
                                       "%sAccess-Control-Allow-Methods: %s\r\n"
                                       "Access-Control-Allow-Headers: " PROTO_CORS_ALLOW_HEADERS
                                       "\r\nAccess-Control-Max-Age: %d\r\n",
                                       cors, methods, PROTO_CORS_MAX_AGE);
        respond(req, 204, NULL, extra, NULL, 0);
        return;
    }
    if (gql_path) {
        handle_graphql(srv, req, cors);
        return;
    }
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (get && strcmp(path, "/healthz") == 0) {
        respond(req, 200, "text/plain; charset=utf-8", cors, "ok\n", 3);
    } else if (get && strcmp(path, "/readyz") == 0) {
        handle_readyz(srv, req);
    } else if (get && strcmp(path, "/metrics") == 0) {
        handle_metrics(srv, req);
    } else {
        respond(req, 404, "text/plain; charset=utf-8", cors, "not found\n", 10);
    }
}
