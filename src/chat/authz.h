/*
 * authz.h — the authorization layer every role's resolvers use (design §4).
 *
 * Authentication itself (verifying the JWT of an HTTP request or of a
 * WebSocket's connection_init, refusing non-public operations without one)
 * happens in the protocol layer; resolvers see the result as a proto_caller.
 * These helpers turn it into decisions with the project's error codes:
 *
 *   token mode (default)  the caller is the token's user. An argument that
 *                         names the acting user (userId, senderId, the id of
 *                         updateUser/removeUser) must equal it: FORBIDDEN.
 *   trust mode            the seed's behaviour: an argument naming the acting
 *                         user identifies the caller; without one, the
 *                         user-id header / connection_init value does.
 *
 * Every helper that fails has already completed the field with the error
 * (gql_ri_error) and returns NULL / false: the resolver must just return.
 */
#ifndef CHATD_CHAT_AUTHZ_H
#define CHATD_CHAT_AUTHZ_H

#include <stdbool.h>

#include "graphql/graphql.h"
#include "protocol/protocol.h"

/* GraphQL error codes (extensions.code) used across roles. */
#define CHAT_E_BAD_INPUT "BAD_USER_INPUT"
#define CHAT_E_UNAUTHENTICATED "UNAUTHENTICATED"
#define CHAT_E_FORBIDDEN "FORBIDDEN"
#define CHAT_E_NOT_FOUND "NOT_FOUND"
#define CHAT_E_RATE_LIMITED "RATE_LIMITED"
#define CHAT_E_UNAVAILABLE "SERVICE_UNAVAILABLE"
#define CHAT_E_INTERNAL "INTERNAL_SERVER_ERROR"

/* True when the process runs in trust mode (no caller context = false). */
bool chat_authz_trust(gql_rinfo *ri);

/* The identified caller's user id, or NULL after completing the field with
 * UNAUTHENTICATED ("Authentication required"). In trust mode the id comes
 * from the user-id header / connection_init payload. An account disabled
 * while this process runs (chat_user_is_disabled) counts as unidentified. */
const char *chat_authz_user(gql_rinfo *ri);

/* The caller's user id if identified, else NULL (no error). */
const char *chat_authz_user_opt(gql_rinfo *ri);

/* For an argument naming the acting user (userId, senderId, own id):
 * token mode: the caller must be authenticated and equal `acting` → returns
 * acting; else completes with UNAUTHENTICATED / FORBIDDEN and returns NULL.
 * trust mode: returns `acting` (the argument identifies the caller).
 * `what` names the operation in the FORBIDDEN message ("update another
 * user"). */
const char *chat_authz_acting_as(gql_rinfo *ri, const char *acting, const char *what);

/* True when the caller may see private fields (email) of user `user_id`:
 * trust mode, or the authenticated caller is that user. */
bool chat_authz_is_self(gql_rinfo *ri, const char *user_id);

#endif
