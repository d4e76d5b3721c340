/*
 * respond.h — HTTP answers of the protocol module (router.c, gql_http.c):
 * http_respond with the access log line and the status metric. Private to
 * src/protocol.
 */
#ifndef CHATD_PROTO_RESPOND_H
#define CHATD_PROTO_RESPOND_H

#include "core/buf.h"
#include "net/http.h"

/* Completes req (see http_respond; body copied). */
void proto_respond(http_request *req, int status, const char *ct, const char *extra,
                   const char *body, size_t len);
/* Completes req with the buffer's bytes (taken; b is left empty), or 500
 * "out of memory" when building b failed. */
void proto_respond_buf(http_request *req, int status, const char *ct, const char *extra, cd_buf *b);

#endif
