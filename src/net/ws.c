/*
 * ws.c — WebSocket connections (stub; implementation in progress).
 */
#include "net/ws.h"

#include "core/core.h"

bool ws_is_upgrade(const http_request *req) { return req->is_websocket; }
const char *ws_select_protocol(const http_request *req, const char *const *supported)
{
    (void)req; (void)supported;
    return NULL;
}
int ws_accept(http_request *req, const char *subprotocol, const ws_callbacks *cb, void *user,
              ws_conn **out)
{
    (void)req; (void)subprotocol; (void)cb; (void)user;
    if (out) *out = NULL;
    return CD_ESTATE;
}
void *ws_conn_user(const ws_conn *c) { (void)c; return NULL; }
void ws_conn_set_user(ws_conn *c, void *user) { (void)c; (void)user; }
http_server *ws_conn_server(const ws_conn *c) { (void)c; return NULL; }
int ws_conn_peer_ip(const ws_conn *c, char *buf, size_t len)
{
    (void)c; (void)buf; (void)len;
    return CD_EIO;
}
bool ws_conn_closing(const ws_conn *c) { (void)c; return true; }
size_t ws_conn_write_queue(const ws_conn *c) { (void)c; return 0; }
int ws_send_text(ws_conn *c, const char *data, size_t len) { (void)c; (void)data; (void)len; return CD_ESTATE; }
int ws_send_binary(ws_conn *c, const void *data, size_t len) { (void)c; (void)data; (void)len; return CD_ESTATE; }
ws_frame_shared *ws_frame_new_text(const char *data, size_t len) { (void)data; (void)len; return NULL; }
ws_frame_shared *ws_frame_new_binary(const void *data, size_t len) { (void)data; (void)len; return NULL; }
ws_frame_shared *ws_frame_ref(ws_frame_shared *f) { return f; }
void ws_frame_release(ws_frame_shared *f) { (void)f; }
int ws_send_frame(ws_conn *c, ws_frame_shared *f) { (void)c; (void)f; return CD_ESTATE; }
int ws_ping(ws_conn *c, const void *data, size_t len) { (void)c; (void)data; (void)len; return CD_ESTATE; }
int ws_close(ws_conn *c, int code, const char *reason) { (void)c; (void)code; (void)reason; return CD_ESTATE; }
