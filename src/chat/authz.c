/*
 * authz.c — caller decisions for resolvers (see chat_internal.h): reads
 * the proto_caller of the running operation. A resolver run without a chatd
 * transport (no context) is treated as an anonymous token-mode caller. A
 * caller whose account was disabled while this process ran is
 * treated as anonymous although its token still verifies; this file keeps
 * that list (a fixed ring, no heap).
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chat/chat_internal.h"

/* Disabled accounts: a ring of the most recent CHAT_DISABLED_MAX, each
 * valid until `until` (unix s). Lookups scan only the live part; in a normal
 * process the ring is empty or nearly so. */
static struct chat_disabled {
    char id[37];
    int64_t until;
} chat_disabled[CHAT_DISABLED_MAX];
static unsigned chat_disabled_next, chat_disabled_count;

void chat_user_mark_disabled(const char *user_id, int64_t now)
{
    if (!user_id || strlen(user_id) != 36) return;
    if (!now) now = (int64_t)time(NULL);
    struct chat_disabled *d = &chat_disabled[chat_disabled_next];
    memcpy(d->id, user_id, 37);
    d->until = now + CHAT_DISABLED_TTL_S;
    chat_disabled_next = (chat_disabled_next + 1) % CHAT_DISABLED_MAX;
    if (chat_disabled_count < CHAT_DISABLED_MAX) chat_disabled_count++;
}

bool chat_user_is_disabled(const char *user_id)
{
    if (!chat_disabled_count || !user_id) return false;
    int64_t now = (int64_t)time(NULL);
    for (unsigned i = 0; i < chat_disabled_count; i++) {
        const struct chat_disabled *d = &chat_disabled[i];
        if (d->until > now && strcasecmp(d->id, user_id) == 0) return true;
    }
    return false;
}

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
