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
#include <stdint.h>

#include "core/text.h"
#include "protocol/gql_ws.h"
#include "protocol/gqlws_conn.h"
#include "protocol/subscribe.h"

/* How an operation id is stored. graphql-ws clients send UUID v4 text
 * (36 chars); a canonical UUID (8-4-4-4-12 hex digits) whose letters are all
 * lower or all upper case is kept as its 16 bytes and that case, so it is
 * echoed byte for byte; any other id (mixed case, other shapes) as its text. */
#define PROTO_OPID_UUID_LEN CD_UUID_LEN
#define PROTO_OPID_BIN CD_UUID_BIN
typedef enum proto_opid_form {
    PROTO_OPID_TEXT,
    PROTO_OPID_UUID_LOWER, /* also a UUID without letters */
    PROTO_OPID_UUID_UPPER,
} proto_opid_form;
/* The stored form of the id id[0..len); for a UUID form its bytes in bin. */
proto_opid_form proto_opid_pack(const char *id, size_t len, uint8_t bin[PROTO_OPID_BIN]);
/* The text of a UUID form's bytes (PROTO_OPID_UUID_LEN chars and a NUL). */
void proto_opid_unpack(proto_opid_form form, const uint8_t bin[PROTO_OPID_BIN],
                       char out[PROTO_OPID_UUID_LEN + 1]);
/* Bytes an operation with this id takes from the pool (tests, docs). */
size_t proto_sub_alloc_size(const char *id, size_t len);

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
