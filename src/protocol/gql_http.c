/*
 * gql_http.c — GraphQL over HTTP (graphql-over-http spec, as audited by
 * graphql-http's serverAudits): POST and GET on /graphql (and /), handed
 * over by the router (router.c), which also answers CORS preflights.
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
#include "protocol/gql_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/metrics.h"
#include "graphql/graphql.h"
#include "protocol/protocol.h"
#include "protocol/respond.h"

_Static_assert(CD_DEFAULT_MAX_QUERY_COST == GQL_DEFAULT_MAX_COST, "one cost default");
_Static_assert(CD_DEFAULT_MAX_RESPONSE_BYTES == GQL_DEFAULT_MAX_RESPONSE_BYTES,
               "one response byte default");

#define CT_JSON "application/json; charset=utf-8"
#define CT_GQL_RESPONSE "application/graphql-response+json; charset=utf-8"

typedef struct http_op {
    http_request *req;
    proto_server *srv;
    gql_exec *ex;
    bool gql_response; /* answer application/graphql-response+json */
    const char *extra; /* CORS headers (arena) */
    proto_caller caller;
    const char *token_error; /* why the presented token was refused, or NULL */
    uint64_t t0_ns;
} http_op;

/* ---- helpers ---- */

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
    proto_respond_buf(op->req, status, op->gql_response ? CT_GQL_RESPONSE : CT_JSON, extra, &b);
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
    proto_respond_buf(op->req, 200, op->gql_response ? CT_GQL_RESPONSE : CT_JSON, op->extra, &b);
}

static void request_errors(http_op *op)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(op->ex, &b);
    gql_exec_free(op->ex);
    op->ex = NULL;
    cd_metrics_operation(GQL_QUERY, CD_MO_REJECTED, -1);
    proto_respond_buf(op->req, op->gql_response ? 400 : 200,
                      op->gql_response ? CT_GQL_RESPONSE : CT_JSON, op->extra, &b);
}

/* Fills op->caller from the request. A bad token is remembered in
 * op->token_error (a static reason) and decided per operation later, like a
 * missing one: public operations (login, refreshToken, health, ...) still run
 * unauthenticated — a client holding an expired access token must be able
 * to refresh it — everything else answers 401 invalid_token. */
static void identify(http_op *op)
{
    http_request *req = op->req;
    proto_caller_from_request(&op->caller, req->arena, op->srv, req);
    if (op->caller.trust) return;
    const char *h = http_req_header(req, "authorization");
    if (!h || !*h) return;
    const char *tok;
    size_t tl;
    const char *why = "malformed Authorization header";
    if (auth_bearer(h, strlen(h), &tok, &tl) != 0 ||
        proto_caller_verify(&op->caller, req->arena, tok, tl, &why) != 0)
        op->token_error = why;
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

static bool params_from_post(http_op *op, gql_params *p)
{
    http_request *req = op->req;
    if (!content_type_is_json(http_req_header(req, "content-type"))) {
        respond_error(op, 415, "Unsupported Media Type: send application/json", "BAD_REQUEST",
                      NULL);
        return false;
    }
    if (req->body_len == 0) {
        respond_error(op, 400, "Missing request body", "BAD_REQUEST", NULL);
        return false;
    }
    gql_value body;
    char err[160];
    int rc = gql_json_parse(req->arena, req->body, req->body_len, &body, err, sizeof err);
    if (rc != 0) {
        char msg[220];
        snprintf(msg, sizeof msg, "Invalid JSON body: %s", err);
        respond_error(op, 400, msg, "BAD_REQUEST", NULL);
        return false;
    }
    return params_from_object(op, &body, p);
}

/* Token mode, a caller without a valid token and an operation that is not
 * public: 401, saying why the presented token (if any) was refused. */
static void refuse_unauthenticated(http_op *op, gql_op_kind kind)
{
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
}

static void on_abort(http_request *req, void *arg)
{
    CD_UNUSED(req);
    CD_UNUSED(arg);
    /* the run completes on its own and op_done answers: http_respond then
     * only frees the request */
}

void proto_gql_http_handle(proto_server *srv, http_request *req, const char *cors)
{
    const cd_config *cfg = srv->cfg;
    bool is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool is_post = strcmp(req->method, "POST") == 0;
    if (!is_get && !is_post) {
        char *extra =
            cd_arena_sprintf(req->arena, "%sAllow: GET, POST, OPTIONS\r\n", cors ? cors : "");
        proto_respond(req, 405, "text/plain", extra, "method not allowed\n", 19);
        return;
    }
    http_op *op = cd_arena_calloc(req->arena, 1, sizeof *op);
    if (!op) {
        proto_respond(req, 503, "text/plain", NULL, "out of memory\n", 14);
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
    if (!(is_post ? params_from_post(op, &p) : params_from_get(op, &p))) return;
    identify(op);
    proto_req_set_caller(req, &op->caller);

    op->ex = gql_exec_new(srv->schema, srv->cache);
    if (!op->ex) {
        respond_error(op, 503, "Out of memory", "INTERNAL_SERVER_ERROR", NULL);
        return;
    }
    gql_exec_limits lim = {cfg->max_query_cost, cfg->max_response_bytes};
    gql_exec_set_limits(op->ex, &lim);
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
        refuse_unauthenticated(op, kind);
        return;
    }
    http_req_on_abort(req, on_abort, op);
    gql_exec_opts o = {
        .service = srv->service, .context = &op->caller, .no_introspection = !cfg->introspection};
    int rc = gql_exec_run(op->ex, NULL, &o, op_done, op);
    if (rc != 0) respond_error(op, 500, "Execution failed", "INTERNAL_SERVER_ERROR", NULL);
}
