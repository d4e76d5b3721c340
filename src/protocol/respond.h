/*
 * respond.h — HTTP answers of the protocol module (router.c, gql_http.c):
 * http_respond with the access log line and the status metric. Private to
 * src/protocol.
 */
#ifndef CHATD_PROTO_RESPOND_H
#define CHATD_PROTO_RESPOND_H

#include "core/buf.h"
#include "net/http.h"

/* proto_respond and proto_respond_buf are public (protocol.h): the modules
 * mounted on the router answer through them too. */
#include "protocol/protocol.h"

/* Starts the bookkeeping of a request (request id, start time) in its
 * arena and stores it in req->user. NULL when out of memory. */
proto_req_info *proto_req_begin(http_request *req);

#endif
