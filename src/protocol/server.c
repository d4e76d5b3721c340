/*
 * server.c — process-level pieces of proto_server that belong to neither
 * transport: the shutdown hooks role code registers and the HTTP routes
 * modules above this one mount (see protocol.h).
 */
#include <string.h>

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

int proto_route_add(proto_server *srv, const char *path, const char *methods, proto_route_fn fn,
                    void *ud)
{
    if (!path || !*path || !fn) return CD_EBAD;
    if (srv->nroutes >= PROTO_MAX_ROUTES) return CD_ELIMIT;
    srv->routes[srv->nroutes++] = (proto_route){
        .path = path, .methods = methods ? methods : "GET, POST, OPTIONS", .fn = fn, .ud = ud};
    return 0;
}

const proto_route *proto_route_match(const proto_server *srv, const char *path)
{
    for (unsigned i = 0; i < srv->nroutes; i++) {
        const proto_route *r = &srv->routes[i];
        size_t n = strlen(r->path);
        bool prefix = r->path[n - 1] == '/';
        if (prefix ? strncmp(path, r->path, n) == 0 : strcmp(path, r->path) == 0) return r;
    }
    return NULL;
}
