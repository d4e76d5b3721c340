/*
 * authz.c — caller decisions for resolvers (see authz.h). Stateless: reads
 * the proto_caller of the running operation. A resolver run without a chatd
 * transport (no context) is treated as an anonymous token-mode caller. A
 * caller whose account was disabled while this process ran (chat.h) is
 * treated as anonymous although its token still verifies.
 */
#include "chat/authz.h"

#include "chat/chat.h"

#include <string.h>

static const proto_caller *caller(gql_rinfo *ri)
{
    return proto_caller_of(ri);
}

bool chat_authz_trust(gql_rinfo *ri)
{
    const proto_caller *c = caller(ri);
    return c && c->trust;
}

const char *chat_authz_user_opt(gql_rinfo *ri)
{
    const proto_caller *c = caller(ri);
    if (!c || !c->user_id[0]) return NULL;
    if (!c->trust && !c->authenticated) return NULL;
    if (chat_user_is_disabled(c->user_id)) return NULL; /* removed: token still verifies */
    return c->user_id;
}

const char *chat_authz_user(gql_rinfo *ri)
{
    const char *u = chat_authz_user_opt(ri);
    if (!u) {
        gql_ri_error(ri, CHAT_E_UNAUTHENTICATED,
                     chat_authz_trust(ri) ? "Authentication required: send the user-id header"
                                          : "Authentication required");
        return NULL;
    }
    return u;
}

const char *chat_authz_acting_as(gql_rinfo *ri, const char *acting, const char *what)
{
    if (chat_authz_trust(ri)) return acting;
    const char *u = chat_authz_user(ri);
    if (!u) return NULL;
    if (!acting || strcmp(u, acting) != 0) {
        gql_ri_error(ri, CHAT_E_FORBIDDEN, "Forbidden: you may not %s", what);
        return NULL;
    }
    return acting;
}

bool chat_authz_is_self(gql_rinfo *ri, const char *user_id)
{
    if (chat_authz_trust(ri)) return true;
    const char *u = chat_authz_user_opt(ri);
    return u && user_id && strcmp(u, user_id) == 0;
}
