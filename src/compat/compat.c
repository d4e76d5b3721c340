/*
 * compat.c — shared pieces of the seed-003 compatibility API (compat.h,
 * compat_internal.h):
 * in-process GraphQL execution, error-code → HTTP status, the seed's JSON
 * shapes for messages and rooms and the direct-room helper, used by rest.c
 * and ws.c (the routes themselves are mounted by bind.c).
 *
 * compat_gql owns one gql_exec per call (freed in its done callback) and a
 * result arena freed right after the user's callback returns.
 */
#include "compat/compat_internal.h"

#include <string.h>

#include "core/log.h"
#include "core/text.h"

typedef struct compat_op {
    gql_exec *ex;
    compat_gql_cb cb;
    void *ud;
    cd_arena va; /* the variables (coerced values may point into them) */
} compat_op;

static void op_done(gql_exec *ex, void *ud)
{
    compat_op *op = ud;
    compat_result r = {0};
    cd_arena a;
    cd_arena_init(&a, 4096);
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    uint32_t nerr = 0;
    const gql_error *errs = gql_exec_errors(ex, &nerr);
    if (nerr) {
        r.err_code = errs[0].code ? errs[0].code : "INTERNAL_SERVER_ERROR";
        r.err_msg = errs[0].message;
    }
    gql_value v;
    char perr[128];
    if (cd_buf_failed(&b)) {
        r.err_code = "INTERNAL_SERVER_ERROR";
        r.err_msg = "out of memory";
    } else if (gql_json_parse(&a, b.data, b.len, &v, perr, sizeof perr) == 0) {
        const gql_value *d = gql_obj_get(&v, "data");
        if (d && d->kind == GQL_V_OBJECT) r.data = d;
    }
    op->cb(&r, op->ud);
    cd_buf_free(&b);
    cd_arena_free(&a);
    gql_exec_free(ex);
    cd_arena_free(&op->va);
    cd_free(op);
}

int compat_gql(proto_server *srv, const proto_caller *caller, const char *query,
               const char *vars_json, compat_gql_cb cb, void *ud)
{
    compat_op *op = cd_calloc(1, sizeof *op);
    gql_exec *ex = gql_exec_new(srv->schema, srv->cache);
    if (!op || !ex) {
        cd_free(op);
        if (ex) gql_exec_free(ex);
        return CD_ENOMEM;
    }
    op->ex = ex;
    op->cb = cb;
    op->ud = ud;
    cd_arena_init(&op->va, 1024);
    cd_arena *va = &op->va;
    gql_value *vars = cd_arena_alloc(va, sizeof *vars);
    const gql_value *vp = NULL;
    char perr[128];
    if (vars_json) {
        if (!vars ||
            gql_json_parse(va, vars_json, strlen(vars_json), vars, perr, sizeof perr) != 0) {
            cd_arena_free(va);
            compat_result r = {.err_code = "BAD_USER_INPUT", .err_msg = "invalid input"};
            cb(&r, ud);
            gql_exec_free(ex);
            cd_free(op);
            return 0;
        }
        vp = vars;
    }
    if (gql_exec_prepare(ex, query, strlen(query), NULL) != 0 ||
        gql_exec_set_variables(ex, vp) != 0) {
        uint32_t n = 0;
        const gql_error *e = gql_exec_errors(ex, &n);
        compat_result r = {.err_code = "BAD_USER_INPUT",
                           .err_msg = n ? e[0].message : "invalid input"};
        cb(&r, ud);
        gql_exec_free(ex);
        cd_arena_free(va);
        cd_free(op);
        return 0;
    }
    gql_exec_opts o = {
        .service = NULL, .context = (void *)caller, .no_introspection = !srv->cfg->introspection};
    int rc = gql_exec_run(ex, NULL, &o, op_done, op);
    if (rc != 0) {
        compat_result r = {.err_code = "INTERNAL_SERVER_ERROR", .err_msg = cd_strerror(rc)};
        cb(&r, ud);
        gql_exec_free(ex);
        cd_arena_free(va);
        cd_free(op);
    }
    return 0;
}

int compat_status_for(const char *code)
{
    static const struct {
        const char *code;
        int status;
    } map[] = {
        {"UNAUTHENTICATED", 401},
        {"FORBIDDEN", 403},
        {"NOT_FOUND", 404},
        {"BAD_USER_INPUT", 400},
        {"BAD_REQUEST", 400},
        {"PAYLOAD_TOO_LARGE", 413},
        {"RATE_LIMITED", 429},
        {"WRONG_SERVICE", 421},
        {"SERVICE_UNAVAILABLE", 503},
        {"CHAT_REMOVED", 404},
        {"GRAPHQL_VALIDATION_FAILED", 400},
    };
    if (!code) return 500;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].code, code) == 0) return map[i].status;
    return 500;
}

const char *compat_str(const gql_value *o, const char *k)
{
    const gql_value *v = o && o->kind == GQL_V_OBJECT ? gql_obj_get(o, k) : NULL;
    return v && v->kind == GQL_V_STRING ? v->u.s : NULL;
}

bool compat_int(const gql_value *o, const char *k, int64_t *out)
{
    const gql_value *v = o && o->kind == GQL_V_OBJECT ? gql_obj_get(o, k) : NULL;
    if (!v) return false;
    if (v->kind == GQL_V_INT) {
        *out = v->u.i;
        return true;
    }
    /* a whole float inside int64's range (the range test first: casting an
     * out-of-range or NaN double to int64_t is undefined) */
    if (v->kind == GQL_V_FLOAT && v->u.f >= -9223372036854775808.0 &&
        v->u.f < 9223372036854775808.0 && v->u.f == (double)(int64_t)v->u.f) {
        *out = (int64_t)v->u.f;
        return true;
    }
    return false;
}

_Static_assert(COMPAT_UUID_LEN == CD_UUID_LEN, "a room or user id is a UUID's text");

bool compat_uuid_ok(const char *s)
{
    return s && cd_uuid_valid(s, strlen(s));
}

bool compat_role_serves(const proto_server *srv, const char *role)
{
    return !srv->service || strcmp(srv->service, role) == 0;
}

/* "key":<value of o.field or null> */
static void put_field(cd_buf *b, const char *key, const gql_value *o, const char *field)
{
    cd_buf_printf(b, "\"%s\":", key);
    const gql_value *v = o && o->kind == GQL_V_OBJECT ? gql_obj_get(o, field) : NULL;
    if (v)
        gql_json_write(b, v);
    else
        cd_buf_puts(b, "null");
}

static void write_user(cd_buf *b, const gql_value *u)
{
    if (!u || u->kind != GQL_V_OBJECT) {
        cd_buf_puts(b, "null");
        return;
    }
    cd_buf_putc(b, '{');
    put_field(b, "id", u, "id");
    cd_buf_putc(b, ',');
    put_field(b, "username", u, "username");
    cd_buf_putc(b, ',');
    put_field(b, "displayName", u, "displayName");
    cd_buf_puts(b, ",\"avatar\":null}");
}

void compat_write_message(cd_buf *b, const gql_value *m)
{
    compat_write_message_as(b, m, m && m->kind == GQL_V_OBJECT ? gql_obj_get(m, "sender") : NULL);
}

void compat_write_message_as(cd_buf *b, const gql_value *m, const gql_value *sender)
{
    cd_buf_putc(b, '{');
    put_field(b, "id", m, "id");
    cd_buf_putc(b, ',');
    put_field(b, "roomId", m, "chatId");
    cd_buf_putc(b, ',');
    put_field(b, "senderId", m, "senderId");
    cd_buf_putc(b, ',');
    put_field(b, "content", m, "content");
    cd_buf_putc(b, ',');
    put_field(b, "type", m, "type");
    cd_buf_putc(b, ',');
    put_field(b, "metadata", m, "metadata");
    cd_buf_putc(b, ',');
    put_field(b, "sequenceId", m, "seq");
    cd_buf_puts(b, ",\"sender\":");
    write_user(b, sender);
    cd_buf_putc(b, ',');
    put_field(b, "createdAt", m, "createdAt");
    cd_buf_putc(b, ',');
    put_field(b, "isEdited", m, "isEdited");
    cd_buf_putc(b, ',');
    put_field(b, "editedAt", m, "editedAt");
    cd_buf_putc(b, ',');
    put_field(b, "deletedAt", m, "deletedAt");
    cd_buf_putc(b, ',');
    put_field(b, "replyToId", m, "replyToId");
    cd_buf_putc(b, '}');
}

void compat_write_room(cd_buf *b, const gql_value *c)
{
    const char *type = compat_str(c, "chatType");
    const gql_value *last = c && c->kind == GQL_V_OBJECT ? gql_obj_get(c, "lastMessage") : NULL;
    if (last && last->kind != GQL_V_OBJECT) last = NULL;
    const gql_value *parts = c && c->kind == GQL_V_OBJECT ? gql_obj_get(c, "participants") : NULL;
    bool direct = type && strcmp(type, "direct") == 0;
    cd_buf_putc(b, '{');
    put_field(b, "id", c, "id");
    cd_buf_printf(b, ",\"type\":\"%s\",", direct ? "DIRECT" : "GROUP");
    put_field(b, "name", c, "name");
    cd_buf_putc(b, ',');
    put_field(b, "description", c, "description");
    cd_buf_putc(b, ',');
    put_field(b, "participantIds", c, "participantIds");
    cd_buf_puts(b, ",\"participants\":[");
    uint32_t np = parts && parts->kind == GQL_V_LIST ? parts->len : 0;
    for (uint32_t i = 0; i < np; i++) {
        if (i) cd_buf_putc(b, ',');
        write_user(b, &parts->u.items[i]);
    }
    cd_buf_putc(b, ']');
    if (direct) {
        cd_buf_puts(b, ",\"user1\":");
        write_user(b, np > 0 ? &parts->u.items[0] : NULL);
        cd_buf_puts(b, ",\"user2\":");
        write_user(b, np > 1 ? &parts->u.items[1] : NULL);
    }
    cd_buf_putc(b, ',');
    put_field(b, "lastSequenceId", c, "lastSeq");
    cd_buf_putc(b, ',');
    put_field(b, "lastMessageAt", last, "createdAt");
    cd_buf_putc(b, ',');
    put_field(b, "lastMessageText", last, "content");
    cd_buf_puts(b, ",\"messages\":[");
    if (last) compat_write_message(b, last);
    cd_buf_puts(b, "],");
    put_field(b, "unreadCount", c, "unreadCount");
    cd_buf_putc(b, ',');
    put_field(b, "isActive", c, "isActive");
    cd_buf_putc(b, ',');
    put_field(b, "createdAt", c, "createdAt");
    cd_buf_putc(b, ',');
    put_field(b, "updatedAt", c, "updatedAt");
    cd_buf_putc(b, '}');
}

/* ---- direct rooms ---- */

typedef struct direct_op {
    compat_direct_cb cb;
    void *ud;
} direct_op;

static void direct_done(const compat_result *r, void *ud)
{
    direct_op *d = ud;
    const gql_value *c = r->data ? gql_obj_get(r->data, "createChat") : NULL;
    const char *id = compat_str(c, "id");
    if (id && !r->err_code)
        d->cb(id, NULL, NULL, d->ud);
    else
        d->cb(NULL, r->err_code ? r->err_code : "INTERNAL_SERVER_ERROR",
              r->err_msg ? r->err_msg : "could not create the direct room", d->ud);
    cd_free(d);
}

int compat_direct_room(proto_server *srv, const proto_caller *caller, const char *target,
                       compat_direct_cb cb, void *ud)
{
    /* createChat(direct) is get-or-create on the pair's direct_key (one
     * live direct chat per pair, race-free in SQL) */
    direct_op *d = cd_calloc(1, sizeof *d);
    if (!d) return CD_ENOMEM;
    d->cb = cb;
    d->ud = ud;
    cd_buf v;
    cd_buf_init(&v);
    cd_buf_puts(&v, "{\"in\":{\"name\":\"direct\",\"chatType\":\"direct\",\"participantIds\":[");
    cd_buf_json_str(&v, caller->user_id, strlen(caller->user_id));
    cd_buf_putc(&v, ',');
    cd_buf_json_str(&v, target, strlen(target));
    cd_buf_puts(&v, "]}}");
    cd_buf_putc(&v, '\0');
    int rc = cd_buf_failed(&v) ? CD_ENOMEM
                               : compat_gql(srv, caller,
                                            "mutation($in:CreateChatInput!){createChat("
                                            "createChatInput:$in){id}}",
                                            v.data, direct_done, d);
    cd_buf_free(&v);
    if (rc != 0) cd_free(d);
    return rc;
}

/* ---- routing ---- */
