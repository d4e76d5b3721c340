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

/* Room watch (feed.c): ONE receiver subscription per (caller, chat) that
 * carries everything a seed-003 /ws client sees of a joined room — the
 * chat's sequenced events (exactly once, in seq order, from after_seq: the
 * chatEvents rules: gap fill, replay, removal cutoff, history floor), the
 * typing of the room's other participants and the presence changes of its
 * participants — handed over as the delivered event itself (no GraphQL
 * execution, no serialisation). Typing (chat:<id>:eph) and presence are
 * routed to the chat's watches by the chat's channel, not subscribed per
 * watch. The watch counts as a live subscription for presence.
 *
 * on_event gets a log event: kind (CHAT_EV_* names, e.g. "message.created"),
 * seq, and data (the event's payload OBJECT: a Message for message.* and
 * reaction, {userId, upToSeq, readAt} for read, ...); on_typing a typing
 * change of another participant; on_presence a participant going online /
 * offline (last_seen: the time, or NULL). on_end runs once when the stream
 * ends from the server's side: code NULL = completed (the caller was removed,
 * the chat removed), else an error code (FORBIDDEN, NOT_FOUND,
 * RESYNC_REQUIRED, SERVICE_UNAVAILABLE, ...) and message; the watch is
 * freed after it returns and must not be stopped. Every pointer passed to a
 * callback is valid during the call only. Callbacks may call
 * chat_watch_stop on any watch (also their own). */
typedef struct chat_watch chat_watch;
typedef struct chat_watch_ops {
    void (*on_event)(void *ud, const char *kind, int64_t seq, const gql_value *data);
    void (*on_typing)(void *ud, const char *user_id, bool is_typing);
    void (*on_presence)(void *ud, const char *user_id, bool online, const gql_value *last_seen);
    void (*on_end)(void *ud, const char *code, const char *message);
} chat_watch_ops;
/* Starts a watch of chat_id for `caller` (the membership check runs
 * asynchronously: a non-participant gets on_end FORBIDDEN). after_seq < 0:
 * live from the chat's current seq. 0 with *out set, or CD_EBAD (bad id,
 * no identity; code/message describe it: no callback runs), CD_ENOMEM,
 * CD_EUNAVAIL (no receiver database pool). ops must outlive the watch. */
int chat_watch_start(proto_server *srv, const proto_caller *caller, const char *chat_id,
                     int64_t after_seq, const chat_watch_ops *ops, void *ud, chat_watch **out,
                     const char **code);
/* Ends a watch from the client's side (no on_end). */
void chat_watch_stop(chat_watch *w);

#endif
