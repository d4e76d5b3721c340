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

/* The receiver role (design §1, §4–5): the chat and message queries and
 * every Subscription field, fed by Redis and backed by PostgreSQL. */
int chat_bind_receiver_role(proto_server *srv);

#endif
