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

#define CHAT_CONTROL_MAX_MSG 1024u

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
        if (kind && kind->kind == GQL_V_STRING && strcmp(kind->u.s, "user_disabled") == 0 && uid &&
            uid->kind == GQL_V_STRING && chat_uuid_valid(uid->u.s, uid->len)) {
            chat_user_mark_disabled(uid->u.s, 0);
            int n = proto_ws_close_user(srv, uid->u.s, CHAT_CLOSE_ACCOUNT_DISABLED,
                                        "Forbidden: account disabled");
            if (n) cd_info("chat", "closed %d connection(s) of disabled user %s", n, uid->u.s);
        } else {
            rc = CD_EBAD;
        }
    } else if (rc == 0) {
        rc = CD_EBAD;
    }
    cd_arena_free(&a);
    return rc;
}

void chat_control_user_disabled(proto_server *srv, const char *user_id)
{
    chat_user_mark_disabled(user_id, 0);
    proto_ws_close_user(srv, user_id, CHAT_CLOSE_ACCOUNT_DISABLED, "Forbidden: account disabled");
    if (!srv->rd) return;
    char msg[128];
    int n = snprintf(msg, sizeof msg, "{\"kind\":\"user_disabled\",\"userId\":\"%s\"}", user_id);
    int rc = rd_publish(srv->rd, CHAT_CONTROL_CHANNEL, msg, (size_t)n, NULL, NULL);
    if (rc != 0)
        cd_warn("chat",
                "control publish failed (%s): other processes keep user %s's sockets "
                "until their tokens expire",
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
    return rc == CD_EEXIST ? 0 : rc;
}
