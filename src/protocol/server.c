/*
 * server.c — the shutdown hooks role code registers on proto_server (see
 * protocol.h): run once, in registration order, after the HTTP server
 * drained.
 */
#include "protocol/protocol.h"

int proto_on_shutdown(proto_server *srv, proto_shutdown_fn fn, void *ud)
{
    if (!fn) return CD_EBAD;
    if (srv->nshutdown_hooks >= PROTO_MAX_SHUTDOWN_HOOKS) return CD_ELIMIT;
    srv->shutdown_hooks[srv->nshutdown_hooks].fn = fn;
    srv->shutdown_hooks[srv->nshutdown_hooks].ud = ud;
    srv->nshutdown_hooks++;
    return 0;
}

void proto_run_shutdown_hooks(proto_server *srv)
{
    unsigned n = srv->nshutdown_hooks;
    srv->nshutdown_hooks = 0; /* once: a hook may trigger another drain path */
    for (unsigned i = 0; i < n; i++)
        srv->shutdown_hooks[i].fn(srv, srv->shutdown_hooks[i].ud);
}
