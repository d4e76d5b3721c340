/*
 * protocol.h — the GraphQL transports of chatd: GraphQL over HTTP
 * (gql_http.c), graphql-transport-ws (gql_ws.c), the HTTP router with CORS
 * and the operational endpoints /healthz, /readyz, /metrics (router.c), and
 * the caller identity handed to resolvers (caller.c). Subscriptions:
 * subscribe.h.
 *
 * One proto_server per process (one loop, no locks). main.c fills it and
 * passes proto_http_handle as the http_server's request handler; everything
 * else (CORS, auth, routing, WebSocket upgrade) happens here.
 *
 * Resolver context: every operation runs with gql_exec_opts.context pointing
 * at a proto_caller that lives as long as the operation (the HTTP request or
 * the WebSocket connection). Resolvers read it with proto_caller_of(ri).
 *
 * Ownership: proto_server does not own the schema, cache, pool or broker
 * (main.c creates and frees them). WebSocket connection state is freed in the
 * ws on_close callback, HTTP request state with the request's arena.
 */
#ifndef CHATD_PROTOCOL_H
#define CHATD_PROTOCOL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/log.h"
#include "core/tally.h"
#include "graphql/graphql.h"
#include "net/http.h"
#include "net/ws.h"
#include "store/pg.h"
#include "store/redis.h"

/* graphql-transport-ws close codes (graphql-ws PROTOCOL.md) and ours. */
#define GQLWS_CLOSE_BAD_REQUEST 4400       /* invalid message; reason says why */
#define GQLWS_CLOSE_UNAUTHORIZED 4401      /* subscribe before connection_ack */
#define GQLWS_CLOSE_FORBIDDEN 4403         /* connection_init / refresh refused, token expired */
#define GQLWS_CLOSE_SUBPROTOCOL 4406       /* no graphql-transport-ws subprotocol */
#define GQLWS_CLOSE_INIT_TIMEOUT 4408      /* no connection_init in time */
#define GQLWS_CLOSE_SUBSCRIBER_EXISTS 4409 /* duplicate operation id */
#define GQLWS_CLOSE_TOO_MANY_INITS 4429    /* second connection_init */
#define GQLWS_CLOSE_RATE_LIMITED 4429      /* inbound message rate over the limit */
#define GQLWS_CLOSE_INTERNAL 4500          /* out of memory / internal failure */
#define GQLWS_CLOSE_SLOW_CONSUMER 4008     /* outbound queue over ws_max_queued */
#define GQLWS_CLOSE_PING_TIMEOUT 4504      /* no frame from the peer for 2 x ws_ping_ms */
#define GQLWS_REASON_TOKEN_EXPIRED "Token expired" /* the 4403 when the token's exp passes */
/* Pending subscription events per operation while a run is in flight; more
 * means the client (or a resolver) cannot keep up → close 4008. */
#define GQLWS_MAX_PENDING_EVENTS 1024u
/* Longest operation id we accept (graphql-ws ids are UUIDs). Longer → 4400. */
#define GQLWS_MAX_ID_LEN 128u

/* Connection caps (cfg max_conns, max_conns_per_addr, max_ws_per_user):
 * an HTTP request or WebSocket upgrade over a cap is answered 503 with
 * Retry-After: PROTO_CAP_RETRY_AFTER_S and its connection closed; a
 * WebSocket whose user already holds max_ws_per_user is closed
 * GQLWS_CLOSE_TRY_AGAIN (graphql-ws clients retry it). */
#define PROTO_CAP_RETRY_AFTER_S 1u
#define GQLWS_CLOSE_TRY_AGAIN 1013 /* "Try again later": the user's WebSocket cap */
#define GQLWS_REASON_USER_CAP "Too many connections for this user"

#define PROTO_MAX_USER_ID 64u
#define PROTO_MAX_USERNAME 128u
#define PROTO_MAX_CLIENT_IP 63u

typedef struct proto_server proto_server;
typedef struct gqlws_conn gqlws_conn;

/* HTTP routes mounted by modules above this one (the seed-003 API in
 * src/compat registers its /ws and /api/v1/ routes here), so the transports
 * never call up into them. A route whose path ends with '/' matches every
 * path below it, any other matches exactly. Routes are consulted in
 * registration order before the built-in ones, for every method but OPTIONS;
 * the handler answers the request and returns true, or returns false to let
 * the built-in routes (or a 404) answer. `methods` is the Allow list of a
 * CORS preflight on the route's paths. */
#define PROTO_MAX_ROUTES 8u
typedef bool (*proto_route_fn)(proto_server *srv, http_request *req, const char *cors, void *ud);
typedef struct proto_route {
    const char *path; /* static: "/ws", "/api/v1/" */
    const char *methods;
    proto_route_fn fn;
    void *ud;
    /* POST bodies on this route stream (req->streaming: the handler pulls
     * them with http_req_body_start, http.h) instead of being buffered. */
    bool stream_post;
} proto_route;

/* Shutdown hooks: role code registers what must stop before the process
 * exits (timers, broker subscriptions, background work). main.c runs them
 * once, after the HTTP server drained (no request in flight, every WebSocket
 * closed) and before the database pool and the broker are closed. */
#define PROTO_MAX_SHUTDOWN_HOOKS 16u
typedef void (*proto_shutdown_fn)(proto_server *srv, void *ud);

/* Who is calling. In token mode `user_id`/`username` come from a verified
 * JWT; in trust mode from the user-id/username headers (HTTP) or the
 * connection_init payload (WS) and may be empty. The strings are never NULL
 * ("" = unknown); they live as long as the caller (request arena for HTTP,
 * the connection's heap for WebSocket — set them with proto_caller_set). */
typedef struct proto_caller {
    proto_server *srv;
    bool authenticated; /* token mode: a valid token was presented */
    bool trust;         /* the process runs in trust mode */
    /* A caller of the seed-003 compatibility API (src/compat): its contract
     * lets clients post messages of type "system"; GraphQL callers may not. */
    bool compat_api;
    /* Password operations started by this caller (users.c's per-request
     * budget) and when the count began (uv_now ms). */
    uint32_t pw_ops;
    const char *user_id;   /* at most PROTO_MAX_USER_ID bytes */
    const char *username;  /* at most PROTO_MAX_USERNAME bytes */
    const char *client_ip; /* client address, for throttling (proto_client_addr) */
    int64_t token_exp;     /* token expiry (unix s), 0 in trust mode */
    int64_t token_ver;     /* the token's "ver" claim (auth.h), 0 when absent */
    uint64_t pw_ops_since;
    /* Heap mode: one block holding user_id and username (set together by
     * token checks; one allocation instead of two), or NULL. */
    char *names;
} proto_caller;

/* Fields of proto_caller_set. */
typedef enum proto_caller_field {
    PROTO_CALLER_USER_ID,
    PROTO_CALLER_USERNAME,
    PROTO_CALLER_CLIENT_IP
} proto_caller_field;

/* Initialises every string to "". */
void proto_caller_init(proto_caller *c, proto_server *srv);
/* Copies s (len bytes) into the field: into `a` when given, else into heap
 * memory freed by proto_caller_free (one caller uses one mode throughout;
 * on the heap, user_id and username share one block, so setting one of them
 * moves the other). A value over the field's limit sets "". Returns 0 or
 * CD_ENOMEM (the field is then ""). */
int proto_caller_set(proto_caller *c, cd_arena *a, proto_caller_field f, const char *s, size_t len);
/* Frees heap strings set with a == NULL. */
void proto_caller_free(proto_caller *c);
/* Initialises c for a request (an HTTP request, or the upgrade request of a
 * WebSocket): trust flag, the peer address and, in trust mode, the user-id
 * and username headers. Strings go into `a` (NULL = heap, as above). */
void proto_caller_from_request(proto_caller *c, cd_arena *a, proto_server *srv, http_request *req);
/* The client address of a request whose TCP peer is `peer`: the peer
 * itself, unless it matches `trusted` (CHATD_TRUSTED_PROXIES,
 * cd_config_addr_in_list); then the X-Forwarded-For hops (every such header
 * of `hdrs`, in order, read right to left) are walked past trusted proxies
 * and the first hop that is not one is the client. When every hop is
 * trusted the leftmost is taken; a malformed hop stops the walk at the last
 * valid one (what lies left of it came from an untrusted client). Writes at
 * most outlen - 1 bytes + NUL to out. */
void proto_client_addr(const char *trusted, const char *peer, const http_header *hdrs, size_t nhdrs,
                       char *out, size_t outlen);
/* Token mode: verifies an access token (the configured secret) and makes c
 * its authenticated user (id, username, expiry). 0, or CD_EAUTH with a
 * static reason in *why (c unchanged). */
int proto_caller_verify(proto_caller *c, cd_arena *a, const char *token, size_t len,
                        const char **why);
/* Token mode, a WebSocket caller (heap strings) already authenticated:
 * verifies a fresh access token like proto_caller_verify and, when it names
 * the same user, takes its expiry (and username). 0; CD_EAUTH (invalid or
 * expired token), CD_EPERM (another user's token) or CD_ESTATE (the caller
 * is not authenticated), each with a static reason in *why and c unchanged. */
int proto_caller_refresh(proto_caller *c, const char *token, size_t len, const char **why);

struct proto_server {
    uv_loop_t *loop;
    const cd_config *cfg;
    gql_schema *schema;
    gql_cache *cache;
    const char *service; /* role name for gql_exec_opts.service; NULL = all */
    const char *version;
    pg_pool *pg; /* NULL when no database configured */
    /* Receivers' reads (DATABASE_REPLICA_URL, receiver and all roles): a
     * streaming replica, or NULL. The chat module routes reads to it
     * (src/chat/replica.c) and sets pg_replica_lagging while reads go to the
     * primary because the replica has not replayed what they need. */
    pg_pool *pg_replica;
    bool pg_replica_lagging;
    rd_client *rd; /* NULL when no broker configured */
    http_server *http;
    /* Broker traffic by channel prefix: roles add routes when they bind;
     * main.c then creates `rd` with rd_router_callbacks(&rd_routes). */
    rd_router rd_routes;
    bool draining;
    struct {
        proto_shutdown_fn fn;
        void *ud;
    } shutdown_hooks[PROTO_MAX_SHUTDOWN_HOOKS]; /* private: see proto_on_shutdown */
    unsigned nshutdown_hooks;                   /* private */
    proto_route routes[PROTO_MAX_ROUTES];       /* private: see proto_route_add */
    unsigned nroutes;                           /* private */
    gqlws_conn *ws_head;                        /* private: open graphql-transport-ws connections */
    uint64_t ws_count;                          /* private */
    cd_tally ws_users; /* private: open WebSockets per user (max_ws_per_user) */
};

/* Registers a shutdown hook (run in registration order). 0 or CD_ELIMIT. */
int proto_on_shutdown(proto_server *srv, proto_shutdown_fn fn, void *ud);
/* Runs every hook once (later calls do nothing). Called by main.c. */
void proto_run_shutdown_hooks(proto_server *srv);

/* Mounts a route (see proto_route). 0, CD_EBAD (path or fn missing) or
 * CD_ELIMIT (more than PROTO_MAX_ROUTES). */
int proto_route_add(proto_server *srv, const char *path, const char *methods, proto_route_fn fn,
                    void *ud);

/* Marks the route mounted on `path` as streaming its POST bodies. */
int proto_route_stream_post(proto_server *srv, const char *path);
/* http_server_opts.stream_body for proto_http_handle (user = proto_server*). */
bool proto_http_stream(const http_request *req, void *user);

/* The route mounted on `path`, or NULL. */
const proto_route *proto_route_match(const proto_server *srv, const char *path);

/* The http_server request handler (user = proto_server*; router.c). */
void proto_http_handle(http_request *req, void *user);

/* ---- access log and request ids (respond.c) ----
 *
 * Every request gets a request id: the client's X-Request-Id when it is a
 * valid one (cd_request_id_valid: at most CD_REQUEST_ID_MAX bytes of
 * [A-Za-z0-9._:-]), else a new one. proto_http_handle keeps it with the
 * start time in req->user (a proto_req_info in the request's arena), runs
 * the request inside its log context (log.h) and every answer sent with
 * proto_respond* echoes it as X-Request-Id and writes one access log line
 * (info; debug for a 2xx of /healthz, /readyz and /metrics): method, path
 * (never the query string), status, bytes, duration_ms, user_id (once a
 * caller is known), client_ip, request_id. No header, token or body is
 * logged. */
typedef struct proto_req_info {
    char request_id[CD_REQUEST_ID_MAX + 1];
    uint64_t t0_ns;             /* uv_hrtime at the handler */
    const proto_caller *caller; /* proto_req_set_caller; NULL = anonymous */
} proto_req_info;

/* The request's info, or NULL (not handled by proto_http_handle, or out of
 * memory: it is then answered without an id). */
proto_req_info *proto_req_info_of(http_request *req);
/* The caller the access log names (must live as long as req). */
void proto_req_set_caller(http_request *req, const proto_caller *c);
/* Completes req (see http_respond; body copied) with the access log line,
 * the status metric and the X-Request-Id header. */
void proto_respond(http_request *req, int status, const char *ct, const char *extra,
                   const char *body, size_t len);
/* Completes req with the buffer's bytes (taken; b is left empty), or 500
 * "out of memory" when building b failed. */
void proto_respond_buf(http_request *req, int status, const char *ct, const char *extra, cd_buf *b);

/* The access log of one WebSocket session (both WebSocket transports):
 * begun at the upgrade (the upgrade request's id, the start time), counted
 * while it runs, ended once by the transport's on_close with one info line:
 * path, status 101, duration_ms, bytes and messages each way, close code,
 * user_id, client_ip, request_id. Its request id is the log context of the
 * session's messages (proto_session_enter). */
/* A session is the last part of its owner's allocation and its request id's
 * text follows it there: allocate proto_session_size(req) bytes for it
 * (one block per connection; ids are 1..CD_REQUEST_ID_MAX bytes). */
typedef struct proto_session {
    uint64_t t0_ns;
    uint64_t bytes_in, bytes_out;
    uint32_t msgs_in, msgs_out;
} proto_session;
size_t proto_session_size(http_request *req);
void proto_session_begin(proto_session *s, http_request *req);
/* The session's request id ("" when none): the text after the struct. */
static inline const char *proto_session_id(const proto_session *s)
{
    return (const char *)(s + 1);
}
void proto_session_end(const proto_session *s, const char *path, const proto_caller *c, int code);

/* Called by the router for an upgrade on /graphql (gql_ws.c). */
void proto_ws_upgrade(proto_server *srv, http_request *req);
/* Stops every operation on every WebSocket (drain; the net layer sends the
 * 1001 closes). */
void proto_ws_shutdown(proto_server *srv);

/* The caller of the operation a resolver runs in (never NULL while a
 * resolver of a chatd transport runs). */
static inline const proto_caller *proto_caller_of(gql_rinfo *ri)
{
    return (const proto_caller *)gql_ri_context(ri);
}

/* Root fields that need no authentication in token mode: health,
 * __typename, __schema, __type and the sign-in mutations createUser, login
 * and refreshToken. */
bool proto_field_is_public(const char *name);
/* After gql_exec_prepare: true when every root field of the selected
 * operation (through fragments) is public. */
bool proto_operation_is_public(proto_server *srv, const char *query, size_t len,
                               const char *operation_name);

/* Binds Query.health (every role) and, with cfg->test_fixtures, the fixture
 * resolvers and the countdown source (fixtures.c). */
int proto_bind_builtin(proto_server *srv);
/* SDL appended to the schema when test fixtures are on. */
extern const char proto_fixtures_sdl[];

/* Closes every graphql-transport-ws connection whose caller is `user_id`
 * with `code` and `reason` (a removed or deactivated account: 4403). Returns
 * how many were closed. */
int proto_ws_close_user(proto_server *srv, const char *user_id, int code, const char *reason);

/* Embedded graphql-transport-ws connections (added for the seed-003
 * compatibility API, compat_ws.c): a connection already initialised for
 * `caller` (copied) that runs on another transport's socket `ws`. Every
 * message it would send is handed to tap(ud, json, len) instead (return 0 or
 * a negative code); the embedding transport feeds graphql-transport-ws
 * messages in with proto_ws_feed, reports pongs / inbound traffic with
 * proto_ws_touch (heartbeat: the shared heartbeat deadline pings `ws` and closes it 4504
 * when silent), and calls proto_ws_detach exactly once from its on_close
 * (cancels every operation; the conn is freed when the last one ends).
 * Operations run with gql_exec_opts.service = service (NULL = every root
 * field). Not rate-limited here: the embedding transport limits its own
 * messages. Returns NULL on no memory. */
typedef int (*proto_ws_tap_fn)(void *ud, const char *data, size_t len);
gqlws_conn *proto_ws_attach(proto_server *srv, ws_conn *ws, const proto_caller *caller,
                            const char *service, proto_ws_tap_fn tap, void *ud);
void proto_ws_feed(gqlws_conn *c, const char *data, size_t len);
void proto_ws_touch(gqlws_conn *c);
void proto_ws_detach(gqlws_conn *c);
/* False when user_id already holds cfg->max_ws_per_user open WebSockets in
 * this process (graphql-transport-ws and embedded ones alike); the
 * embedding transport checks it before proto_ws_attach, which counts the
 * new one. */
bool proto_ws_user_has_room(const proto_server *srv, const char *user_id);
/* In-band token refresh of a token-mode connection (graphql-transport-ws
 * or embedded): proto_caller_refresh on its caller, then its expiry timer
 * follows the new token. Without a refresh every authenticated connection
 * is closed 4403 GQLWS_REASON_TOKEN_EXPIRED when its token's exp passes.
 * Returns what proto_caller_refresh returns (the connection is unchanged
 * on failure; closing it is the caller's choice). */
int proto_ws_refresh(gqlws_conn *c, const char *token, size_t len, const char **why);

/* Writes {"errors":[{"message":msg,"extensions":{"code":code}}]} (code may be
 * NULL) to out. */
void proto_write_error_json(cd_buf *out, const char *msg, const char *code);

#endif
