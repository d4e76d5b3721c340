/*
 * http.c — HTTP/1.1 server (stub; implementation in progress).
 */
#include "net/http.h"

#include "core/core.h"

int http_server_start(uv_loop_t *loop, const http_server_opts *opts, http_server **out,
                      char *err, size_t errlen)
{
    (void)loop; (void)opts; (void)err; (void)errlen;
    *out = NULL;
    return CD_ESTATE;
}
int http_server_port(const http_server *srv) { (void)srv; return 0; }
size_t http_server_conn_count(const http_server *srv) { (void)srv; return 0; }
int http_server_drain(http_server *srv, unsigned timeout_ms, http_drain_fn done, void *arg)
{
    (void)srv; (void)timeout_ms; (void)done; (void)arg;
    return CD_ESTATE;
}
const char *http_req_header(const http_request *req, const char *name)
{
    (void)req; (void)name;
    return NULL;
}
int http_req_query_param(const http_request *req, const char *name, const char **out,
                         size_t *out_len)
{
    (void)req; (void)name; (void)out; (void)out_len;
    return CD_ESTATE;
}
char *http_url_decode(cd_arena *a, const char *src, size_t len, bool plus_is_space,
                      size_t *out_len)
{
    (void)a; (void)src; (void)len; (void)plus_is_space; (void)out_len;
    return NULL;
}
void http_req_on_abort(http_request *req, http_abort_fn fn, void *arg)
{
    (void)req; (void)fn; (void)arg;
}
bool http_req_aborted(const http_request *req) { (void)req; return false; }
int http_respond(http_request *req, int status, const char *content_type,
                 const char *extra_headers, const void *body, size_t len)
{
    (void)req; (void)status; (void)content_type; (void)extra_headers; (void)body; (void)len;
    return CD_ESTATE;
}
int http_respond_buf(http_request *req, int status, const char *content_type,
                     const char *extra_headers, char *body, size_t len)
{
    (void)req; (void)status; (void)content_type; (void)extra_headers; (void)body; (void)len;
    return CD_ESTATE;
}
const char *http_status_text(int status) { (void)status; return "Unknown"; }
