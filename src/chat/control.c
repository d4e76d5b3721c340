/*
 * control.c — the cross-process control channel (see chat_internal.h).
 *
 * The channel is a route of the process's broker router (redis.h):
 * messages on CHAT_CONTROL_CHANNEL come here whatever else is bound, and the
 * route's state handler subscribes it once the broker is up.
 */
#include <stdio.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/text.h"

#define CHAT_CONTROL_MAX_MSG 1024u

static void ctl_apply(proto_server *srv, const char *user_id, int64_t ver, bool removed)
{
    if (ver > 0) chat_revoked_note(user_id, ver, removed, 0);
    int n = removed ? proto_ws_close_user(srv, user_id, CHAT_CLOSE_ACCOUNT_DISABLED,
                                          "Forbidden: account disabled")
                    : proto_ws_close_user(srv, user_id, CHAT_CLOSE_TOKENS_REVOKED,
                                          "Unauthorized: session revoked, sign in again");
    if (n)
        cd_info("chat", "closed %d connection(s) of %s user %s", n,
                removed ? "disabled" : "signed-out", user_id);
}

int chat_control_handle(proto_server *srv, const char *data, size_t len)
{
    if (len > CHAT_CONTROL_MAX_MSG) return CD_EBAD;
    cd_arena a;
    cd_arena_init(&a, 2048);
    gql_value v;
    char err[64];
    int rc = gql_json_parse(&a, data, len, &v, err, sizeof err);
    if (rc == 0 && v.kind == GQL_V_OBJECT) {
        const gql_value *kind = gql_obj_get(&v, "kind");
        const gql_value *uid = gql_obj_get(&v, "userId");
        const gql_value *ver = gql_obj_get(&v, "ver");
        bool removed =
            kind && kind->kind == GQL_V_STRING && strcmp(kind->u.s, "user_disabled") == 0;
        bool revoked =
            kind && kind->kind == GQL_V_STRING && strcmp(kind->u.s, "tokens_revoked") == 0;
        bool ver_ok = !ver || (ver->kind == GQL_V_INT && ver->u.i >= 0);
        if ((removed || revoked) && ver_ok && uid && uid->kind == GQL_V_STRING &&
            cd_uuid_valid(uid->u.s, uid->len))
            ctl_apply(srv, uid->u.s, ver ? ver->u.i : 0, removed);
        else
            rc = CD_EBAD;
    } else if (rc == 0) {
        rc = CD_EBAD;
    }
    cd_arena_free(&a);
    return rc;
}

void chat_control_tokens_revoked(proto_server *srv, const char *user_id, int64_t ver, bool removed)
{
    ctl_apply(srv, user_id, ver, removed);
    if (!srv->rd) return;
    char msg[160];
    int n = snprintf(msg, sizeof msg, "{\"kind\":\"%s\",\"userId\":\"%s\",\"ver\":%lld}",
                     removed ? "user_disabled" : "tokens_revoked", user_id, (long long)ver);
    int rc = rd_publish(srv->rd, CHAT_CONTROL_CHANNEL, msg, (size_t)n, NULL, NULL);
    if (rc != 0)
        cd_warn("chat",
                "control publish failed (%s): other processes refuse user %s's old tokens "
                "after their next refresh but keep open sockets until the tokens expire",
                cd_strerror(rc), user_id);
}

static void ctl_message(void *ud, const char *ch, size_t chlen, const char *data, size_t len)
{
    proto_server *srv = ud;
    if (chlen != sizeof CHAT_CONTROL_CHANNEL - 1 || memcmp(ch, CHAT_CONTROL_CHANNEL, chlen) != 0)
        return; /* a longer channel under the prefix: not ours */
    if (chat_control_handle(srv, data, len) != 0)
        cd_warn("chat", "ignored malformed control message (%zu bytes)", len);
}

static void ctl_state(void *ud, bool up)
{
    proto_server *srv = ud;
    /* the broker client exists by now (main.c creates it after binding);
     * wanted channels are re-subscribed by the client after reconnects */
    if (up && srv->rd && !rd_is_wanted(srv->rd, CHAT_CONTROL_CHANNEL)) {
        int rc = rd_subscribe(srv->rd, CHAT_CONTROL_CHANNEL);
        if (rc != 0)
            cd_warn("chat", "cannot subscribe %s: %s", CHAT_CONTROL_CHANNEL, cd_strerror(rc));
    }
}

int chat_control_bind(proto_server *srv)
{
    int rc = rd_route_add(&srv->rd_routes, CHAT_CONTROL_CHANNEL, ctl_message, NULL, ctl_state, srv);
    if (rc != 0 && rc != CD_EEXIST) return rc;
    return chat_revoked_start(srv);
}
