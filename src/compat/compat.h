/*
 * compat.h — the public header of src/compat, the seed-003 compatibility API (docs/api.md): a
 * JSON-over-WebSocket event API on /ws and a REST API under /api/v1, served
 * from the same data and the same delivery core as the GraphQL API.
 *
 * It is an adapter, not a second implementation: every read and write runs
 * a fixed GraphQL operation IN-PROCESS through the engine (compat_gql) with
 * the authenticated caller as context, so authz, limits, the write
 * transaction (seq, outbox, publish) and the receiver's exactly-once
 * per-chat delivery are the GraphQL API's by construction. Live /ws events
 * come from one receiver subscription per joined room (chat_watch_start in
 * chat/chat.h: the room's log events, typing and presence), written as the
 * seed's event JSON straight from each delivered event.
 *
 * Role placement (design §1 and issue 10): login → user role, REST reads
 * and /ws → receiver, REST writes → sender, `all` serves everything. A
 * route on another role answers 421 {"error":{"code":"WRONG_SERVICE",...}}.
 * The /ws write events (sendMessage, markRead, typing) run the sender's
 * mutations in the receiver process (every role binds every resolver).
 *
 * Memory: compat_gql copies the query and variables; its result lives in an
 * arena freed after the callback returns. HTTP state lives in the request
 * arena; a /ws connection's state is heap memory freed in its on_close.
 */
#ifndef CHATD_COMPAT_H
#define CHATD_COMPAT_H

#include <stddef.h>
#include <uv.h>

#include "protocol/protocol.h"
#include "store/pg.h"

/* Mounts the /ws and /api/v1/ routes on srv (proto_route_add). 0 or CD_*. */
int compat_bind(proto_server *srv);

/* Admin flag (admin.c): the chat module's named statement on the async
 * pool, the loop run until it completes — before serving only.
 * compat_admin_main runs `chatd admin grant|revoke <username>` (argv[0] is
 * "admin"; migrations applied first when `migrations` is a directory) on a
 * loop and pool of its own and returns the process exit status (0, 1 on
 * any failure such as an unknown user, 2 for bad usage).
 * compat_admin_grant_list grants every username of a comma-separated list
 * (CHATD_ADMINS) on `pg`, running `loop` until the last grant completed
 * (call it before the HTTP server listens); stops at the first failure.
 * 0 or CD_* (CD_ENOENT: no such user) with the reason in err. */
int compat_admin_main(int argc, char **argv, const char *conninfo, const char *migrations);
int compat_admin_grant_list(uv_loop_t *loop, pg_pool *pg, const char *list, char *err,
                            size_t errlen);

#endif
