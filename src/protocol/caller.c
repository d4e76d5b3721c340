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
#include <strings.h>

#include "core/config.h"
#include "core/pool.h"
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

/* Heap mode, user_id or username: a new names block with the other field
 * kept; the old block goes after the copy (s may point into it). */
static int names_set(proto_caller *c, proto_caller_field f, const char *s, size_t len, size_t max)
{
    if (len > max || !s) len = 0;
    if (len == 0) s = "";
    const char *uid = c->user_id, *un = c->username;
    size_t lu = strlen(uid), ln = strlen(un);
    if (f == PROTO_CALLER_USER_ID) {
        uid = s;
        lu = len;
    } else {
        un = s;
        ln = len;
    }
    char *blk = NULL;
    if (lu + ln > 0) {
        _Static_assert(PROTO_MAX_USER_ID + PROTO_MAX_USERNAME + 2 <= CD_POOL_MAX,
                       "names in the pool");
        blk = cd_pool_calloc(lu + ln + 2);
        if (!blk) {
            *(f == PROTO_CALLER_USER_ID ? &c->user_id : &c->username) = "";
            return CD_ENOMEM;
        }
        memcpy(blk, uid, lu);
        blk[lu] = 0;
        memcpy(blk + lu + 1, un, ln);
        blk[lu + 1 + ln] = 0;
    }
    cd_pool_free(c->names);
    c->names = blk;
    c->user_id = lu ? blk : "";
    c->username = ln ? blk + lu + 1 : "";
    return 0;
}

int proto_caller_set(proto_caller *c, cd_arena *a, proto_caller_field f, const char *s, size_t len)
{
    size_t max;
    const char **dst = caller_field(c, f, &max);
    if (!a && f != PROTO_CALLER_CLIENT_IP) return names_set(c, f, s, len, max);
    if (!a && **dst) cd_pool_free((void *)*dst);
    *dst = "";
    if (len == 0 || len > max) return 0;
    char *copy = a ? cd_arena_strndup(a, s, len) : cd_pool_calloc(len + 1);
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
    cd_pool_free(c->names);
    c->names = NULL;
    if (*c->client_ip) cd_pool_free((void *)c->client_ip);
    c->user_id = c->username = c->client_ip = "";
}

/* ---- client address (X-Forwarded-For from trusted proxies only) ---- */

static bool addr_copy(const char *s, size_t len, char *out, size_t outlen)
{
    if (outlen == 0) return false;
    if (len >= outlen) len = outlen - 1;
    memcpy(out, s, len);
    out[len] = 0;
    return true;
}

void proto_client_addr(const char *trusted, const char *peer, const http_header *hdrs, size_t nhdrs,
                       char *out, size_t outlen)
{
    if (!peer) peer = "";
    addr_copy(peer, strlen(peer), out, outlen);
    if (!trusted || !*trusted || !cd_config_addr_in_list(trusted, peer, strlen(peer))) return;
    /* walk hops right to left: headers last to first, entries last to first */
    for (size_t i = nhdrs; i-- > 0;) {
        const http_header *h = &hdrs[i];
        if (h->name_len != 15 || strncasecmp(h->name, "X-Forwarded-For", 15) != 0) continue;
        const char *v = h->value;
        size_t end = h->value_len;
        while (end > 0) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',')
                start--;
            size_t a = start, b = end;
            while (a < b && (v[a] == ' ' || v[a] == '\t'))
                a++;
            while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
                b--;
            end = start > 0 ? start - 1 : 0;
            if (a == b) continue; /* empty element */
            /* a malformed hop: what lies left of it is the client's word */
            if (!cd_config_addr_valid(v + a, b - a)) return;
            addr_copy(v + a, b - a, out, outlen);
            if (!cd_config_addr_in_list(trusted, v + a, b - a)) return;
        }
    }
}

void proto_caller_from_request(proto_caller *c, cd_arena *a, proto_server *srv, http_request *req)
{
    proto_caller_init(c, srv);
    c->trust = srv->cfg->auth == CD_AUTH_TRUST;
    char ip[PROTO_MAX_CLIENT_IP + 1];
    proto_client_addr(srv->cfg->trusted_proxies, req->client_ip, req->headers, req->nheaders, ip,
                      sizeof ip);
    if (ip[0]) proto_caller_set(c, a, PROTO_CALLER_CLIENT_IP, ip, strlen(ip));
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
    c->token_ver = id.ver;
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
