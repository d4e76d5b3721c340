/*
 * caller.c — who is calling (proto_caller, protocol.h): the identity every
 * transport hands to resolvers, and the root fields an unauthenticated
 * caller may run in token mode.
 *
 * A caller keeps its strings in one place throughout: the request's arena
 * (HTTP) or heap memory released by proto_caller_free (WebSocket
 * connections, which outlive any one request).
 */
#include <string.h>

#include "protocol/protocol.h"

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

void proto_caller_from_request(proto_caller *c, cd_arena *a, proto_server *srv, http_request *req)
{
    proto_caller_init(c, srv);
    c->trust = srv->cfg->auth == CD_AUTH_TRUST;
    if (req->client_ip)
        proto_caller_set(c, a, PROTO_CALLER_CLIENT_IP, req->client_ip, strlen(req->client_ip));
    if (!c->trust) return;
    const char *u = http_req_header(req, "user-id");
    const char *n = http_req_header(req, "username");
    if (u) proto_caller_set(c, a, PROTO_CALLER_USER_ID, u, strlen(u));
    if (n) proto_caller_set(c, a, PROTO_CALLER_USERNAME, n, strlen(n));
}

int proto_caller_verify(proto_caller *c, cd_arena *a, const char *token, size_t len,
                        const char **why)
{
    auth_identity id;
    if (auth_verify(c->srv->cfg->jwt_secret, token, len, 0, &id, why) != 0) return CD_EAUTH;
    c->authenticated = true;
    proto_caller_set(c, a, PROTO_CALLER_USER_ID, id.sub, strlen(id.sub));
    proto_caller_set(c, a, PROTO_CALLER_USERNAME, id.username, strlen(id.username));
    c->token_exp = id.exp;
    return 0;
}

int proto_caller_refresh(proto_caller *c, const char *token, size_t len, const char **why)
{
    auth_identity id;
    if (!c->authenticated) {
        *why = "not authenticated";
        return CD_ESTATE;
    }
    if (auth_verify(c->srv->cfg->jwt_secret, token, len, 0, &id, why) != 0) return CD_EAUTH;
    if (strcmp(id.sub, c->user_id) != 0) {
        *why = "token of another user";
        return CD_EPERM;
    }
    /* the user may have been renamed since the first token */
    proto_caller_set(c, NULL, PROTO_CALLER_USERNAME, id.username, strlen(id.username));
    c->token_exp = id.exp;
    return 0;
}

/* ---- what an unauthenticated caller may run ---- */

static const char *const proto_public_fields[] = {
    "health", "__typename", "__schema", "__type", "createUser", "login", "refreshToken",
};

bool proto_field_is_public(const char *name)
{
    for (unsigned i = 0; i < CD_ARRAY_LEN(proto_public_fields); i++)
        if (strcmp(name, proto_public_fields[i]) == 0) return true;
    return false;
}

static bool field_is_public(const char *name, void *ud)
{
    CD_UNUSED(ud);
    return proto_field_is_public(name);
}

bool proto_operation_is_public(proto_server *srv, const char *query, size_t len,
                               const char *operation_name)
{
    /* the document is cached by gql_exec_prepare: this is a lookup */
    return gql_root_fields_all(srv->cache, srv->schema, query, len, operation_name, field_is_public,
                               NULL);
}
