/*
 * receiver.c — binds the receiver role (design §1, §4–5): the chat and
 * message queries (queries.c) and every Subscription field (feed.c), fed by
 * Redis and backed by PostgreSQL. main.c calls chat_bind_receiver_role in
 * every role, as it does for the other roles: fields another role owns are
 * answered WRONG_SERVICE by the engine before a resolver runs, and a
 * subscription source only touches Redis once a client subscribes.
 */
#include "chat/chat_internal.h"

int chat_bind_receiver_role(proto_server *srv)
{
    int r = chat_replica_bind(srv);
    if (r == 0) r = recv_queries_bind(srv);
    if (r == 0) r = recv_presence_bind(srv);
    if (r != 0) return r;
    return recv_feed_bind(srv);
}
