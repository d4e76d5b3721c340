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

/* ---- for the seed-003 API (src/compat; compat_store.c) ----
 * The statements of the compatibility API, named and prepared on the async
 * pool (src/compat owns no SQL). Each call returns 0, after which cb runs
 * exactly once, later, from the loop; or a negative CD_* code (CD_EBAD,
 * CD_ENOMEM, CD_EUNAVAIL for a NULL pool, the pool's CD_ELIMIT /
 * CD_ECLOSED) and cb never runs. In cb, status is 0 or the pool's code
 * (CD_EUNAVAIL, CD_EIO, ...) with `message` the server's text ("" on
 * success); strings passed to cb are valid only during the call. */

/* users.is_admin of an active, not removed account (false when there is
 * none). */
typedef void (*chat_compat_admin_cb)(int status, const char *message, bool is_admin, void *ud);
int chat_compat_is_admin(pg_pool *pg, const char *user_id, chat_compat_admin_cb cb, void *ud);

/* Sets users.is_admin on the account named `username` (case-insensitive,
 * not removed). The name is resolved to the account's id once, by this
 * statement: the flag stays with that account if it is renamed and never
 * passes to a later holder of the name. cb gets the account's id, or
 * status CD_ENOENT when no account has that name. */
typedef void (*chat_compat_grant_cb)(int status, const char *message, const char *user_id,
                                     void *ud);
int chat_compat_set_admin(pg_pool *pg, const char *username, bool on, chat_compat_grant_cb cb,
                          void *ud);

/* Retention cleanup (chatd_compat_cleanup, migration 0004): keeps the newest
 * `keep` live messages of chat_id and removes the older ones in one
 * transaction. cb gets the number removed, or status CD_ENOENT when the
 * chat does not exist or was removed. */
typedef void (*chat_compat_cleanup_cb)(int status, const char *message, int64_t removed, void *ud);
int chat_compat_cleanup(pg_pool *pg, const char *chat_id, int64_t keep, chat_compat_cleanup_cb cb,
                        void *ud);

#endif
