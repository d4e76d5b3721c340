/*
 * subscribe_internal.h — the transport side of subscribe.h: the operations
 * (struct proto_sub, one per subscribe id) of a graphql-transport-ws
 * connection, implemented in subscribe.c and driven by gql_ws.c. Private to
 * src/protocol.
 *
 * An operation holds a reference on its connection (gqlws_conn.h) until its
 * memory is released, which may be after the socket closed: a resolver run
 * in flight completes first and its result is dropped.
 */
#ifndef CHATD_PROTO_SUBSCRIBE_INTERNAL_H
#define CHATD_PROTO_SUBSCRIBE_INTERNAL_H

#include <stddef.h>

#include "protocol/gql_ws.h"
#include "protocol/gqlws_conn.h"
#include "protocol/subscribe.h"

/* The active operation of c with this id, or NULL. */
proto_sub *proto_sub_find(gqlws_conn *c, const char *id, size_t len);
/* Runs the operation of a subscribe message on c (acknowledged, id not in
 * use, under the operation limit): prepares it (request errors → `error`),
 * then a query or mutation runs once (`next`, `complete`) and a
 * subscription starts its field's source. No memory → closes c with 4500. */
void proto_sub_begin(gqlws_conn *c, const gqlws_msg *m);
/* Stops an operation (client `complete`): the source's stop runs, queued
 * events are dropped, a run in flight finishes unseen. */
void proto_sub_cancel(proto_sub *op);
/* Cancels every operation of c (socket closed, server drain). */
void proto_sub_cancel_all(gqlws_conn *c);

#endif
