/*
 * gql_http.h — GraphQL over HTTP, as the router (router.c) sees it. Private
 * to src/protocol.
 */
#ifndef CHATD_PROTO_GQL_HTTP_H
#define CHATD_PROTO_GQL_HTTP_H

#include "net/http.h"
#include "protocol/protocol.h"

/* Answers a GraphQL request on /graphql (or /): GET or POST, any other
 * method 405. `cors` is the CORS header block for the request's origin (in
 * req's arena) or NULL; it is sent with every answer. Completes req. */
void proto_gql_http_handle(proto_server *srv, http_request *req, const char *cors);

#endif
