/*
 * compat_internal.h — private to src/compat (compat.c, rest.c, ws.c,
 * admin.c): limits, the in-process GraphQL runner, the seed's JSON shapes
 * and the two endpoints' entry points. Nothing outside src/compat includes
 * it (the unit tests of the module do).
 */
#ifndef CHATD_COMPAT_INTERNAL_H
#define CHATD_COMPAT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat/compat.h"
#include "core/buf.h"
#include "graphql/graphql.h"
#include "protocol/protocol.h"

#define COMPAT_API_PREFIX "/api/v1/"
#define COMPAT_WS_PATH "/ws"
/* GET rooms/:id/messages without ?limit (the seed's default) and the most
 * a page may ask for (the receiver's messages() limit). */
#define COMPAT_MESSAGES_DEFAULT 100
#define COMPAT_MESSAGES_MAX 1000
/* Messages in a roomJoined / direct-room answer (the seed's "last 50"). */
#define COMPAT_JOIN_MESSAGES 50
/* DELETE rooms/:id/cleanup keeps the newest N messages (CHATD_COMPAT_KEEP
 * overrides; ?keep=N per request, 1..COMPAT_KEEP_MAX). */
#define COMPAT_KEEP_DEFAULT 100
#define COMPAT_KEEP_MAX 1000000
/* Rooms one /ws connection may have joined at once. */
#define COMPAT_MAX_ROOMS 100u
/* sendMessage / markRead events of one /ws connection run one at a time
 * in arrival order; at most this many wait (more → error RATE_LIMITED). */
#define COMPAT_MAX_QUEUED_WRITES 256u
/* After the last joinRoom of a burst answered, wait this long and return
 * the burst's freed heap pages to the kernel (ws.c, glibc malloc_trim). */
#define COMPAT_TRIM_DELAY_MS 1000
/* joinRoom queries of one process running at once; later joins wait for a
 * slot in arrival order (ws.c, "join admission"). */
#define COMPAT_JOINS_RUNNING 8u
/* joinRoom requests of one /ws connection waiting or running at once; more
 * → error RATE_LIMITED. */
#define COMPAT_MAX_PENDING_JOINS 100u
/* Wait this long for the first auth message when /ws had no token. */
#define COMPAT_AUTH_TIMEOUT_MS 10000
/* Close codes of /ws. */
#define COMPAT_CLOSE_UNAUTHORIZED 4401
#define COMPAT_CLOSE_AUTH_TIMEOUT 4408

/* Result of one in-process GraphQL operation: `data` is the "data" member
 * (an OBJECT, or NULL), err_code/err_msg the first error's
 * extensions.code and message (NULL when there was none). */
typedef struct compat_result {
    const gql_value *data;
    const char *err_code;
    const char *err_msg;
} compat_result;
typedef void (*compat_gql_cb)(const compat_result *r, void *ud);

/* Runs `query` with `vars_json` (a JSON object text, or NULL) as `caller`
 * (must stay valid until cb runs). Every root field is served in this
 * process (service NULL): callers check role placement first. cb runs
 * exactly once, possibly before this returns. Returns 0 or CD_ENOMEM (cb
 * not called). */
int compat_gql(proto_server *srv, const proto_caller *caller, const char *query,
               const char *vars_json, compat_gql_cb cb, void *ud);

/* HTTP status for a GraphQL error code (UNAUTHENTICATED → 401, ...). */
int compat_status_for(const char *code);

/* Seed-003 JSON for a GraphQL Message OBJECT (COMPAT_MSG_FIELDS) / a Chat
 * (COMPAT_ROOM_FIELDS). */
void compat_write_message(cd_buf *b, const gql_value *m);
/* Same with the sender given (a User OBJECT or NULL) instead of m.sender. */
void compat_write_message_as(cd_buf *b, const gql_value *m, const gql_value *sender);
void compat_write_room(cd_buf *b, const gql_value *c);
#define COMPAT_USER_FIELDS "id username displayName"
#define COMPAT_MSG_BASE_FIELDS                                                                     \
    "id chatId senderId content type metadata seq createdAt isEdited editedAt deletedAt replyToId"
#define COMPAT_MSG_FIELDS COMPAT_MSG_BASE_FIELDS " sender { " COMPAT_USER_FIELDS " }"
#define COMPAT_ROOM_FIELDS                                                                         \
    "id name description chatType participantIds isActive createdAt updatedAt lastSeq "            \
    "unreadCount participants { " COMPAT_USER_FIELDS " } lastMessage { " COMPAT_MSG_FIELDS " }"

/* Small JSON readers over gql_value (NULL / false when absent or of another
 * kind). */
const char *compat_str(const gql_value *o, const char *k);
bool compat_int(const gql_value *o, const char *k, int64_t *out);

/* Whether s is a UUID in text form (8-4-4-4-12 hex digits, either case);
 * false for NULL. Ids are checked before they reach a query. */
#define COMPAT_UUID_LEN 36
bool compat_uuid_ok(const char *s);

/* The role that serves a compat route ("user", "sender", "receiver"), and
 * whether this process serves it. */
bool compat_role_serves(const proto_server *srv, const char *role);

/* One /ws client message, parsed and checked without a connection
 * (compat_ws_parse, ws.c; also the fuzz driver's entry). */
typedef enum compat_ws_ev {
    COMPAT_EV_UNKNOWN = -1,
    COMPAT_EV_AUTH,
    COMPAT_EV_JOIN,
    COMPAT_EV_LEAVE,
    COMPAT_EV_SEND,
    COMPAT_EV_TYPING,
    COMPAT_EV_READ,
} compat_ws_ev;
typedef struct compat_ws_msg {
    const char *type;         /* "type" (NULL when the envelope is bad) */
    compat_ws_ev ev;          /* COMPAT_EV_UNKNOWN for an unknown type */
    const gql_value *payload; /* an OBJECT ({} when absent or null) */
    const char *room;         /* payload.roomId when a string */
    const char *token;        /* payload.token (auth) */
    const char *target;       /* payload.targetUserId (joinRoom) */
    bool typing;              /* payload.isTyping (typing) */
    int64_t seq;              /* payload.sequenceId (markRead) */
    const char *err_code;     /* the first problem, NULL when the event is valid */
    const char *err_msg;      /* its message */
    const char *err_room;     /* the roomId the error names, or NULL */
} compat_ws_msg;
/* Parses one text message (strings live in arena a). Returns CD_EBAD for a
 * bad envelope (not a JSON object with a string "type": INVALID_MESSAGE;
 * payload neither object nor null: INVALID_PAYLOAD), CD_ENOMEM, else 0
 * with err_code set when the event itself is invalid for an authenticated
 * connection (UNKNOWN_EVENT, INVALID_PAYLOAD, NOT_FOUND for a malformed
 * roomId). A valid event has every id a UUID and its fields checked. */
int compat_ws_parse(cd_arena *a, const char *data, size_t len, compat_ws_msg *m);

/* The /ws module's metrics section (ws.c: chatd_compat_joins_*). 0 or CD_*. */
int compat_ws_bind(void);
/* The /ws upgrade (ws.c). */
void compat_ws_upgrade(proto_server *srv, http_request *req);
/* A REST request, routed and its arguments checked without a server or
 * caller (compat_rest_parse, rest.c; also the fuzz driver's entry). */
typedef enum compat_rest_id {
    COMPAT_REST_NONE = -1,
    COMPAT_REST_LOGIN,
    COMPAT_REST_ROOMS,
    COMPAT_REST_ROOMS_SLASH,
    COMPAT_REST_DIRECT,
    COMPAT_REST_MESSAGES,
    COMPAT_REST_UNREAD,
    COMPAT_REST_ONLINE,
    COMPAT_REST_READ,
    COMPAT_REST_CLEANUP,
    COMPAT_REST_NROUTES
} compat_rest_id;
typedef struct compat_rest_args {
    int route;            /* a compat_rest_id */
    int route_status;     /* 404 no such route, 405 wrong method (parse failed) */
    const char *role;     /* the role serving the route */
    bool anonymous;       /* the route needs no caller */
    const char *room;     /* rooms/:id routes: the id as sent (request arena) */
    int64_t n;            /* limit / sequenceId / keep */
    int64_t before;       /* beforeSequenceId, -1 = none */
    const char *username; /* login */
    const char *password; /* login */
    const char *target;   /* direct: targetUserId */
    int status;           /* the arguments' first problem (answered after the */
    const char *code;     /* caller is known): HTTP status, code, message; */
    const char *msg;      /* code NULL when the arguments are valid */
} compat_rest_args;
/* Routes req (its path starts with /api/v1/) and checks its arguments.
 * Returns CD_ENOENT (404) / CD_EBAD (405) with route_status set,
 * CD_ENOMEM, or 0 with a->code set when an argument is invalid. A valid
 * result has a UUID room, n and before in their ranges and the body fields
 * of its route. */
int compat_rest_parse(http_request *req, compat_rest_args *a);
/* The REST routes (rest.c); path is below /api/v1/. */
void compat_rest_handle(proto_server *srv, http_request *req, const char *cors);

/* Direct room of the caller and `target` (compat.c): finds the caller's
 * direct chat whose participants are exactly {caller, target}, else
 * creates it. cb gets the chat id (NULL with code/message on error). */
typedef void (*compat_direct_cb)(const char *chat_id, const char *code, const char *msg, void *ud);
int compat_direct_room(proto_server *srv, const proto_caller *caller, const char *target,
                       compat_direct_cb cb, void *ud);

#endif
