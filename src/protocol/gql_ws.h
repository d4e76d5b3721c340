/*
 * gql_ws.h — graphql-transport-ws message classification (pure, no I/O), used
 * by gql_ws.c and its unit tests.
 *
 * gqlws_parse_message() follows graphql-ws's validateMessage(): a message is
 * a JSON object with a string `type`; connection_init/ping/pong may carry an
 * object (or null) payload; subscribe needs a non-empty string id and a
 * payload object with a string query, optional object-or-null variables and
 * extensions, and an optional string-or-null operationName; complete needs a
 * non-empty string id. Every other shape (including server-only types sent by
 * a client) is invalid with a reason suitable for a 4400 close.
 */
#ifndef CHATD_PROTO_GQL_WS_H
#define CHATD_PROTO_GQL_WS_H

#include <stddef.h>

#include "graphql/value.h"

typedef enum gqlws_msg_type {
    GQLWS_MSG_INVALID = 0,
    GQLWS_MSG_CONNECTION_INIT,
    GQLWS_MSG_PING,
    GQLWS_MSG_PONG,
    GQLWS_MSG_SUBSCRIBE,
    GQLWS_MSG_COMPLETE
} gqlws_msg_type;

typedef struct gqlws_msg {
    gqlws_msg_type type;
    const gql_value *payload; /* OBJECT or NULL (absent / null) */
    const char *id;           /* subscribe / complete; NUL-terminated */
    size_t id_len;
    const char *query; /* subscribe */
    size_t query_len;
    const char *operation_name;  /* subscribe; NULL when absent or null */
    const gql_value *variables;  /* subscribe; OBJECT or NULL */
    const gql_value *extensions; /* subscribe; OBJECT or NULL */
} gqlws_msg;

/* Parses one WebSocket message into *out (pointers into arena `a`).
 * Returns 0, or CD_EBAD with a reason (for the 4400 close) in `reason`
 * (rlen bytes), or CD_ENOMEM. */
int gqlws_parse_message(cd_arena *a, const char *data, size_t len, gqlws_msg *out, char *reason,
                        size_t rlen);

#endif
