/*
 * chat.h — the chat module's contract (src/chat): the three roles' resolvers
 * and subscription sources, bound by main.c. Everything else the module's
 * files share is private (chat/chat_internal.h).
 *
 * main.c binds every role in every process: resolvers of fields another
 * role owns are never reached (the engine answers WRONG_SERVICE), a
 * subscription source only touches Redis once a client subscribes, and the
 * control channel must run wherever WebSockets are served. Bind before the
 * database pool and the broker client exist: statements are prepared on
 * first use, and broker traffic reaches the module through the routes it
 * adds to srv->rd_routes (redis.h).
 *
 * Each bind function returns 0 or a negative CD_* code.
 */
#ifndef CHATD_CHAT_H
#define CHATD_CHAT_H

#include "protocol/protocol.h"

/* The user role (design §4): Query.users, user, userByUsername, me;
 * Mutation.createUser, updateUser, removeUser, login, refreshToken, logout,
 * changePassword; User.email (email privacy for every role that returns
 * users); the cross-process control channel (a removed account's sockets
 * close with 4403 in every process). */
int chat_bind_user_role(proto_server *srv);

/* The sender role (design §4–5): Mutation.createChat, addParticipant(s),
 * removeParticipant, removeChat, createMessage, updateMessage,
 * removeMessage, markMessageAsRead, markChatAsRead, setTyping. In the sender
 * and all roles with a database configured it also starts the outbox
 * sweeper (CD_EBAD: CHATD_EVENT_RETENTION malformed). */
int chat_bind_sender_role(proto_server *srv);

/* Channel names for a Redis Cluster (on) or one redis-server (off, the
 * default): on a cluster a chat's ids are hash tags — chat:{<id>},
 * chat:{<id>}:eph, user:{<id>} — so each chat's channels share one shard.
 * Set once, before the broker client starts, by every process alike. */
void chat_use_hash_tags(bool on);

/* The receiver role (design §1, §4–5): the chat and message queries and
 * every Subscription field, fed by Redis and backed by PostgreSQL. */
int chat_bind_receiver_role(proto_server *srv);

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
