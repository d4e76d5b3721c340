/*
 * chat.h — entry points of the chat module (src/chat): the role resolvers
 * main.c binds, and the cross-process control channel.
 *
 * chat_bind_user_role binds the user role's root fields (Query.users, user,
 * userByUsername, me; Mutation.createUser, updateUser, removeUser, login,
 * refreshToken, logout, changePassword) and User.email (email privacy for
 * every role that returns users). main.c calls it in every role: resolvers
 * of fields another role owns are never reached (WRONG_SERVICE), and the
 * control channel below must run wherever WebSockets are served.
 *
 * Control channel: CHAT_CONTROL_CHANNEL on Redis carries process-wide
 * notices as JSON, today {"kind":"user_disabled","userId":"..."}: every
 * process closes that user's graphql-transport-ws connections with 4403.
 * chat_bind_user_role hooks srv->rd_on_message / rd_on_state by chaining:
 * it keeps the handlers already installed and forwards every other channel
 * to them. Role code that installs handlers later must chain the same way
 * (keep the previous rd_on_* and rd_ud and call them for channels it does
 * not own).
 */
#ifndef CHATD_CHAT_H
#define CHATD_CHAT_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/protocol.h"

#define CHAT_CONTROL_CHANNEL "chatd:control"
#define CHAT_CLOSE_ACCOUNT_DISABLED GQLWS_CLOSE_FORBIDDEN /* 4403 */

/* Binds the user role (see above). Returns 0 or a negative CD_* code. */
int chat_bind_user_role(proto_server *srv);

/* A user was removed or deactivated: closes their WebSockets in this process
 * and publishes the notice for every other process (when a broker is
 * configured). */
void chat_control_user_disabled(proto_server *srv, const char *user_id);

/* Accounts disabled while this process runs are remembered for as long as
 * their access tokens can still verify (CHAT_DISABLED_TTL_S), so resolvers
 * of every role refuse them (chat_authz_user → UNAUTHENTICATED) although
 * the JWT itself is valid. Bounded by CHAT_DISABLED_MAX (oldest dropped). */
#define CHAT_DISABLED_MAX 4096
#define CHAT_DISABLED_TTL_S (900 + 30) /* USER_ACCESS_TTL_S + AUTH_LEEWAY_S */
bool chat_user_is_disabled(const char *user_id);
/* Records user_id as disabled now (called for local removals and control
 * messages; exposed for tests). `now` in unix seconds, 0 = current time. */
void chat_user_mark_disabled(const char *user_id, int64_t now);

/* Handles one control-channel message (exposed for tests). Returns 0, or
 * CD_EBAD for a malformed message (ignored and logged by the caller). */
int chat_control_handle(proto_server *srv, const char *data, size_t len);

#endif
