/*
 * bind.c — mounts the seed-003 API on the transports' router
 * (proto_route_add): the /ws upgrade (ws.c) and the REST routes under
 * /api/v1/ (rest.c). The top of the module: nothing in src/compat calls it.
 */
#include <stdbool.h>

#include "compat/compat.h"
#include "compat/compat_internal.h"

static bool route_ws(proto_server *srv, http_request *req, const char *cors, void *ud)
{
    CD_UNUSED(cors);
    CD_UNUSED(ud);
    if (!req->is_websocket) {
        static const char body[] = "{\"error\":{\"code\":\"UPGRADE_REQUIRED\",\"message\":"
                                   "\"WebSocket upgrade required\"}}";
        http_respond(req, 426, "application/json", "Upgrade: websocket\r\n", body, sizeof body - 1);
        return true;
    }
    compat_ws_upgrade(srv, req);
    return true;
}

static bool route_rest(proto_server *srv, http_request *req, const char *cors, void *ud)
{
    CD_UNUSED(ud);
    if (req->is_websocket) return false; /* 404 from the caller */
    compat_rest_handle(srv, req, cors);
    return true;
}

int compat_bind(proto_server *srv)
{
    int rc = compat_ws_bind();
    if (rc == 0) rc = proto_route_add(srv, COMPAT_WS_PATH, "GET, POST, OPTIONS", route_ws, NULL);
    if (rc == 0)
        rc =
            proto_route_add(srv, COMPAT_API_PREFIX, "GET, POST, DELETE, OPTIONS", route_rest, NULL);
    return rc;
}
