/*
 * rest.c — the seed-003 REST API (compat_internal.h, docs/api.md):
 *   POST   /api/v1/auth/login              {username, password}   (user role)
 *   GET    /api/v1/chat/rooms                                       (receiver)
 *   GET    /api/v1/chat/rooms/:id/messages?limit&beforeSequenceId   (receiver)
 *   GET    /api/v1/chat/rooms/:id/unread                            (receiver)
 *   GET    /api/v1/chat/rooms/:id/online                            (receiver)
 *   POST   /api/v1/chat/rooms/:id/read     {sequenceId}             (sender)
 *   POST   /api/v1/chat/direct             {targetUserId}           (sender)
 *   DELETE /api/v1/chat/rooms/:id/cleanup?keep=N   admin only       (sender)
 * Each route runs one fixed GraphQL operation in-process (compat_gql) as
 * the caller, except the admin check and the retention cleanup, which are
 * one SQL statement each (db/migrations/0004_admin.sql). Errors are JSON
 * {"error":{"code","message"},"statusCode"} with the GraphQL error code
 * mapped to an HTTP status (compat_status_for).
 *
 * Memory: a rest_op and everything it points to live in the request arena;
 * the request is completed exactly once (respond_*), also after an abort.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "compat/compat_internal.h"
#include "core/log.h"
#include "core/metrics.h"

typedef enum rest_route {
    R_LOGIN,
    R_ROOMS,
    R_MESSAGES,
    R_UNREAD,
    R_ONLINE,
    R_READ,
    R_DIRECT,
    R_CLEANUP
} rest_route;

typedef struct rest_op {
    proto_server *srv;
    http_request *req;
    const char *cors;
    proto_caller caller;
    rest_route route;
    const char *room;       /* NUL-terminated chat id (rooms/:id routes) */
    int64_t n;              /* limit / sequenceId / keep */
    int64_t before;         /* beforeSequenceId, -1 = none */
    const char *login_json; /* login: the response until isAdmin is known */
} rest_op;

static void respond_buf(rest_op *op, int status, cd_buf *b)
{
    cd_metrics_http_status(status);
    if (cd_buf_failed(b)) {
        cd_buf_free(b);
        static const char oom[] = "{\"error\":{\"code\":\"INTERNAL_SERVER_ERROR\",\"message\":"
                                  "\"out of memory\"},\"statusCode\":500}";
        http_respond(op->req, 500, "application/json", op->cors, oom, sizeof oom - 1);
        return;
    }
    size_t len;
    char *data = cd_buf_steal(b, &len);
    cd_debug("compat", "%s %s %d", op->req->method, op->req->path, status);
    http_respond_buf(op->req, status, "application/json; charset=utf-8", op->cors, data, len);
}

static void respond_error(rest_op *op, int status, const char *code, const char *msg)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"error\":{\"code\":");
    cd_buf_json_str(&b, code, strlen(code));
    cd_buf_puts(&b, ",\"message\":");
    cd_buf_json_str(&b, msg, strlen(msg));
    cd_buf_printf(&b, "},\"statusCode\":%d}", status);
    respond_buf(op, status, &b);
}

/* Answers a failed operation; true when r carried an error (or no data). */
static bool failed(rest_op *op, const compat_result *r)
{
    if (r->err_code) {
        respond_error(op, compat_status_for(r->err_code), r->err_code,
                      r->err_msg ? r->err_msg : "error");
        return true;
    }
    if (!r->data) {
        respond_error(op, 500, "INTERNAL_SERVER_ERROR", "no result");
        return true;
    }
    return false;
}

static bool uuid_ok(const char *s, size_t n)
{
    if (n != 36) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

/* Reads a non-negative integer query parameter. 1 = present, 0 = absent,
 * -1 = malformed. */
static int int_param(http_request *req, const char *name, int64_t *out)
{
    const char *v;
    size_t n;
    int rc = http_req_query_param(req, name, &v, &n);
    if (rc == CD_ENOENT) return 0;
    if (rc != 0 || n == 0 || n > 12) return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 1;
}

/* Parses the JSON body into an OBJECT (request arena). NULL after a 400. */
static const gql_value *body_object(rest_op *op)
{
    gql_value *v = cd_arena_alloc(op->req->arena, sizeof *v);
    char err[128];
    if (!v ||
        gql_json_parse(op->req->arena, op->req->body, op->req->body_len, v, err, sizeof err) != 0 ||
        v->kind != GQL_V_OBJECT) {
        respond_error(op, 400, "BAD_REQUEST", "The request body must be a JSON object");
        return NULL;
    }
    return v;
}

/* JSON object text {"k":"v",...} from pairs (string values). */
static char *vars_str(cd_arena *a, const char *k1, const char *v1, const char *k2, const char *v2)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_putc(&b, '{');
    cd_buf_printf(&b, "\"%s\":", k1);
    cd_buf_json_str(&b, v1, strlen(v1));
    if (k2) {
        cd_buf_printf(&b, ",\"%s\":", k2);
        cd_buf_json_str(&b, v2, strlen(v2));
    }
    cd_buf_putc(&b, '}');
    char *s = cd_buf_failed(&b) ? NULL : cd_arena_strndup(a, b.data, b.len);
    cd_buf_free(&b);
    return s;
}

static void run(rest_op *op, const char *query, const char *vars, compat_gql_cb cb)
{
    if (!vars || compat_gql(op->srv, &op->caller, query, vars, cb, op) != 0)
        respond_error(op, 500, "INTERNAL_SERVER_ERROR", "out of memory");
}

/* ---- login ---- */

static void login_admin_done(const pg_result *r, void *ud)
{
    rest_op *op = ud;
    bool admin = r->status == 0 && pg_result_rows(r) == 1 && pg_result_get(r, 0, 0) &&
                 pg_result_get(r, 0, 0)[0] == 't';
    /* login_json ends with the user object's closing "}}" */
    cd_buf b;
    cd_buf_init(&b);
    size_t n = strlen(op->login_json);
    cd_buf_append(&b, op->login_json, n - 2);
    cd_buf_printf(&b, ",\"isAdmin\":%s}}", admin ? "true" : "false");
    respond_buf(op, 200, &b);
}

static void login_done(const compat_result *r, void *ud)
{
    rest_op *op = ud;
    if (r->err_code && strcmp(r->err_code, "BAD_USER_INPUT") == 0) {
        respond_error(op, 400, r->err_code, r->err_msg);
        return;
    }
    if (failed(op, r)) return;
    const gql_value *p = gql_obj_get(r->data, "login");
    const gql_value *user = p && p->kind == GQL_V_OBJECT ? gql_obj_get(p, "user") : NULL;
    const char *uid = compat_str(user, "id");
    if (!uid) {
        respond_error(op, 401, "UNAUTHENTICATED", "Invalid username or password");
        return;
    }
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"token\":");
    gql_json_write(&b, gql_obj_get(p, "token"));
    cd_buf_puts(&b, ",\"refreshToken\":");
    gql_json_write(&b, gql_obj_get(p, "refreshToken"));
    cd_buf_puts(&b, ",\"user\":");
    gql_json_write(&b, user);
    cd_buf_puts(&b, "}");
    if (cd_buf_failed(&b) || !op->srv->pg) {
        respond_buf(op, 200, &b);
        return;
    }
    op->login_json = cd_arena_strndup(op->req->arena, b.data, b.len);
    cd_buf_free(&b);
    const char *params[1] = {cd_arena_strdup(op->req->arena, uid)};
    if (!op->login_json || !params[0] ||
        pg_pool_query(op->srv->pg, "SELECT is_admin FROM users WHERE id = $1::uuid", 1, params,
                      login_admin_done, op) != 0)
        respond_error(op, 500, "INTERNAL_SERVER_ERROR", "could not read the account");
}

static void do_login(rest_op *op)
{
    const gql_value *body = body_object(op);
    if (!body) return;
    const char *u = compat_str(body, "username");
    const char *p = compat_str(body, "password");
    if (!u || !p) {
        respond_error(op, 400, "BAD_USER_INPUT", "username and password are required strings");
        return;
    }
    run(op,
        "mutation($u:String!,$p:String!){login(username:$u,password:$p){token refreshToken "
        "user{id username email displayName isActive createdAt updatedAt}}}",
        vars_str(op->req->arena, "u", u, "p", p), login_done);
}

/* ---- reads ---- */

static void rooms_done(const compat_result *r, void *ud)
{
    rest_op *op = ud;
    if (failed(op, r)) return;
    const gql_value *l = gql_obj_get(r->data, "chats");
    uint32_t n = l && l->kind == GQL_V_LIST ? l->len : 0;
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"rooms\":[");
    for (uint32_t i = 0; i < n; i++) {
        if (i) cd_buf_putc(&b, ',');
        compat_write_room(&b, &l->u.items[i]);
    }
    cd_buf_printf(&b, "],\"count\":%u}", n);
    respond_buf(op, 200, &b);
}

static void messages_done(const compat_result *r, void *ud)
{
    rest_op *op = ud;
    if (failed(op, r)) return;
    const gql_value *l = gql_obj_get(r->data, "messages");
    const gql_value *c = gql_obj_get(r->data, "chat");
    uint32_t n = l && l->kind == GQL_V_LIST ? l->len : 0;
    /* one more than the page was asked for: its presence means hasMore;
     * the list is in seq order, so the extra one is the oldest */
    uint32_t skip = n > (uint32_t)op->n ? n - (uint32_t)op->n : 0;
    bool more = skip > 0 || (op->n == COMPAT_MESSAGES_MAX && n == COMPAT_MESSAGES_MAX);
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"roomId\":");
    cd_buf_json_str(&b, op->room, strlen(op->room));
    cd_buf_puts(&b, ",\"messages\":[");
    for (uint32_t i = skip; i < n; i++) {
        if (i > skip) cd_buf_putc(&b, ',');
        compat_write_message(&b, &l->u.items[i]);
    }
    cd_buf_printf(&b, "],\"count\":%u,\"unreadCount\":", n - skip);
    const gql_value *u = c && c->kind == GQL_V_OBJECT ? gql_obj_get(c, "unreadCount") : NULL;
    if (u)
        gql_json_write(&b, u);
    else
        cd_buf_puts(&b, "0");
    cd_buf_printf(&b, ",\"hasMore\":%s}", more ? "true" : "false");
    respond_buf(op, 200, &b);
}

static void unread_done(const compat_result *r, void *ud)
{
    rest_op *op = ud;
    if (failed(op, r)) return;
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"roomId\":");
    cd_buf_json_str(&b, op->room, strlen(op->room));
    cd_buf_puts(&b, ",\"unreadCount\":");
    gql_json_write(&b, gql_obj_get(r->data, "unreadCount"));
    cd_buf_puts(&b, "}");
    respond_buf(op, 200, &b);
}

static void online_done(const compat_result *r, void *ud)
{
    rest_op *op = ud;
    if (failed(op, r)) return;
    const gql_value *l = gql_obj_get(r->data, "onlineUsers");
    uint32_t n = l && l->kind == GQL_V_LIST ? l->len : 0;
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"roomId\":");
    cd_buf_json_str(&b, op->room, strlen(op->room));
    cd_buf_puts(&b, ",\"onlineUsers\":[");
    for (uint32_t i = 0; i < n; i++) {
        if (i) cd_buf_putc(&b, ',');
        const char *id = compat_str(&l->u.items[i], "id");
        if (id)
            cd_buf_json_str(&b, id, strlen(id));
        else
            cd_buf_puts(&b, "null");
    }
    cd_buf_printf(&b, "],\"count\":%u}", n);
    respond_buf(op, 200, &b);
}

/* ---- writes ---- */

static void read_done(const compat_result *r, void *ud)
{
    rest_op *op = ud;
    if (failed(op, r)) return;
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"success\":true,\"roomId\":");
    cd_buf_json_str(&b, op->room, strlen(op->room));
    cd_buf_printf(&b, ",\"markedUpTo\":%lld,\"unreadCount\":", (long long)op->n);
    gql_json_write(&b, gql_obj_get(r->data, "markChatAsRead"));
    cd_buf_puts(&b, "}");
    respond_buf(op, 200, &b);
}

static void direct_room_done(const compat_result *r, void *ud)
{
    rest_op *op = ud;
    if (failed(op, r)) return;
    const gql_value *c = gql_obj_get(r->data, "chat");
    const gql_value *l = gql_obj_get(r->data, "messages");
    uint32_t n = l && l->kind == GQL_V_LIST ? l->len : 0;
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"room\":");
    compat_write_room(&b, c);
    cd_buf_puts(&b, ",\"messages\":[");
    for (uint32_t i = 0; i < n; i++) {
        if (i) cd_buf_putc(&b, ',');
        compat_write_message(&b, &l->u.items[i]);
    }
    cd_buf_puts(&b, "],\"unreadCount\":");
    const gql_value *u = c && c->kind == GQL_V_OBJECT ? gql_obj_get(c, "unreadCount") : NULL;
    if (u)
        gql_json_write(&b, u);
    else
        cd_buf_puts(&b, "0");
    cd_buf_puts(&b, "}");
    respond_buf(op, 200, &b);
}

static void direct_done(const char *chat_id, const char *code, const char *msg, void *ud)
{
    rest_op *op = ud;
    if (!chat_id) {
        respond_error(op, compat_status_for(code), code, msg);
        return;
    }
    op->room = cd_arena_strdup(op->req->arena, chat_id);
    char *vars = op->room ? cd_arena_sprintf(op->req->arena, "{\"c\":\"%s\",\"l\":%d}", op->room,
                                             COMPAT_JOIN_MESSAGES)
                          : NULL;
    run(op,
        "query($c:ID!,$l:Int){chat(id:$c){" COMPAT_ROOM_FIELDS
        "} messages(chatId:$c,limit:$l){" COMPAT_MSG_FIELDS "}}",
        vars, direct_room_done);
}

static void do_direct(rest_op *op)
{
    const gql_value *body = body_object(op);
    if (!body) return;
    const char *t = compat_str(body, "targetUserId");
    if (!t || !uuid_ok(t, strlen(t))) {
        respond_error(op, 400, "BAD_USER_INPUT", "targetUserId must be a user id");
        return;
    }
    if (compat_direct_room(op->srv, &op->caller, t, direct_done, op) != 0)
        respond_error(op, 500, "INTERNAL_SERVER_ERROR", "out of memory");
}

static void cleanup_done(const pg_result *r, void *ud)
{
    rest_op *op = ud;
    if (r->status != 0) {
        cd_warn("compat", "cleanup failed: %s", r->message);
        respond_error(op, r->status == CD_EUNAVAIL ? 503 : 500,
                      r->status == CD_EUNAVAIL ? "SERVICE_UNAVAILABLE" : "INTERNAL_SERVER_ERROR",
                      "cleanup failed");
        return;
    }
    const char *v = pg_result_rows(r) == 1 ? pg_result_get(r, 0, 0) : NULL;
    if (!v) {
        respond_error(op, 404, "NOT_FOUND", "Room not found");
        return;
    }
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"success\":true,\"roomId\":");
    cd_buf_json_str(&b, op->room, strlen(op->room));
    cd_buf_printf(&b, ",\"deleted\":%s,\"kept\":%lld}", v, (long long)op->n);
    respond_buf(op, 200, &b);
}

static void admin_done(const pg_result *r, void *ud)
{
    rest_op *op = ud;
    if (r->status != 0) {
        respond_error(op, 503, "SERVICE_UNAVAILABLE", "could not check the account");
        return;
    }
    const char *v = pg_result_rows(r) == 1 ? pg_result_get(r, 0, 0) : NULL;
    if (!v || v[0] != 't') {
        respond_error(op, 403, "FORBIDDEN", "Admin access required");
        return;
    }
    const char *params[2] = {op->room, cd_arena_sprintf(op->req->arena, "%lld", (long long)op->n)};
    if (!params[1] || pg_pool_query(op->srv->pg, "SELECT chatd_compat_cleanup($1::uuid, $2::int)",
                                    2, params, cleanup_done, op) != 0)
        respond_error(op, 503, "SERVICE_UNAVAILABLE", "database busy");
}

static int64_t keep_default(void)
{
    const char *e = getenv("CHATD_COMPAT_KEEP");
    if (e && *e) {
        char *end;
        long long v = strtoll(e, &end, 10);
        if (*end == '\0' && v >= 1 && v <= COMPAT_KEEP_MAX) return v;
    }
    return COMPAT_KEEP_DEFAULT;
}

static void do_cleanup(rest_op *op)
{
    op->n = keep_default();
    int k = int_param(op->req, "keep", &op->n);
    if (k < 0 || op->n < 1 || op->n > COMPAT_KEEP_MAX) {
        respond_error(op, 400, "BAD_USER_INPUT", "keep must be an integer in 1..1000000");
        return;
    }
    if (!op->srv->pg) {
        respond_error(op, 503, "SERVICE_UNAVAILABLE", "no database configured");
        return;
    }
    const char *params[1] = {op->caller.user_id};
    if (pg_pool_query(op->srv->pg,
                      "SELECT is_admin FROM users WHERE id = $1::uuid AND is_active "
                      "AND deleted_at IS NULL",
                      1, params, admin_done, op) != 0)
        respond_error(op, 503, "SERVICE_UNAVAILABLE", "database busy");
}

/* ---- routing ---- */

/* Fills op->caller. false after answering 401. */
static bool identify(rest_op *op)
{
    proto_server *srv = op->srv;
    http_request *req = op->req;
    proto_caller *c = &op->caller;
    proto_caller_init(c, srv);
    c->trust = srv->cfg->auth == CD_AUTH_TRUST;
    if (req->client_ip)
        proto_caller_set(c, req->arena, PROTO_CALLER_CLIENT_IP, req->client_ip,
                         strlen(req->client_ip));
    if (op->route == R_LOGIN) return true;
    if (c->trust) {
        const char *u = http_req_header(req, "user-id");
        const char *n = http_req_header(req, "username");
        if (u) proto_caller_set(c, req->arena, PROTO_CALLER_USER_ID, u, strlen(u));
        if (n) proto_caller_set(c, req->arena, PROTO_CALLER_USERNAME, n, strlen(n));
        if (*c->user_id) return true;
        respond_error(op, 401, "UNAUTHENTICATED", "user-id header required (trust mode)");
        return false;
    }
    const char *h = http_req_header(req, "authorization");
    const char *tok;
    size_t tl;
    auth_identity id;
    const char *why = "missing token";
    if (!h || auth_bearer(h, strlen(h), &tok, &tl) != 0 || !srv->cfg->jwt_secret ||
        auth_verify(srv->cfg->jwt_secret, tok, tl, 0, &id, &why) != 0) {
        respond_error(op, 401, "UNAUTHENTICATED",
                      h ? "Invalid or expired token" : "Authorization: Bearer <token> required");
        return false;
    }
    c->authenticated = true;
    proto_caller_set(c, req->arena, PROTO_CALLER_USER_ID, id.sub, strlen(id.sub));
    proto_caller_set(c, req->arena, PROTO_CALLER_USERNAME, id.username, strlen(id.username));
    c->token_exp = id.exp;
    return true;
}

void compat_rest_handle(proto_server *srv, http_request *req, const char *cors)
{
    rest_op *op = cd_arena_calloc(req->arena, 1, sizeof *op);
    if (!op) {
        http_respond(req, 500, "text/plain", NULL, "out of memory\n", 14);
        return;
    }
    op->srv = srv;
    op->req = req;
    op->cors = cors;
    op->before = -1;
    const char *p = req->path + strlen(COMPAT_API_PREFIX);
    const char *m = req->method;
    const char *want = NULL; /* method the route takes */
    const char *role = "receiver";
    if (strcmp(p, "auth/login") == 0) {
        op->route = R_LOGIN, want = "POST", role = "user";
    } else if (strcmp(p, "chat/rooms") == 0 || strcmp(p, "chat/rooms/") == 0) {
        op->route = R_ROOMS, want = "GET";
    } else if (strcmp(p, "chat/direct") == 0) {
        op->route = R_DIRECT, want = "POST", role = "sender";
    } else if (strncmp(p, "chat/rooms/", 11) == 0) {
        const char *id = p + 11;
        const char *slash = strchr(id, '/');
        if (!slash) {
            respond_error(op, 404, "NOT_FOUND", "No such route");
            return;
        }
        const char *sub = slash + 1;
        if (strcmp(sub, "messages") == 0)
            op->route = R_MESSAGES, want = "GET";
        else if (strcmp(sub, "unread") == 0)
            op->route = R_UNREAD, want = "GET";
        else if (strcmp(sub, "online") == 0)
            op->route = R_ONLINE, want = "GET";
        else if (strcmp(sub, "read") == 0)
            op->route = R_READ, want = "POST", role = "sender";
        else if (strcmp(sub, "cleanup") == 0)
            op->route = R_CLEANUP, want = "DELETE", role = "sender";
        else {
            respond_error(op, 404, "NOT_FOUND", "No such route");
            return;
        }
        op->room = cd_arena_strndup(req->arena, id, (size_t)(slash - id));
        if (!op->room) {
            respond_error(op, 500, "INTERNAL_SERVER_ERROR", "out of memory");
            return;
        }
    } else {
        respond_error(op, 404, "NOT_FOUND", "No such route");
        return;
    }
    if (strcmp(m, want) != 0 && !(strcmp(want, "GET") == 0 && strcmp(m, "HEAD") == 0)) {
        respond_error(op, 405, "METHOD_NOT_ALLOWED", "Method not allowed on this route");
        return;
    }
    if (!compat_role_serves(srv, role)) {
        cd_buf b;
        cd_buf_init(&b);
        cd_buf_printf(&b,
                      "{\"error\":{\"code\":\"WRONG_SERVICE\",\"service\":\"%s\",\"message\":"
                      "\"This route is served by the %s service\"},\"statusCode\":421}",
                      role, role);
        respond_buf(op, 421, &b);
        return;
    }
    if (!identify(op)) return;
    if (op->room && !uuid_ok(op->room, strlen(op->room))) {
        respond_error(op, 404, "NOT_FOUND", "Room not found");
        return;
    }
    char *vars = NULL;
    switch (op->route) {
    case R_LOGIN:
        do_login(op);
        return;
    case R_ROOMS:
        run(op, "{chats{" COMPAT_ROOM_FIELDS "}}", "{}", rooms_done);
        return;
    case R_MESSAGES: {
        op->n = COMPAT_MESSAGES_DEFAULT;
        int l = int_param(req, "limit", &op->n);
        int b = int_param(req, "beforeSequenceId", &op->before);
        if (l < 0 || op->n < 1 || op->n > COMPAT_MESSAGES_MAX) {
            respond_error(op, 400, "BAD_USER_INPUT", "limit must be an integer in 1..1000");
            return;
        }
        if (b < 0) {
            respond_error(op, 400, "BAD_USER_INPUT",
                          "beforeSequenceId must be a non-negative integer");
            return;
        }
        int64_t ask = op->n < COMPAT_MESSAGES_MAX ? op->n + 1 : op->n;
        vars =
            b ? cd_arena_sprintf(req->arena, "{\"c\":\"%s\",\"l\":%lld,\"b\":%lld}", op->room,
                                 (long long)ask, (long long)op->before)
              : cd_arena_sprintf(req->arena, "{\"c\":\"%s\",\"l\":%lld}", op->room, (long long)ask);
        run(op,
            "query($c:ID!,$l:Int,$b:Int){messages(chatId:$c,limit:$l,beforeSeq:$b)"
            "{" COMPAT_MSG_FIELDS "} chat(id:$c){unreadCount}}",
            vars, messages_done);
        return;
    }
    case R_UNREAD:
        run(op, "query($c:ID!,$u:String!){unreadCount(chatId:$c,userId:$u)}",
            vars_str(req->arena, "c", op->room, "u", op->caller.user_id), unread_done);
        return;
    case R_ONLINE:
        run(op, "query($c:ID!){onlineUsers(chatId:$c){id}}",
            vars_str(req->arena, "c", op->room, NULL, NULL), online_done);
        return;
    case R_READ: {
        const gql_value *body = body_object(op);
        if (!body) return;
        if (!compat_int(body, "sequenceId", &op->n) || op->n < 0 || op->n > INT32_MAX) {
            respond_error(op, 400, "BAD_USER_INPUT", "sequenceId must be a non-negative integer");
            return;
        }
        vars =
            cd_arena_sprintf(req->arena, "{\"c\":\"%s\",\"s\":%lld}", op->room, (long long)op->n);
        run(op, "mutation($c:ID!,$s:Int){markChatAsRead(chatId:$c,upToSeq:$s)}", vars, read_done);
        return;
    }
    case R_DIRECT:
        do_direct(op);
        return;
    case R_CLEANUP:
        do_cleanup(op);
        return;
    }
}
