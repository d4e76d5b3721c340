/*
 * loadgen.c — chatd's load generator (bench/run drives it; loopback only).
 *
 *   loadgen [--ws HOST:PORT[,HOST:PORT...]] [--subs N] [--chats FILE]
 *           [--sub-layout spread|one] [--src-ips K] [--src-first F]
 *           [--http HOST:PORT[,...]] [--clients C] [--rate R | --flat]
 *           [--duration S] [--max-msgs N] [--drain S] [--idle S]
 *           [--ready-file F] [--go-file F] [--tag T] [--no-subscribe]
 *           [--users FILE [--user-offset K] [--notify]] [--query-limit L] [--compat]
 *           [--max-connecting M]
 *
 * Subscribers: N graphql-transport-ws connections (source addresses
 * 127.0.0.(F+1)..127.0.0.(F+K), F = 0 unless --src-first, round-robin over
 * --ws targets; one source address has one ephemeral port range per
 * destination, so several loadgen processes use disjoint ranges), each sends
 * connection_init and one `messageAdded(chatId)` subscription (none with
 * --no-subscribe: connections only, for memory probes); chat of
 * subscriber i = line i % lines of FILE (spread) or line 0 (one).
 * With --users FILE (one user id per line) subscriber i acts as the distinct
 * user on line K + i of FILE (trust mode: connection_init payload
 * {"userId": ...}, as the seed's client sends it), and with --notify it
 * also subscribes `chatMessageNotification(userId)` — the per-user stream —
 * beside `messageAdded`. Operation ids are UUID v4 text like graphql-ws's
 * default generateID (36 lower-case chars, random per operation) so the
 * server stores what real clients send; the last hex digit is fixed ('1'
 * messageAdded, '2' the notification stream) to tell the streams apart in
 * `next` frames. Both streams are
 * checked alike (per stream: last seq, duplicates, gaps, first seq); a
 * notification is not owed to the message's own sender (the chat's second
 * column), so a subscriber acting as that user is not counted for stream 2
 * and a notification it gets counts as `bad`.
 * With --compat the subscribers are seed-003 /ws clients instead (trust
 * mode: GET /ws?userId=<the chat's second column>, a participant): each
 * sends joinRoom {roomId} once `connected` arrives and counts as subscribed
 * when `roomJoined` answers; `message` events are deliveries (seq =
 * sequenceId), other events are ignored. At most LG_COMPAT_JOINS joins are
 * in flight (the rest wait in a queue, as clients back off); a join refused
 * with SERVICE_UNAVAILABLE (the server's database queue was full) is queued
 * again, up to LG_COMPAT_RETRIES times per connection.
 * Senders: C keep-alive HTTP connections posting createMessage (senderId =
 * the chat's second column) at R msg/s in total or flat out, chats round
 * robin. The content of each message is the CLOCK_MONOTONIC send time in ns,
 * so a subscriber (any process on this machine) computes send→deliver
 * latency. Per subscriber the last seq is kept: seq <= last is a duplicate.
 * With --query-limit L the senders read instead of writing: each request is
 * `messages(chatId, limit: L)` as the chat's second column (a participant),
 * answered by a receiver; ok = HTTP 200 without errors, lat_http_us = its
 * round trip (nothing is committed, so no delivery is owed).
 * Per chat the output has [committed, subscribers, unique deliveries, dups,
 * highest committed seq, subscribers that got something, sum of their first
 * seqs, gaps] and, for the notification stream, [subscribers owed it, unique
 * deliveries, dups, gaps, subscribers that got something, sum of first
 * seqs], so bench/run can count losses after each subscriber's first
 * delivery exactly (messages committed before a subscription was live are
 * not owed to it).
 *
 * --max-connecting M: at most M subscribers are between connect() and
 * their acknowledgement at once; the next one starts when one is
 * subscribed or failed (many processes opening tens of thousands of
 * connections at once overflow the servers' accept queues, and the
 * kernel's SYN-cookie path then resets connections).
 * Everything is time-bounded: connecting (--connect-timeout S, 60 s unless given), then --idle S
 * seconds of idling (RSS probes), then sending for --duration S (or --max-msgs), then
 * --drain S (at least; until 1.5 s pass without a delivery, at most +60 s)
 * for deliveries in flight; then the process prints one JSON line
 * (histograms as [value_us, count] pairs, per-chat counts) and exits.
 * Coordination between processes: --ready-file is created once all
 * subscriptions are sent; sending starts when --go-file exists (if given).
 * Memory: all state is allocated at start and freed at exit (tool, not
 * server code: plain malloc).
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#define LG_MAX_TARGETS 16
#define LG_MAX_CHATS 100000
#define LG_READ_BYTES 65536
#define LG_CONNECT_TIMEOUT_S 60
#define LG_MAX_RECONNECTS 100 /* per sender connection */
#define LG_QUIET_S 1.5        /* drain ends after this long without a delivery */
#define LG_DRAIN_MAX_S 60     /* drain never lasts longer than --drain + this */
#define LG_HIST_SUB 128       /* sub-buckets per power of two: < 1% error */
#define LG_HIST_BUCKETS (LG_HIST_SUB * 40)
#define LG_ID_LEN 40 /* a UUID, its NUL, room */
#define LG_MAX_USERS 200000
#define LG_COMPAT_JOINS 256  /* --compat: joinRoom requests in flight */
#define LG_COMPAT_RETRIES 20 /* --compat: retries of one refused join */

/* ---- histogram (HDR-style log-linear, microseconds) ---- */

typedef struct lg_hist {
    uint64_t n[LG_HIST_BUCKETS];
    uint64_t count;
} lg_hist;

static size_t hist_index(uint64_t v)
{
    if (v < LG_HIST_SUB) return (size_t)v;
    int e = 63 - __builtin_clzll(v) - 6; /* v >> e in [64,128) */
    size_t i = LG_HIST_SUB + (size_t)(e - 1) * (LG_HIST_SUB / 2) + (size_t)((v >> e) - 64);
    return i < LG_HIST_BUCKETS ? i : LG_HIST_BUCKETS - 1;
}

static uint64_t hist_value(size_t i)
{
    if (i < LG_HIST_SUB) return i;
    size_t k = i - LG_HIST_SUB;
    int e = (int)(k / (LG_HIST_SUB / 2)) + 1;
    return ((uint64_t)(k % (LG_HIST_SUB / 2)) + 64) << e;
}

static void hist_add(lg_hist *h, uint64_t us)
{
    h->n[hist_index(us)]++;
    h->count++;
}

static void hist_print(FILE *f, const char *name, const lg_hist *h)
{
    fprintf(f, "\"%s\":[", name);
    bool first = true;
    for (size_t i = 0; i < LG_HIST_BUCKETS; i++)
        if (h->n[i]) {
            fprintf(f, "%s[%llu,%llu]", first ? "" : ",", (unsigned long long)hist_value(i),
                    (unsigned long long)h->n[i]);
            first = false;
        }
    fputc(']', f);
}

/* ---- options and global state ---- */

typedef struct lg_target {
    char host[64];
    int port;
} lg_target;

/* One stream's counts per chat (0 messageAdded, 1 chatMessageNotification). */
typedef struct lg_stream {
    uint64_t subs, uniq, dup, gaps;
    uint64_t nrecv, sum_first; /* subscribers with a delivery, sum of their first seqs */
} lg_stream;

typedef struct lg_chat {
    char id[LG_ID_LEN];
    char sender[LG_ID_LEN];
    uint64_t sent_ok;
    int64_t max_seq; /* highest seq a createMessage answered (senders) */
    lg_stream st[2];
} lg_chat;

static struct {
    lg_target ws[LG_MAX_TARGETS], http[LG_MAX_TARGETS];
    int nws, nhttp;
    int subs, clients, src_ips, src_first, max_connecting;
    double connect_timeout;
    bool one_chat, flat, no_sub, notify, compat;
    int user_offset;
    int query_limit; /* > 0: the senders run messages(chatId, limit) queries */
    double rate, duration, drain, idle;
    uint64_t max_msgs;
    const char *ready_file, *go_file, *tag;
} opt = {
    .src_ips = 1, .duration = 10, .drain = 2, .tag = "", .connect_timeout = LG_CONNECT_TIMEOUT_S};

static uv_loop_t *loop;
static lg_chat *chats;
static size_t nchats;
static char (*users)[LG_ID_LEN];
static size_t nusers;
static lg_hist lat_deliver, lat_notify, lat_http;
static uint64_t st_connected, st_acked, st_conn_fail, st_closed, st_frames, st_bad;
static uint64_t st_http_conn, st_sent, st_ok, st_err, st_deliv, st_dup, st_gaps, st_late;
static uint64_t st_ndeliv, st_ndup, st_ngaps; /* the notification stream */
static uint64_t send_t0, send_t1, gen_count, deliv_first, deliv_last;
static char rbuf[LG_READ_BYTES];
static int phase; /* 0 connect, 1 idle, 2 wait go, 3 send, 4 drain, 5 done */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- a connection (WebSocket subscriber or HTTP sender) ---- */

typedef struct lg_conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    bool is_ws, upgraded, open, busy;
    bool pending; /* subscriber between connect and ack (--max-connecting) */
    int idx;
    size_t chat;
    int64_t last_seq[2];
    const char *user; /* --users: the user this subscriber acts as */
    int reconnects;
    char *part; /* unconsumed bytes between reads */
    size_t plen, pcap;
    uint64_t sent_at;
    size_t sent_chat;
} lg_conn;

static lg_conn *wsc, *htc;

static int conn_start(lg_conn *c, const lg_target *t, int src);

/* Subscribers not started yet, and those between connect and ack. */
static int ws_next, ws_pending;

static void ws_start_more(void)
{
    while (ws_next < opt.subs && (!opt.max_connecting || ws_pending < opt.max_connecting)) {
        lg_conn *c = &wsc[ws_next++];
        if (conn_start(c, &opt.ws[c->idx % opt.nws], c->idx % opt.src_ips) != 0) {
            st_conn_fail++;
            continue;
        }
        c->pending = true;
        ws_pending++;
    }
}

/* A subscriber was acknowledged or failed: the next may start. */
static void ws_settled(lg_conn *c)
{
    if (!c->pending) return;
    c->pending = false;
    ws_pending--;
    ws_start_more();
}

/* A sender's keep-alive connection closed by the server (e.g. Node's 5 s
 * keepAliveTimeout while waiting for the go file) is opened again, up to
 * LG_MAX_RECONNECTS times; a request in flight on it counts as an error. */
static void on_close(uv_handle_t *h)
{
    lg_conn *c = h->data;
    if (!c || c->is_ws || phase >= 4 || c->reconnects >= LG_MAX_RECONNECTS) return;
    c->reconnects++;
    if (c->busy) {
        c->busy = false;
        st_err++;
    }
    free(c->part);
    c->part = NULL;
    c->plen = c->pcap = 0;
    if (conn_start(c, &opt.http[c->idx % opt.nhttp], c->idx % opt.src_ips) != 0) st_conn_fail++;
}

static void conn_fail(lg_conn *c)
{
    if (c->open) st_closed++;
    c->open = false;
    if (c->is_ws) ws_settled(c);
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_close);
}

typedef struct lg_wreq {
    uv_write_t w;
    char data[];
} lg_wreq;

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void conn_write(lg_conn *c, const char *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r == (int)n) return;
    if (r < 0 && r != UV_EAGAIN) {
        conn_fail(c);
        return;
    }
    size_t done = r > 0 ? (size_t)r : 0;
    lg_wreq *w = malloc(sizeof *w + n - done);
    if (!w) abort();
    memcpy(w->data, p + done, n - done);
    b = uv_buf_init(w->data, (unsigned)(n - done));
    if (uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        free(w);
        conn_fail(c);
    }
}

/* A masked client text frame (mask key 0: payload goes out unchanged). */
static void ws_send(lg_conn *c, int opcode, const char *p, size_t n)
{
    char buf[4096];
    size_t h = 0;
    buf[h++] = (char)(0x80 | opcode);
    if (n < 126) {
        buf[h++] = (char)(0x80 | n);
    } else {
        buf[h++] = (char)(0x80 | 126);
        buf[h++] = (char)(n >> 8);
        buf[h++] = (char)(n & 0xff);
    }
    memset(buf + h, 0, 4);
    h += 4;
    if (h + n > sizeof buf) return;
    memcpy(buf + h, p, n);
    conn_write(c, buf, h + n);
}

static bool is_chat_sender(const lg_conn *c)
{
    return c->user && !strcmp(c->user, chats[c->chat].sender);
}

/* A UUID v4 operation id (graphql-ws's generateID shape: lower-case hex,
 * version 4, variant 8..b) whose last digit is stream k's ('1' + k). */
#define LG_OPID_LEN 36
static uint64_t opid_state;
static void opid_make(char out[LG_OPID_LEN + 1], int k)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < LG_OPID_LEN; i++) {
        opid_state += 0x9e3779b97f4a7c15ull; /* splitmix64 */
        uint64_t z = opid_state;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        out[i] = hex[z & 15u];
    }
    out[8] = out[13] = out[18] = out[23] = '-';
    out[14] = '4';
    out[19] = hex[8 + (out[19] & 3)];
    out[LG_OPID_LEN - 1] = (char)('1' + k);
    out[LG_OPID_LEN] = '\0';
}

/* Stream of a `next` frame: its id's last digit. The frame starts
 * {"id":"<uuid>",... (chatd and graphql-ws both put the id first; the
 * payload's own "id" comes later). */
static int frame_stream(const char *p, size_t n)
{
    const char *q = n > 24 ? memmem(p, 24, "\"id\":\"", 6) : NULL;
    if (!q || (size_t)(q - p) + 6 + LG_OPID_LEN + 1 > n) return 0;
    q += 6;
    return q[LG_OPID_LEN] == '"' && q[LG_OPID_LEN - 1] == '2' ? 1 : 0;
}

static void ws_subscribe(lg_conn *c)
{
    char msg[512], id[LG_OPID_LEN + 1];
    opid_make(id, 0);
    int n = snprintf(msg, sizeof msg,
                     "{\"id\":\"%s\",\"type\":\"subscribe\",\"payload\":{\"query\":"
                     "\"subscription($c: ID!) { messageAdded(chatId: $c) { id seq content chatId "
                     "senderId createdAt } }\",\"variables\":{\"c\":\"%s\"}}}",
                     id, chats[c->chat].id);
    ws_send(c, 1, msg, (size_t)n);
    chats[c->chat].st[0].subs++;
    if (!opt.notify || !c->user) return;
    opid_make(id, 1);
    n = snprintf(msg, sizeof msg,
                 "{\"id\":\"%s\",\"type\":\"subscribe\",\"payload\":{\"query\":"
                 "\"subscription($u: String!) { chatMessageNotification(userId: $u) { id seq "
                 "content chatId senderId } }\",\"variables\":{\"u\":\"%s\"}}}",
                 id, c->user);
    ws_send(c, 1, msg, (size_t)n);
    /* the sender's own messages are not notified to it */
    if (!is_chat_sender(c)) chats[c->chat].st[1].subs++;
}

static int64_t json_int(const char *p, size_t n, const char *key)
{
    const char *k = memmem(p, n, key, strlen(key));
    if (!k) return -1;
    k += strlen(key);
    while (k < p + n && (*k == ' ' || *k == '"'))
        k++;
    return strtoll(k, NULL, 10);
}

static void on_delivery(lg_conn *c, int k, int64_t seq, int64_t t);

/* --compat joins: a FIFO of connections waiting to send joinRoom. */
static int *jq;
static size_t jq_head, jq_tail, jq_cap;
static int j_inflight;

static void compat_join_pump(void)
{
    while (j_inflight < LG_COMPAT_JOINS && jq_head != jq_tail) {
        lg_conn *c = &wsc[jq[jq_head++ % jq_cap]];
        if (!c->open) continue;
        char msg[160];
        int ml =
            snprintf(msg, sizeof msg, "{\"type\":\"joinRoom\",\"payload\":{\"roomId\":\"%s\"}}",
                     chats[c->chat].id);
        ws_send(c, 1, msg, (size_t)ml);
        j_inflight++;
    }
}

static void compat_join_queue(lg_conn *c)
{
    jq[jq_tail++ % jq_cap] = c->idx;
    compat_join_pump();
}

/* A seed-003 /ws event (--compat). */
static void compat_on_text(lg_conn *c, const char *p, size_t n)
{
    size_t head = n < 40 ? n : 40; /* {"type":"...": the event type comes first */
    if (memmem(p, head, "\"type\":\"message\"", 16)) {
        on_delivery(c, 0, json_int(p, n, "\"sequenceId\":"), json_int(p, n, "\"content\":\""));
    } else if (memmem(p, head, "\"type\":\"connected\"", 18)) {
        if (opt.no_sub) {
            st_acked++;
            ws_settled(c);
        } else {
            compat_join_queue(c);
        }
    } else if (memmem(p, head, "\"type\":\"roomJoined\"", 19)) {
        st_acked++;
        ws_settled(c);
        chats[c->chat].st[0].subs++;
        j_inflight--;
        compat_join_pump();
    } else if (memmem(p, head, "\"type\":\"error\"", 14)) {
        bool join = memmem(p, n, "\"event\":\"joinRoom\"", 18) != NULL;
        if (join) j_inflight--;
        if (join && memmem(p, n, "SERVICE_UNAVAILABLE", 19) &&
            c->reconnects++ < LG_COMPAT_RETRIES) {
            compat_join_queue(c); /* behind the others: they get their turn first */
            return;
        }
        st_bad++;
        if (st_bad <= 3) fprintf(stderr, "loadgen: %.*s\n", (int)(n > 300 ? 300 : n), p);
        compat_join_pump();
    }
}

static void ws_on_text(lg_conn *c, const char *p, size_t n)
{
    st_frames++;
    if (opt.compat) {
        compat_on_text(c, p, n);
        return;
    }
    if (memmem(p, n, "\"connection_ack\"", 16)) {
        st_acked++;
        ws_settled(c);
        if (!opt.no_sub) ws_subscribe(c);
        return;
    }
    if (memmem(p, n, "\"ping\"", 6) && n < 64) {
        ws_send(c, 1, "{\"type\":\"pong\"}", 15);
        return;
    }
    if (!memmem(p, n, "\"next\"", 6)) {
        if (memmem(p, n, "\"error\"", 7) || memmem(p, n, "\"errors\"", 8)) {
            st_bad++;
            if (st_bad <= 3) fprintf(stderr, "loadgen: %.*s\n", (int)(n > 300 ? 300 : n), p);
        }
        return;
    }
    if (memmem(p, n, "\"errors\"", 8)) {
        st_bad++;
        return;
    }
    int k = frame_stream(p, n);
    if (k == 1 && is_chat_sender(c)) { /* a notification of its own message */
        st_bad++;
        return;
    }
    on_delivery(c, k, json_int(p, n, "\"seq\":"), json_int(p, n, "\"content\":\""));
}

/* One delivery of stream k (seq; t: the send time carried in content). */
static void on_delivery(lg_conn *c, int k, int64_t seq, int64_t t)
{
    uint64_t now = now_ns();
    lg_stream *st = &chats[c->chat].st[k];
    if (seq >= 0 && seq <= c->last_seq[k]) {
        k ? st_ndup++ : st_dup++;
        st->dup++;
        return;
    }
    if (c->last_seq[k] >= 0 && seq > c->last_seq[k] + 1) {
        k ? st_ngaps++ : st_gaps++;
        st->gaps++;
    }
    if (c->last_seq[k] < 0 && seq >= 0) {
        st->nrecv++;
        st->sum_first += (uint64_t)seq;
    }
    c->last_seq[k] = seq;
    k ? st_ndeliv++ : st_deliv++;
    if (!deliv_first) deliv_first = now;
    deliv_last = now;
    st->uniq++;
    if (t > 0 && (uint64_t)t <= now)
        hist_add(k ? &lat_notify : &lat_deliver, (now - (uint64_t)t) / 1000);
    if (phase == 5) st_late++;
}

/* Parses complete server frames from p; returns bytes consumed. */
static size_t ws_parse(lg_conn *c, char *p, size_t n)
{
    size_t off = 0;
    while (n - off >= 2) {
        unsigned char b0 = (unsigned char)p[off], b1 = (unsigned char)p[off + 1];
        size_t h = 2;
        uint64_t len = b1 & 0x7f;
        if (len == 126) {
            if (n - off < 4) break;
            len = ((uint64_t)(unsigned char)p[off + 2] << 8) | (unsigned char)p[off + 3];
            h = 4;
        } else if (len == 127) {
            if (n - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | (unsigned char)p[off + 2 + i];
            h = 10;
        }
        if (n - off < h + len) break;
        int op = b0 & 0x0f;
        char *pl = p + off + h;
        if (op == 1 || op == 0)
            ws_on_text(c, pl, (size_t)len);
        else if (op == 9)
            ws_send(c, 10, pl, (size_t)len);
        else if (op == 8) {
            conn_fail(c);
            return n;
        }
        off += h + (size_t)len;
    }
    return off;
}

static void sender_next(lg_conn *c);

/* HTTP: one response at a time per connection; returns bytes consumed. */
static size_t http_parse(lg_conn *c, char *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        char *end = memmem(p + off, n - off, "\r\n\r\n", 4);
        if (!end) break;
        size_t hl = (size_t)(end - (p + off)) + 4;
        int64_t cl = json_int(p + off, hl, "Content-Length:");
        if (cl < 0) cl = json_int(p + off, hl, "content-length:");
        if (cl < 0) cl = 0;
        if (n - off < hl + (size_t)cl) break;
        int status = atoi(p + off + 9);
        char *body = p + off + hl;
        bool ok = status == 200 && !memmem(body, (size_t)cl, "\"errors\"", 8) &&
                  (opt.query_limit ? memmem(body, (size_t)cl, "\"messages\"", 10) != NULL
                                   : memmem(body, (size_t)cl, "\"createMessage\"", 15) != NULL);
        uint64_t now = now_ns();
        if (c->busy) {
            c->busy = false;
            hist_add(&lat_http, (now - c->sent_at) / 1000);
            if (ok && opt.query_limit) {
                st_ok++;
            } else if (ok) {
                st_ok++;
                lg_chat *ch = &chats[c->sent_chat];
                ch->sent_ok++;
                int64_t sq = json_int(body, (size_t)cl, "\"seq\":");
                if (sq > ch->max_seq) ch->max_seq = sq;
            } else {
                st_err++;
                if (st_err <= 3)
                    fprintf(stderr, "loadgen: HTTP %d %.*s\n", status, (int)(cl > 300 ? 300 : cl),
                            body);
            }
        }
        off += hl + (size_t)cl;
        if (opt.flat && phase == 3) sender_next(c);
    }
    return off;
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    (void)sz;
    *b = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    lg_conn *c = (lg_conn *)s;
    if (nread < 0) {
        if (c->is_ws && st_closed + st_conn_fail < 3)
            fprintf(stderr, "loadgen: read: %s\n", uv_strerror((int)nread));
        conn_fail(c);
        return;
    }
    if (nread == 0) return;
    char *p = b->base;
    size_t n = (size_t)nread;
    if (c->plen) { /* append to the partial bytes */
        if (c->plen + n > c->pcap) {
            c->pcap = (c->plen + n) * 2;
            c->part = realloc(c->part, c->pcap);
            if (!c->part) abort();
        }
        memcpy(c->part + c->plen, p, n);
        c->plen += n;
        p = c->part;
        n = c->plen;
    }
    size_t used = 0;
    if (c->is_ws && !c->upgraded) {
        char *end = memmem(p, n, "\r\n\r\n", 4);
        if (!end) goto keep;
        if (n < 12 || memcmp(p + 9, "101", 3) != 0) {
            if (st_closed + st_conn_fail < 3)
                fprintf(stderr, "loadgen: upgrade refused: %.*s\n", (int)(n > 120 ? 120 : n), p);
            conn_fail(c);
            return;
        }
        c->upgraded = true;
        used = (size_t)(end - p) + 4;
        /* trust mode: no token; subscribers act as nobody in particular,
         * or (--users) as their user, named in the payload (--compat: the
         * server speaks first, `connected`) */
        char init[160];
        int il = c->user
                     ? snprintf(init, sizeof init,
                                "{\"type\":\"connection_init\",\"payload\":{\"userId\":\"%s\"}}",
                                c->user)
                     : snprintf(init, sizeof init, "{\"type\":\"connection_init\",\"payload\":{}}");
        if (!opt.compat) ws_send(c, 1, init, (size_t)il);
    }
    used += c->is_ws ? ws_parse(c, p + used, n - used) : http_parse(c, p + used, n - used);
keep:
    if (!c->open) return;
    if (used == n) {
        c->plen = 0;
        if (c->pcap > 4 * LG_READ_BYTES) {
            free(c->part);
            c->part = NULL;
            c->pcap = 0;
        }
        return;
    }
    if (p == c->part) {
        memmove(c->part, c->part + used, n - used);
        c->plen = n - used;
    } else {
        if (n - used > c->pcap) {
            c->pcap = (n - used) * 2 + 4096;
            free(c->part);
            c->part = malloc(c->pcap);
            if (!c->part) abort();
        }
        memcpy(c->part, p + used, n - used);
        c->plen = n - used;
    }
}

static void on_connect(uv_connect_t *r, int status)
{
    lg_conn *c = r->data;
    if (status != 0) {
        st_conn_fail++;
        if (st_conn_fail <= 3) fprintf(stderr, "loadgen: connect: %s\n", uv_strerror(status));
        conn_fail(c);
        return;
    }
    c->open = true;
    st_connected++;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (!c->is_ws) {
        st_http_conn++;
        if (opt.flat) sender_next(c);
    }
    if (c->is_ws) {
        const lg_target *t = &opt.ws[c->idx % opt.nws];
        char req[512];
        int n =
            opt.compat
                ? snprintf(req, sizeof req,
                           "GET /ws?userId=%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n",
                           chats[c->chat].sender, t->host, t->port)
                : snprintf(req, sizeof req,
                           "GET /graphql HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: "
                           "graphql-transport-ws\r\n\r\n",
                           t->host, t->port);
        conn_write(c, req, (size_t)n);
    }
}

static int conn_start(lg_conn *c, const lg_target *t, int src)
{
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->last_seq[0] = c->last_seq[1] = -1;
    struct sockaddr_in a, s;
    uv_ip4_addr(t->host, t->port, &a);
    char sip[32];
    snprintf(sip, sizeof sip, "127.0.0.%d", 1 + opt.src_first + src);
    uv_ip4_addr(sip, 0, &s);
    if (opt.src_ips > 1 || opt.src_first > 0) {
        /* IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect() for the
         * whole 4-tuple, so ports in TIME_WAIT from an earlier run towards
         * another server port do not exhaust the range */
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0 ||
            bind(fd, (struct sockaddr *)&s, sizeof s) != 0 || uv_tcp_open(&c->tcp, fd) != 0) {
            if (st_conn_fail < 3) fprintf(stderr, "loadgen: bind %s: %s\n", sip, strerror(errno));
            if (fd >= 0) close(fd);
            return -1;
        }
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->creq.data = c;
    int r = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&a, on_connect);
    if (r != 0 && st_conn_fail < 3) fprintf(stderr, "loadgen: connect: %s\n", uv_strerror(r));
    return r;
}

/* ---- sending ---- */

static void sender_next(lg_conn *c)
{
    if (!c->open || c->busy || phase != 3) return;
    if (opt.max_msgs && gen_count >= opt.max_msgs) return;
    size_t ci = (size_t)(gen_count++ % nchats);
    lg_chat *ch = &chats[ci];
    char body[1024], req[1400];
    uint64_t t = now_ns();
    int bl =
        opt.query_limit
            ? snprintf(
                  body, sizeof body,
                  "{\"query\":\"query($c: ID!) { messages(chatId: $c, limit: %d) { id seq content "
                  "senderId createdAt } }\",\"variables\":{\"c\":\"%s\"}}",
                  opt.query_limit, ch->id)
            : snprintf(
                  body, sizeof body,
                  "{\"query\":\"mutation($i: CreateMessageInput!) { "
                  "createMessage(createMessageInput: "
                  "$i) { id seq } }\",\"variables\":{\"i\":{\"chatId\":\"%s\",\"senderId\":\"%s\","
                  "\"content\":\"%llu\"}}}",
                  ch->id, ch->sender, (unsigned long long)t);
    const lg_target *tg = &opt.http[c->idx % opt.nhttp];
    int rl = snprintf(req, sizeof req,
                      "POST /graphql HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "user-id: %s\r\nContent-Length: %d\r\n\r\n%s",
                      tg->host, tg->port, ch->sender, bl, body);
    c->busy = true;
    c->sent_at = t;
    c->sent_chat = ci;
    st_sent++;
    conn_write(c, req, (size_t)rl);
}

static uv_timer_t tick;
static uint64_t phase_t0;

static void finish(void);

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = now_ns();
    double el = (double)(now - phase_t0) / 1e9;
    switch (phase) {
    case 0: {
        uint64_t want = (uint64_t)opt.subs + (uint64_t)opt.clients;
        if (st_acked + st_http_conn + st_conn_fail + st_closed >= want ||
            el > opt.connect_timeout) {
            if (opt.ready_file) {
                FILE *f = fopen(opt.ready_file, "w");
                if (f) fclose(f);
            }
            fprintf(stderr, "loadgen%s: %llu/%d subscribed in %.2f s (%llu failed)\n", opt.tag,
                    (unsigned long long)st_acked, opt.subs, el,
                    (unsigned long long)(st_conn_fail + st_closed));
            phase = 1;
            phase_t0 = now;
        }
        break;
    }
    case 1:
        if (el >= opt.idle) {
            phase = 2;
            phase_t0 = now;
        }
        break;
    case 2:
        if (!opt.go_file || access(opt.go_file, F_OK) == 0 || el > 120) {
            phase = 3;
            phase_t0 = now;
            send_t0 = now;
            if (opt.flat)
                for (int i = 0; i < opt.clients; i++)
                    sender_next(&htc[i]);
        }
        break;
    case 3: {
        bool done = el >= opt.duration || (opt.max_msgs && gen_count >= opt.max_msgs);
        if (!done && !opt.flat && opt.clients > 0) {
            uint64_t due = (uint64_t)(el * opt.rate);
            for (int i = 0; i < opt.clients && gen_count < due; i++)
                sender_next(&htc[i]);
        }
        if (done || opt.clients == 0) {
            if (opt.clients == 0 && el < opt.duration) break;
            send_t1 = now;
            phase = 4;
            phase_t0 = now;
        }
        break;
    }
    case 4: {
        bool pending = false;
        for (int i = 0; i < opt.clients; i++)
            pending |= htc[i].busy && htc[i].open;
        /* at least --drain s; then until deliveries stop for LG_QUIET_S
         * (a backlog at the server is still being delivered), at most
         * LG_DRAIN_MAX_S */
        bool quiet = !deliv_last || now - deliv_last > (uint64_t)(LG_QUIET_S * 1e9);
        if ((!pending && el >= opt.drain && quiet) || el >= opt.drain + LG_DRAIN_MAX_S) {
            phase = 5;
            finish();
        }
        break;
    }
    default:
        break;
    }
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, on_close);
}

static void finish(void)
{
    double secs = (double)(send_t1 - send_t0) / 1e9;
    FILE *f = stdout;
    fprintf(f,
            "{\"tag\":\"%s\",\"subs\":%d,\"subscribed\":%llu,\"conn_fail\":%llu,\"closed\":%llu,"
            "\"clients\":%d,\"send_secs\":%.3f,\"sent\":%llu,\"ok\":%llu,\"err\":%llu,"
            "\"delivered\":%llu,\"dup\":%llu,\"gaps\":%llu,\"bad\":%llu,"
            "\"n_delivered\":%llu,\"n_dup\":%llu,\"n_gaps\":%llu,\"late\":%llu,"
            "\"send_t0\":%llu,\"send_t1\":%llu,\"deliv_first\":%llu,\"deliv_last\":%llu,",
            opt.tag, opt.subs, (unsigned long long)st_acked, (unsigned long long)st_conn_fail,
            (unsigned long long)st_closed, opt.clients, secs, (unsigned long long)st_sent,
            (unsigned long long)st_ok, (unsigned long long)st_err, (unsigned long long)st_deliv,
            (unsigned long long)st_dup, (unsigned long long)st_gaps, (unsigned long long)st_bad,
            (unsigned long long)st_ndeliv, (unsigned long long)st_ndup,
            (unsigned long long)st_ngaps, (unsigned long long)st_late, (unsigned long long)send_t0,
            (unsigned long long)send_t1, (unsigned long long)deliv_first,
            (unsigned long long)deliv_last);
    hist_print(f, "lat_deliver_us", &lat_deliver);
    fputc(',', f);
    hist_print(f, "lat_notify_us", &lat_notify);
    fputc(',', f);
    hist_print(f, "lat_http_us", &lat_http);
    fprintf(f, ",\"chats\":{");
    bool first = true;
    for (size_t i = 0; i < nchats; i++) {
        lg_chat *c = &chats[i];
        if (!c->sent_ok && !c->st[0].subs && !c->st[1].subs) continue;
        const lg_stream *a = &c->st[0], *b = &c->st[1];
        fprintf(
            f, "%s\"%s\":[%llu,%llu,%llu,%llu,%lld,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu]",
            first ? "" : ",", c->id, (unsigned long long)c->sent_ok, (unsigned long long)a->subs,
            (unsigned long long)a->uniq, (unsigned long long)a->dup, (long long)c->max_seq,
            (unsigned long long)a->nrecv, (unsigned long long)a->sum_first,
            (unsigned long long)a->gaps, (unsigned long long)b->subs, (unsigned long long)b->uniq,
            (unsigned long long)b->dup, (unsigned long long)b->gaps, (unsigned long long)b->nrecv,
            (unsigned long long)b->sum_first);
        first = false;
    }
    fprintf(f, "}}\n");
    fflush(f);
    uv_walk(loop, close_walk, NULL);
}

/* ---- setup ---- */

static int parse_targets(const char *s, lg_target *out)
{
    int n = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok && n < LG_MAX_TARGETS; tok = strtok(NULL, ",")) {
        char *colon = strrchr(tok, ':');
        if (!colon) return -1;
        *colon = 0;
        snprintf(out[n].host, sizeof out[n].host, "%s", tok);
        out[n].port = atoi(colon + 1);
        if (strncmp(out[n].host, "127.", 4) != 0) {
            fprintf(stderr, "loadgen: loopback targets only (%s)\n", out[n].host);
            exit(2);
        }
        n++;
    }
    return n;
}

static void load_chats(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    chats = calloc(LG_MAX_CHATS, sizeof *chats);
    char line[256];
    while (nchats < LG_MAX_CHATS && fgets(line, sizeof line, f)) {
        lg_chat *c = &chats[nchats];
        if (sscanf(line, "%39s %39s", c->id, c->sender) == 2) nchats++;
    }
    fclose(f);
}

static void load_users(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    users = calloc(LG_MAX_USERS, sizeof *users);
    if (!users) abort();
    char line[256];
    while (nusers < LG_MAX_USERS && fgets(line, sizeof line, f))
        if (sscanf(line, "%39s", users[nusers]) == 1) nusers++;
    fclose(f);
}

int main(int argc, char **argv)
{
    const char *chats_path = NULL, *users_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--ws"))
            opt.nws = parse_targets(v, opt.ws), i++;
        else if (!strcmp(a, "--http"))
            opt.nhttp = parse_targets(v, opt.http), i++;
        else if (!strcmp(a, "--subs"))
            opt.subs = atoi(v), i++;
        else if (!strcmp(a, "--clients"))
            opt.clients = atoi(v), i++;
        else if (!strcmp(a, "--chats"))
            chats_path = v, i++;
        else if (!strcmp(a, "--sub-layout"))
            opt.one_chat = !strcmp(v, "one"), i++;
        else if (!strcmp(a, "--src-ips"))
            opt.src_ips = atoi(v), i++;
        else if (!strcmp(a, "--src-first"))
            opt.src_first = atoi(v), i++;
        else if (!strcmp(a, "--max-connecting"))
            opt.max_connecting = atoi(v), i++;
        else if (!strcmp(a, "--connect-timeout"))
            opt.connect_timeout = atof(v), i++;
        else if (!strcmp(a, "--rate"))
            opt.rate = atof(v), i++;
        else if (!strcmp(a, "--flat"))
            opt.flat = true;
        else if (!strcmp(a, "--query-limit"))
            opt.query_limit = atoi(v), i++;
        else if (!strcmp(a, "--no-subscribe"))
            opt.no_sub = true;
        else if (!strcmp(a, "--compat"))
            opt.compat = true;
        else if (!strcmp(a, "--notify"))
            opt.notify = true;
        else if (!strcmp(a, "--users"))
            users_path = v, i++;
        else if (!strcmp(a, "--user-offset"))
            opt.user_offset = atoi(v), i++;
        else if (!strcmp(a, "--duration"))
            opt.duration = atof(v), i++;
        else if (!strcmp(a, "--drain"))
            opt.drain = atof(v), i++;
        else if (!strcmp(a, "--idle"))
            opt.idle = atof(v), i++;
        else if (!strcmp(a, "--max-msgs"))
            opt.max_msgs = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--ready-file"))
            opt.ready_file = v, i++;
        else if (!strcmp(a, "--go-file"))
            opt.go_file = v, i++;
        else if (!strcmp(a, "--tag"))
            opt.tag = v, i++;
        else {
            fprintf(stderr,
                    "loadgen: unknown option %s (see the comment in bench/tools/loadgen.c)\n", a);
            return 2;
        }
    }
    if (!chats_path || (opt.subs && !opt.nws) || (opt.clients && !opt.nhttp) ||
        opt.duration > 3600 || opt.src_ips < 1 || opt.src_ips > 250 || opt.src_first < 0 ||
        opt.src_first + opt.src_ips > 250 || opt.connect_timeout <= 0 || opt.max_connecting < 0 ||
        opt.connect_timeout > 3600) {
        fprintf(stderr, "usage: loadgen --chats FILE [--ws H:P --subs N] [--http H:P --clients C "
                        "--rate R|--flat] [--duration S]\n");
        return 2;
    }
    if (!opt.flat && opt.rate <= 0 && opt.clients) opt.flat = true;
    if (users_path) {
        load_users(users_path);
        if (opt.user_offset < 0 || (size_t)opt.user_offset + (size_t)opt.subs > nusers) {
            fprintf(stderr, "loadgen: %s has %zu users; --user-offset %d + --subs %d needs more\n",
                    users_path, nusers, opt.user_offset, opt.subs);
            return 2;
        }
    } else if (opt.notify) {
        fprintf(stderr, "loadgen: --notify needs --users FILE\n");
        return 2;
    }
    load_chats(chats_path);
    if (!nchats) {
        fprintf(stderr, "loadgen: no chats in %s\n", chats_path);
        return 2;
    }
    loop = uv_default_loop();
    opid_state = now_ns() ^ ((uint64_t)getpid() << 40); /* distinct ids per process and run */
    wsc = calloc((size_t)opt.subs + 1, sizeof *wsc);
    /* each connection is queued at most 1 + LG_COMPAT_RETRIES times, and
     * at most subs at once */
    jq_cap = (size_t)opt.subs + 1;
    jq = calloc(jq_cap, sizeof *jq);
    if (!wsc || !jq) abort();
    htc = calloc((size_t)opt.clients + 1, sizeof *htc);
    for (int i = 0; i < opt.subs; i++) {
        wsc[i].is_ws = true;
        wsc[i].idx = i;
        wsc[i].chat = opt.one_chat ? 0 : (size_t)i % nchats;
        wsc[i].user = users ? users[opt.user_offset + i] : NULL;
    }
    ws_start_more();
    for (int i = 0; i < opt.clients; i++) {
        htc[i].idx = i;
        if (conn_start(&htc[i], &opt.http[i % opt.nhttp], i % opt.src_ips) != 0) st_conn_fail++;
    }
    phase_t0 = now_ns();
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 1, 1);
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = 0; i < opt.subs; i++)
        free(wsc[i].part);
    for (int i = 0; i < opt.clients; i++)
        free(htc[i].part);
    free(wsc);
    free(jq);
    free(htc);
    free(chats);
    free(users);
    uv_loop_close(loop);
    return 0;
}
