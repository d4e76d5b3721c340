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
 * the chat module's named statements (chat_compat_is_admin,
 * chat_compat_cleanup; db/migrations/0004_admin.sql). Errors are JSON
 * {"error":{"code","message"},"statusCode"} with the GraphQL error code
 * mapped to an HTTP status (compat_status_for).
 *
 * Memory: a rest_op and everything it points to live in the request arena;
 * the request is completed exactly once (respond_*), also after an abort.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "chat/chat.h"
#include "compat/compat_internal.h"
#include "core/log.h"
#include "core/metrics.h"

typedef struct rest_op {
    proto_server *srv;
    http_request *req;
    const char *cors;
    proto_caller caller;
    const struct rest_route *route; /* rest_routes entry */
    const char *room;               /* NUL-terminated chat id (rooms/:id routes) */
    int64_t n;                      /* limit / sequenceId / keep */
    int64_t before;                 /* beforeSequenceId, -1 = none */
    const char *login_json;         /* login: the response until isAdmin is known */
    compat_rest_args args;          /* compat_rest_parse's result */
} rest_op;

/* The route table: a path below /api/v1/ (for `room` routes, the part
 * after chat/rooms/:id/), the method it takes (GET also answers HEAD), the
 * role that serves it, whether it needs a caller, and its operation. */
typedef struct rest_route {
    const char *path;
    bool room;
    const char *method;
    const char *role;
    bool anonymous;
    void (*run)(rest_op *op);
} rest_route;

static void respond_buf(rest_op *op, int status, cd_buf *b)
{
    if (cd_buf_failed(b)) {
        cd_buf_free(b);
        static const char oom[] = "{\"error\":{\"code\":\"INTERNAL_SERVER_ERROR\",\"message\":"
                                  "\"out of memory\"},\"statusCode\":500}";
        proto_respond(op->req, 500, "application/json", op->cors, oom, sizeof oom - 1);
        return;
    }
    proto_respond_buf(op->req, status, "application/json; charset=utf-8", op->cors, b);
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

/* Parses the JSON body into an OBJECT (request arena); NULL when it is
 * not one. */
static const gql_value *body_object(http_request *req)
{
    gql_value *v = cd_arena_alloc(req->arena, sizeof *v);
    char err[128];
    if (!v || gql_json_parse(req->arena, req->body, req->body_len, v, err, sizeof err) != 0 ||
        v->kind != GQL_V_OBJECT)
        return NULL;
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

static void login_admin_done(int status, const char *message, bool admin, void *ud)
{
    CD_UNUSED(message);
    rest_op *op = ud;
    admin = status == 0 && admin;
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
    if (!op->login_json || chat_compat_is_admin(op->srv->pg, uid, login_admin_done, op) != 0)
        respond_error(op, 500, "INTERNAL_SERVER_ERROR", "could not read the account");
}

static void do_login(rest_op *op)
{
    const char *u = op->args.username;
    const char *p = op->args.password;
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
    if (compat_direct_room(op->srv, &op->caller, op->args.target, direct_done, op) != 0)
        respond_error(op, 500, "INTERNAL_SERVER_ERROR", "out of memory");
}

static void cleanup_done(int status, const char *message, int64_t removed, void *ud)
{
    rest_op *op = ud;
    if (status == CD_ENOENT) {
        respond_error(op, 404, "NOT_FOUND", "Room not found");
        return;
    }
    if (status != 0) {
        cd_warn("compat", "cleanup failed: %s", message);
        respond_error(op, status == CD_EUNAVAIL ? 503 : 500,
                      status == CD_EUNAVAIL ? "SERVICE_UNAVAILABLE" : "INTERNAL_SERVER_ERROR",
                      "cleanup failed");
        return;
    }
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"success\":true,\"roomId\":");
    cd_buf_json_str(&b, op->room, strlen(op->room));
    cd_buf_printf(&b, ",\"deleted\":%lld,\"kept\":%lld}", (long long)removed, (long long)op->n);
    respond_buf(op, 200, &b);
}

static void admin_done(int status, const char *message, bool admin, void *ud)
{
    CD_UNUSED(message);
    rest_op *op = ud;
    if (status != 0) {
        respond_error(op, 503, "SERVICE_UNAVAILABLE", "could not check the account");
        return;
    }
    if (!admin) {
        respond_error(op, 403, "FORBIDDEN", "Admin access required");
        return;
    }
    if (chat_compat_cleanup(op->srv->pg, op->room, op->n, cleanup_done, op) != 0)
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
    if (!op->srv->pg) {
        respond_error(op, 503, "SERVICE_UNAVAILABLE", "no database configured");
        return;
    }
    if (chat_compat_is_admin(op->srv->pg, op->caller.user_id, admin_done, op) != 0)
        respond_error(op, 503, "SERVICE_UNAVAILABLE", "database busy");
}

/* ---- the routes' operations (after routing, identity and id checks) ---- */

static void do_rooms(rest_op *op)
{
    run(op, "{chats{" COMPAT_ROOM_FIELDS "}}", "{}", rooms_done);
}

static void do_messages(rest_op *op)
{
    http_request *req = op->req;
    bool b = op->before >= 0;
    /* one more than asked tells messages_done whether there is more */
    int64_t ask = op->n < COMPAT_MESSAGES_MAX ? op->n + 1 : op->n;
    char *vars =
        b ? cd_arena_sprintf(req->arena, "{\"c\":\"%s\",\"l\":%lld,\"b\":%lld}", op->room,
                             (long long)ask, (long long)op->before)
          : cd_arena_sprintf(req->arena, "{\"c\":\"%s\",\"l\":%lld}", op->room, (long long)ask);
    run(op,
        "query($c:ID!,$l:Int,$b:Int){messages(chatId:$c,limit:$l,beforeSeq:$b)"
        "{" COMPAT_MSG_FIELDS "} chat(id:$c){unreadCount}}",
        vars, messages_done);
}

static void do_unread(rest_op *op)
{
    run(op, "query($c:ID!,$u:String!){unreadCount(chatId:$c,userId:$u)}",
        vars_str(op->req->arena, "c", op->room, "u", op->caller.user_id), unread_done);
}

static void do_online(rest_op *op)
{
    run(op, "query($c:ID!){onlineUsers(chatId:$c){id}}",
        vars_str(op->req->arena, "c", op->room, NULL, NULL), online_done);
}

static void do_read(rest_op *op)
{
    char *vars =
        cd_arena_sprintf(op->req->arena, "{\"c\":\"%s\",\"s\":%lld}", op->room, (long long)op->n);
    run(op, "mutation($c:ID!,$s:Int){markChatAsRead(chatId:$c,upToSeq:$s)}", vars, read_done);
}

/* ---- routing ---- */

/* Fills op->caller. false after answering 401. */
static bool identify(rest_op *op)
{
    proto_server *srv = op->srv;
    http_request *req = op->req;
    proto_caller *c = &op->caller;
    proto_caller_init(c, srv);
    proto_req_set_caller(req, c);
    c->trust = srv->cfg->auth == CD_AUTH_TRUST;
    c->compat_api = true;
    if (req->client_ip)
        proto_caller_set(c, req->arena, PROTO_CALLER_CLIENT_IP, req->client_ip,
                         strlen(req->client_ip));
    if (op->route->anonymous) return true;
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
    c->token_ver = id.ver;
    return true;
}

#define REST_ROOMS_PREFIX "chat/rooms/"

static const rest_route rest_routes[] = {
    [COMPAT_REST_LOGIN] = {"auth/login", false, "POST", "user", true, do_login},
    [COMPAT_REST_ROOMS] = {"chat/rooms", false, "GET", "receiver", false, do_rooms},
    [COMPAT_REST_ROOMS_SLASH] = {"chat/rooms/", false, "GET", "receiver", false, do_rooms},
    [COMPAT_REST_DIRECT] = {"chat/direct", false, "POST", "sender", false, do_direct},
    [COMPAT_REST_MESSAGES] = {"messages", true, "GET", "receiver", false, do_messages},
    [COMPAT_REST_UNREAD] = {"unread", true, "GET", "receiver", false, do_unread},
    [COMPAT_REST_ONLINE] = {"online", true, "GET", "receiver", false, do_online},
    [COMPAT_REST_READ] = {"read", true, "POST", "sender", false, do_read},
    [COMPAT_REST_CLEANUP] = {"cleanup", true, "DELETE", "sender", false, do_cleanup},
};
_Static_assert(CD_ARRAY_LEN(rest_routes) == COMPAT_REST_NROUTES, "one route per compat_rest_id");

static bool method_ok(const char *method, const char *want)
{
    return strcmp(method, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static void args_problem(compat_rest_args *a, int status, const char *code, const char *msg)
{
    a->status = status;
    a->code = code;
    a->msg = msg;
}

/* The route's own arguments: room id, query parameters, JSON body. */
static void args_parse(http_request *req, compat_rest_args *a)
{
    if (a->room && !compat_uuid_ok(a->room)) {
        args_problem(a, 404, "NOT_FOUND", "Room not found");
        return;
    }
    const gql_value *body = NULL;
    if (a->route == COMPAT_REST_LOGIN || a->route == COMPAT_REST_DIRECT ||
        a->route == COMPAT_REST_READ) {
        body = body_object(req);
        if (!body) {
            args_problem(a, 400, "BAD_REQUEST", "The request body must be a JSON object");
            return;
        }
    }
    int l, b, k;
    switch (a->route) {
    case COMPAT_REST_LOGIN:
        a->username = compat_str(body, "username");
        a->password = compat_str(body, "password");
        if (!a->username || !a->password)
            args_problem(a, 400, "BAD_USER_INPUT", "username and password are required strings");
        break;
    case COMPAT_REST_DIRECT:
        a->target = compat_str(body, "targetUserId");
        if (!a->target || !compat_uuid_ok(a->target))
            args_problem(a, 400, "BAD_USER_INPUT", "targetUserId must be a user id");
        break;
    case COMPAT_REST_READ:
        if (!compat_int(body, "sequenceId", &a->n) || a->n < 0 || a->n > INT32_MAX)
            args_problem(a, 400, "BAD_USER_INPUT", "sequenceId must be a non-negative integer");
        break;
    case COMPAT_REST_MESSAGES:
        a->n = COMPAT_MESSAGES_DEFAULT;
        l = int_param(req, "limit", &a->n);
        b = int_param(req, "beforeSequenceId", &a->before);
        if (l < 0 || a->n < 1 || a->n > COMPAT_MESSAGES_MAX)
            args_problem(a, 400, "BAD_USER_INPUT", "limit must be an integer in 1..1000");
        else if (b < 0)
            args_problem(a, 400, "BAD_USER_INPUT",
                         "beforeSequenceId must be a non-negative integer");
        if (b <= 0) a->before = -1;
        break;
    case COMPAT_REST_CLEANUP:
        a->n = keep_default();
        k = int_param(req, "keep", &a->n);
        if (k < 0 || a->n < 1 || a->n > COMPAT_KEEP_MAX)
            args_problem(a, 400, "BAD_USER_INPUT", "keep must be an integer in 1..1000000");
        break;
    default:
        break;
    }
}

int compat_rest_parse(http_request *req, compat_rest_args *a)
{
    memset(a, 0, sizeof *a);
    a->route = COMPAT_REST_NONE;
    a->before = -1;
    const char *p = req->path;
    if (strncmp(p, COMPAT_API_PREFIX, strlen(COMPAT_API_PREFIX)) != 0) {
        a->route_status = 404;
        return CD_ENOENT;
    }
    p += strlen(COMPAT_API_PREFIX);
    for (unsigned i = 0; i < CD_ARRAY_LEN(rest_routes); i++)
        if (!rest_routes[i].room && strcmp(p, rest_routes[i].path) == 0) a->route = (int)i;
    if (a->route == COMPAT_REST_NONE) {
        const char *id = strncmp(p, REST_ROOMS_PREFIX, strlen(REST_ROOMS_PREFIX)) == 0
                             ? p + strlen(REST_ROOMS_PREFIX)
                             : NULL;
        const char *slash = id ? strchr(id, '/') : NULL;
        for (unsigned i = 0; slash && a->route == COMPAT_REST_NONE && i < CD_ARRAY_LEN(rest_routes);
             i++)
            if (rest_routes[i].room && strcmp(slash + 1, rest_routes[i].path) == 0)
                a->route = (int)i;
        if (a->route == COMPAT_REST_NONE) {
            a->route_status = 404;
            return CD_ENOENT;
        }
        a->room = cd_arena_strndup(req->arena, id, (size_t)(slash - id));
        if (!a->room) return CD_ENOMEM;
    }
    if (!method_ok(req->method, rest_routes[a->route].method)) {
        a->route_status = 405;
        return CD_EBAD;
    }
    a->role = rest_routes[a->route].role;
    a->anonymous = rest_routes[a->route].anonymous;
    args_parse(req, a);
    return 0;
}

static void respond_wrong_service(rest_op *op, const char *role)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_printf(&b,
                  "{\"error\":{\"code\":\"WRONG_SERVICE\",\"service\":\"%s\",\"message\":"
                  "\"This route is served by the %s service\"},\"statusCode\":421}",
                  role, role);
    respond_buf(op, 421, &b);
}

/* route → method (405) → role placement (421) → caller (401) → room id
 * (404) → the route's operation. */
void compat_rest_handle(proto_server *srv, http_request *req, const char *cors)
{
    rest_op *op = cd_arena_calloc(req->arena, 1, sizeof *op);
    if (!op) {
        proto_respond(req, 500, "text/plain", NULL, "out of memory\n", 14);
        return;
    }
    op->srv = srv;
    op->req = req;
    op->cors = cors;
    compat_rest_args *a = &op->args;
    int rc = compat_rest_parse(req, a);
    if (rc != 0) {
        if (a->route_status == 404)
            respond_error(op, 404, "NOT_FOUND", "No such route");
        else if (a->route_status == 405)
            respond_error(op, 405, "METHOD_NOT_ALLOWED", "Method not allowed on this route");
        else
            respond_error(op, 500, "INTERNAL_SERVER_ERROR", "out of memory");
        return;
    }
    const rest_route *rt = op->route = &rest_routes[a->route];
    if (!compat_role_serves(srv, rt->role)) {
        respond_wrong_service(op, rt->role);
        return;
    }
    if (!identify(op)) return;
    if (a->code) {
        respond_error(op, a->status, a->code, a->msg);
        return;
    }
    op->room = a->room;
    op->n = a->n;
    op->before = a->before;
    rt->run(op);
}
