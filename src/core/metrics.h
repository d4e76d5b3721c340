/*
 * metrics.h — process-wide counters and gauges rendered as Prometheus text
 * (GET /metrics).
 *
 * One single-threaded loop per process, so the metrics are plain globals with
 * no atomics. Other modules bump them through the small functions below; state
 * that lives elsewhere (pg pool, redis, document cache) is pulled at render
 * time through a probe callback so metrics.c depends on nothing above core.
 */
#ifndef CHATD_METRICS_H
#define CHATD_METRICS_H

#include <stdint.h>

#include "core/buf.h"

typedef enum cd_metric_transport { CD_MT_HTTP = 0, CD_MT_WS = 1 } cd_metric_transport;
typedef enum cd_metric_outcome {
    CD_MO_OK = 0,
    CD_MO_ERROR = 1,
    CD_MO_REJECTED = 2
} cd_metric_outcome;
/* op kinds follow gql_op_kind: 0 query, 1 mutation, 2 subscription */
#define CD_METRIC_OP_KINDS 3

/* Latency histogram upper bounds in seconds (Prometheus "le" labels). */
#define CD_METRIC_LATENCY_BUCKETS 12
/* WebSocket close codes counted by name (cd_metrics_ws_close); others → "other". */
#define CD_METRIC_WS_CLOSE_CODES 13

typedef struct cd_metrics {
    int64_t connections[2];                     /* open connections by transport (gauge; http
                                                 * comes from the probe when one is set) */
    uint64_t connections_total[2];              /* accepted since start (ws only: the net
                                                 * layer does not report HTTP accepts) */
    int64_t subscriptions;                      /* active subscription operations (gauge) */
    uint64_t operations[CD_METRIC_OP_KINDS][3]; /* by op kind and outcome */
    uint64_t latency_buckets[CD_METRIC_LATENCY_BUCKETS]; /* cumulative at render */
    uint64_t latency_count;
    double latency_sum;
    uint64_t http_requests[6]; /* by status class: 1xx..5xx, [0] = other */
    uint64_t ws_messages_in, ws_messages_out;
    uint64_t ws_closed_by_code[CD_METRIC_WS_CLOSE_CODES + 1]; /* see cd_metrics_ws_close */
    uint64_t events_delivered; /* subscription `next` messages sent */
    uint64_t sub_executions;   /* subscription events executed (gql_exec_run) */
    uint64_t sub_deliveries;   /* subscription event payloads sent; above
                                * sub_executions when subscribers share one */
} cd_metrics;

extern cd_metrics cd_metrics_g;

/* Values pulled at render time from modules above core. Any may be left -1
 * (not configured): the line is then omitted. */
typedef struct cd_metrics_probe_out {
    int64_t pg_pool_size, pg_pool_idle, pg_pool_busy, pg_pool_waiting; /* -1 = no database */
    int64_t pg_up;    /* 1/0, -1 = not configured */
    int64_t redis_up; /* 1/0, -1 = not configured */
    int64_t doc_cache_hits, doc_cache_misses;
    int64_t http_connections; /* open plain-HTTP connections (server count minus WS) */
} cd_metrics_probe_out;
typedef void (*cd_metrics_probe_fn)(cd_metrics_probe_out *out, void *ud);

void cd_metrics_set_probe(cd_metrics_probe_fn fn, void *ud);

/* Extra sections appended by modules above core (e.g. the receiver's feed
 * counters): fn writes complete "# HELP/# TYPE" blocks to out. At most
 * CD_METRICS_MAX_SECTIONS; registering the same (fn, ud) twice is a no-op.
 * 0 or CD_ELIMIT. */
#define CD_METRICS_MAX_SECTIONS 8
typedef void (*cd_metrics_section_fn)(cd_buf *out, void *ud);
int cd_metrics_add_section(cd_metrics_section_fn fn, void *ud);
/* Helper for sections: the two comment lines of one metric family. */
void cd_metrics_help(cd_buf *out, const char *name, const char *type, const char *help);
/* One unlabelled sample with its HELP/TYPE lines: `name value`. */
void cd_metrics_value(cd_buf *out, const char *name, const char *type, const char *help,
                      uint64_t value);
void cd_metrics_set_info(const char *role, const char *version);

static inline void cd_metrics_conn_open(cd_metric_transport t)
{
    cd_metrics_g.connections[t]++;
    cd_metrics_g.connections_total[t]++;
}
static inline void cd_metrics_conn_close(cd_metric_transport t)
{
    cd_metrics_g.connections[t]--;
}
/* Records one finished operation (kind 0..2) and its latency in seconds
 * (latency < 0: not recorded, e.g. subscriptions). */
void cd_metrics_operation(int kind, cd_metric_outcome outcome, double seconds);
void cd_metrics_http_status(int status);
/* Counts a WebSocket close we sent: 1000, 1001, 1009, 4008, 4400, 4401, 4403,
 * 4406, 4408, 4409, 4429, 4500, 4504 by code, anything else as "other". */
void cd_metrics_ws_close(int code);

/* Appends the Prometheus text exposition (version 0.0.4) to out. */
void cd_metrics_render(cd_buf *out);
/* Zeroes every counter (tests). */
void cd_metrics_reset(void);

#endif
