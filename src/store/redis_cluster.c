/*
 * redis_cluster.c — the Redis Cluster client behind rd_client (see the
 * cluster paragraph of redis.h for the contract, redis_internal.h for the
 * split with redis.c).
 *
 * Nodes and links. Every node the client knows (a seed, a master of the
 * current topology, the target of a redirect) has a command link and a
 * subscriber link. A link is a non-blocking hiredis redisContext polled by
 * a uv_poll_t of our own (rdc_io): hiredis's async layer has no notion of
 * SSUBSCRIBE in the version Debian ships (0.14), so it would take a
 * sharded subscription's messages for replies to other commands. On a
 * command link replies match the FIFO of requests sent on it; on a
 * subscriber link every reply is a push (ssubscribe / smessage /
 * sunsubscribe) or an error, handled by its kind.
 *
 * One timer drives everything that waits: reconnects with backoff
 * (RD_RECONNECT_MIN_MS doubling to RD_RECONNECT_MAX_MS per link), connect
 * timeouts and topology refreshes. Every state change "kicks" it (fires at
 * the next loop turn), so the links a topology wants are reconciled in one
 * place (rdc_reconcile) and never inside a callback of the caller.
 *   masters           both links connected
 *   seeds             the command link, only while no master's command
 *                     link is up (to learn the topology)
 *   everything else   closed
 *
 * Topology. owner[slot] is the index of the slot's master (-1 unknown).
 * CLUSTER SLOTS replaces it wholesale; a MOVED reply sets one slot at once
 * and asks for a refresh. After every change each wanted channel is placed
 * on its slot's owner (rdc_place): SUNSUBSCRIBE where it was, SSUBSCRIBE
 * where it goes, unconfirmed until the new owner confirms — then
 * on_subscribed fires, the receiver's cue to fill the gap from the log.
 *
 * Invariants: a wanted channel's `node` is the owner its SSUBSCRIBE went to
 * (or goes to once that node's subscriber link is up); messages are
 * delivered only from that node; a confirmation from another node is
 * ignored. Requests complete exactly once: with the reply, with CD_EIO for
 * an error reply (after at most RD_CLUSTER_MAX_REDIRECTS redirects), or
 * with CD_EUNAVAIL / CD_ECLOSED when their link dies or the client closes.
 *
 * Memory: nodes live until the client is freed (an entry is reused once it
 * is neither master nor seed and both its links are down). An rdc_io is
 * freed in its poll handle's close callback, which also frees the
 * redisContext (closing the socket), so a socket number is never reused
 * while libuv still watches it. The client is freed when its timer and
 * every rdc_io have closed.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/arena.h"
#include "core/log.h"
#include "store/redis_internal.h"

/* ---- pure functions ---- */

static uint16_t rd_crc16(const unsigned char *p, size_t n)
{
    /* CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection */
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t rd_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1) {
            key = open + 1;
            len = (size_t)(close - open - 1);
        }
    }
    return rd_crc16((const unsigned char *)key, len) & (RD_CLUSTER_SLOTS - 1);
}

#define RD_CLUSTER_SCHEME "redis+cluster://"

bool rd_url_is_cluster(const char *url)
{
    return url && strncmp(url, RD_CLUSTER_SCHEME, sizeof RD_CLUSTER_SCHEME - 1) == 0;
}

int rd_cluster_url_parse(const char *url, rd_cluster_url *out)
{
    memset(out, 0, sizeof *out);
    if (!rd_url_is_cluster(url) || strlen(url) >= RD_URL_MAX) return CD_EBAD;
    const char *p = url + sizeof RD_CLUSTER_SCHEME - 1;
    const char *slash = strchr(p, '/');
    const char *at = strrchr(p, '@');
    if (at && slash && at > slash) at = NULL;
    const char *hosts = at ? at + 1 : p;
    const char *end = slash ? slash : hosts + strlen(hosts);
    char buf[RD_URL_MAX + 16];
    /* user, password and database through the single-server parser */
    int n = snprintf(buf, sizeof buf, "redis://%.*sx%s", at ? (int)(hosts - p) : 0, p,
                     slash ? slash : "");
    if (n < 0 || (size_t)n >= sizeof buf || rd_url_parse(buf, &out->auth) != 0) return CD_EBAD;
    if (out->auth.db != 0) return CD_EBAD; /* a cluster has database 0 only */
    while (hosts < end) {
        const char *comma = memchr(hosts, ',', (size_t)(end - hosts));
        const char *he = comma ? comma : end;
        if (out->nseeds == RD_CLUSTER_MAX_SEEDS) return CD_EBAD;
        n = snprintf(buf, sizeof buf, "%.*s", (int)(he - hosts), hosts);
        rd_url one;
        if (he == hosts || strchr(buf, '@') || rd_url_parse(buf, &one) != 0) return CD_EBAD;
        snprintf(out->host[out->nseeds], RD_HOST_MAX, "%s", one.host);
        out->port[out->nseeds] = one.port;
        out->nseeds++;
        hosts = comma ? comma + 1 : end;
        if (comma && hosts == end) return CD_EBAD; /* trailing comma */
    }
    return out->nseeds ? 0 : CD_EBAD;
}

static bool rd_int_of(const redisReply *r, long long lo, long long hi, long long *v)
{
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < lo || r->integer > hi) return false;
    *v = r->integer;
    return true;
}

int rd_cluster_parse_slots(const redisReply *r, const char *self_host, rd_slot_range *out,
                           size_t max, size_t *n)
{
    *n = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) return CD_EBAD;
    if (r->elements > max) return CD_ELIMIT;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        long long start, end, port;
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3) return CD_EBAD;
        if (!rd_int_of(e->element[0], 0, RD_CLUSTER_SLOTS - 1, &start) ||
            !rd_int_of(e->element[1], start, RD_CLUSTER_SLOTS - 1, &end))
            return CD_EBAD;
        const redisReply *m = e->element[2];
        if (!m || m->type != REDIS_REPLY_ARRAY || m->elements < 2) return CD_EBAD;
        const redisReply *h = m->element[0];
        if (!h || h->type != REDIS_REPLY_STRING || h->len >= RD_HOST_MAX) return CD_EBAD;
        if (!rd_int_of(m->element[1], 1, 65535, &port)) return CD_EBAD;
        const char *host = h->str;
        if (h->len == 0 || strcmp(host, "?") == 0) host = self_host;
        if (!host || !*host || memchr(h->str, 0, h->len)) return CD_EBAD;
        rd_slot_range *o = &out[(*n)++];
        o->start = (uint16_t)start;
        o->end = (uint16_t)end;
        snprintf(o->host, sizeof o->host, "%s", host);
        o->port = (int)port;
    }
    return 0;
}

int rd_redirect_parse(const char *err, size_t len, bool *ask, uint16_t *slot,
                      char host[RD_HOST_MAX], int *port)
{
    size_t skip;
    if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
        *ask = false;
        skip = 6;
    } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
        *ask = true;
        skip = 4;
    } else {
        return CD_ENOENT;
    }
    char buf[RD_HOST_MAX + 32];
    if (len - skip >= sizeof buf) return CD_EBAD;
    memcpy(buf, err + skip, len - skip);
    buf[len - skip] = 0;
    char *e = NULL;
    errno = 0;
    long s = strtol(buf, &e, 10);
    if (errno || e == buf || *e != ' ' || s < 0 || s >= RD_CLUSTER_SLOTS) return CD_EBAD;
    char *hp = e + 1;
    char *colon = strrchr(hp, ':'); /* the last one: IPv6 addresses hold colons */
    if (!colon || colon == hp || (size_t)(colon - hp) >= RD_HOST_MAX) return CD_EBAD;
    long p = strtol(colon + 1, &e, 10);
    if (e == colon + 1 || *e || p < 1 || p > 65535) return CD_EBAD;
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = 0;
    *slot = (uint16_t)s;
    *port = (int)p;
    return 0;
}

static bool rd_arg_is(const char *a, size_t l, const char *name)
{
    return strlen(name) == l && strncasecmp(a, name, l) == 0;
}

int rd_command_slot(int argc, const char *const *argv, const size_t *argvlen)
{
#define RD_ARGLEN(i) (argvlen ? argvlen[i] : strlen(argv[i]))
    if (argc < 2) return -1;
    size_t l0 = RD_ARGLEN(0);
    static const char *const scripted[] = {"eval",       "evalsha", "eval_ro",
                                           "evalsha_ro", "fcall",   "fcall_ro"};
    bool script = false;
    for (size_t i = 0; i < CD_ARRAY_LEN(scripted) && !script; i++)
        script = rd_arg_is(argv[0], l0, scripted[i]);
    if (!script) return rd_key_slot(argv[1], RD_ARGLEN(1));
    if (argc < 3) return -1; /* the server answers with the error */
    char nk[16];
    size_t l2 = RD_ARGLEN(2);
    if (l2 == 0 || l2 >= sizeof nk) return CD_EBAD;
    memcpy(nk, argv[2], l2);
    nk[l2] = 0;
    char *e = NULL;
    long numkeys = strtol(nk, &e, 10);
    if (*e || numkeys < 0 || numkeys > argc - 3) return CD_EBAD;
    if (numkeys == 0) return -1;
    int slot = rd_key_slot(argv[3], RD_ARGLEN(3));
    for (long k = 1; k < numkeys; k++)
        if (rd_key_slot(argv[3 + k], RD_ARGLEN(3 + k)) != slot) return CD_EBAD; /* CROSSSLOT */
    return slot;
#undef RD_ARGLEN
}

/* ---- client state ---- */

typedef enum rdc_state { RDC_DOWN, RDC_CONNECTING, RDC_UP } rdc_state;
typedef enum rdc_kind { RDC_CMD, RDC_SUB } rdc_kind;
typedef enum rdc_req_kind { RQ_USER, RQ_PUBLISH, RQ_AUTH, RQ_ASKING, RQ_SLOTS } rdc_req_kind;

typedef struct rdc_node rdc_node;
typedef struct rdc_link rdc_link;
typedef struct rdc_req rdc_req;

/* A live socket; freed in its poll handle's close callback. */
typedef struct rdc_io {
    uv_poll_t poll;
    redisContext *rc;
    rdc_link *link; /* NULL once detached */
    rdc *cl;
    int events;
} rdc_io;

struct rdc_link {
    rdc_node *node;
    rdc_kind kind;
    rdc_state state;
    rdc_io *io;
    uint64_t deadline; /* CONNECTING: connect timeout (loop time, ms) */
    uint64_t retry_at; /* DOWN: earliest next attempt */
    int backoff_ms;
    uint64_t attempts;
    rdc_req *head, *tail; /* command link: requests awaiting their reply, in order */
};

struct rdc_node {
    rdc *cl;
    int idx;
    bool master; /* owns slots (current topology or a MOVED) */
    bool seed;
    char host[RD_HOST_MAX];
    int port;
    rdc_link cmd, sub;
};

struct rdc_req {
    rdc_req *next;
    rdc_req_kind kind;
    int redirects;
    char *cmd; /* formatted by hiredis (redisFreeCommand) */
    int len;
    rd_publish_cb pcb;
    rd_reply_cb rcb;
    void *ud;
};

struct rdc {
    uv_loop_t *loop;
    rd_callbacks cbs;
    rd_url auth;
    rd_set wanted;
    size_t confirmed;
    rdc_node *nodes[RD_CLUSTER_MAX_NODES];
    int nnodes; /* entries used so far (high-water mark) */
    int16_t owner[RD_CLUSTER_SLOTS];
    unsigned masters;
    bool covered; /* every slot has an owner */
    uv_timer_t timer;
    bool refresh_inflight, refresh_wanted;
    uint64_t next_refresh, last_refresh;
    unsigned rr;
    bool was_ready;
    long pending;
    bool closing;
    int open_handles;
    rd_close_cb close_cb;
    void *close_ud;
    uint64_t published, publish_errors, messages, reconnects, redirects, refreshes;
};

static void rdc_kick(rdc *c);
static void rdc_link_fail(rdc_link *k, const char *why, bool backoff);
static void rdc_on_reply(rdc_link *k, redisReply *r);

static bool rdc_link_wanted(const rdc *c, const rdc_link *k);
static int rdc_link_send(rdc_link *k, rdc_req *q);

/* ---- requests ---- */

static rdc_req *rdc_req_new(rdc_req_kind kind, int argc, const char **argv, const size_t *lens)
{
    rdc_req *q = cd_calloc(1, sizeof *q);
    if (!q) return NULL;
    q->kind = kind;
    q->len = redisFormatCommandArgv(&q->cmd, argc, argv, lens);
    if (q->len < 0 || !q->cmd) {
        cd_free(q);
        return NULL;
    }
    return q;
}

static void rdc_req_free(rdc_req *q)
{
    redisFreeCommand(q->cmd);
    cd_free(q);
}

/* Completes a caller's request (reply NULL: status says why) and frees it. */
static void rdc_req_done(rdc *c, rdc_req *q, int status, const redisReply *rep)
{
    if (q->kind == RQ_USER || q->kind == RQ_PUBLISH) c->pending--;
    if (q->kind == RQ_SLOTS) c->refresh_inflight = false;
    if (q->kind == RQ_PUBLISH) {
        long long n = -1;
        if (status == 0 && rep && rep->type == REDIS_REPLY_INTEGER)
            n = rep->integer;
        else if (status == 0)
            status = CD_EIO;
        if (status)
            c->publish_errors++;
        else
            c->published++;
        rd_publish_cb cb = q->pcb;
        void *ud = q->ud;
        rdc_req_free(q);
        if (cb) cb(ud, status, n);
    } else if (q->kind == RQ_USER) {
        rd_reply_cb cb = q->rcb;
        void *ud = q->ud;
        rdc_req_free(q);
        if (cb) cb(ud, status, status == 0 || status == CD_EIO ? rep : NULL);
    } else {
        rdc_req_free(q);
    }
}

/* ---- links ---- */

static uint64_t rdc_now(const rdc *c)
{
    return uv_now(c->loop);
}

/* One of the client's handles closed; the last one after rdc_close frees
 * the client. */
static void rdc_handle_closed(rdc *c)
{
    if (--c->open_handles == 0 && c->closing) {
        rd_close_cb cb = c->close_cb;
        void *ud = c->close_ud;
        for (int i = 0; i < c->nnodes; i++)
            cd_free(c->nodes[i]);
        rd_set_free(&c->wanted);
        cd_free(c);
        if (cb) cb(ud);
    }
}

static void rdc_io_closed(uv_handle_t *h)
{
    rdc_io *io = h->data;
    rdc *c = io->cl;
    redisFree(io->rc); /* closes the socket */
    cd_free(io);
    rdc_handle_closed(c);
}

static void rdc_timer_closed(uv_handle_t *h)
{
    rdc_handle_closed(h->data);
}

static void rdc_io_cb(uv_poll_t *h, int status, int events);
static void rdc_update_ready(rdc *c);

static void rdc_io_update(rdc_io *io)
{
    int ev = UV_READABLE;
    rdc_link *k = io->link;
    if (k && (k->state == RDC_CONNECTING || sdslen(io->rc->obuf) > 0)) ev |= UV_WRITABLE;
    if (ev == io->events) return;
    io->events = ev;
    (void)uv_poll_start(&io->poll, ev, rdc_io_cb);
}

static void rdc_io_detach(rdc_link *k)
{
    rdc_io *io = k->io;
    if (!io) return;
    k->io = NULL;
    io->link = NULL;
    uv_poll_stop(&io->poll);
    uv_close((uv_handle_t *)&io->poll, rdc_io_closed);
}

/* Connected: AUTH first, then what the link is for. */
static void rdc_link_up(rdc_link *k)
{
    rdc_node *n = k->node;
    rdc *c = n->cl;
    k->state = RDC_UP;
    k->backoff_ms = RD_RECONNECT_MIN_MS;
    if (k->kind == RDC_SUB) {
        size_t n_ch = 0;
        for (size_t i = 0; i < c->wanted.nb; i++)
            for (rd_chan *ch = c->wanted.b[i]; ch; ch = ch->next) {
                if (ch->node != n->idx) continue;
                const char *argv[2] = {"SSUBSCRIBE", ch->name};
                size_t lens[2] = {10, ch->len};
                redisAppendCommandArgv(k->io->rc, 2, argv, lens);
                n_ch++;
            }
        cd_info("redis", "cluster subscriber connected to %s:%d (%zu channels)", n->host, n->port,
                n_ch);
    } else {
        cd_info("redis", "cluster connection to %s:%d%s", n->host, n->port,
                n->master ? "" : " (seed)");
    }
    rdc_io_update(k->io);
    rdc_update_ready(c);
    rdc_kick(c);
}

static void rdc_io_cb(uv_poll_t *h, int status, int events)
{
    rdc_io *io = h->data;
    rdc_link *k = io->link;
    if (!k) return;
    if (status < 0) {
        /* libuv stopped the handle; the socket error tells why */
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(io->rc->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        rdc_link_fail(k, err ? strerror(err) : uv_strerror(status), true);
        return;
    }
    if (k->state == RDC_CONNECTING) {
        if (!(events & UV_WRITABLE)) return;
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(io->rc->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0) err = errno;
        if (err) {
            rdc_link_fail(k, strerror(err), true);
            return;
        }
        rdc_link_up(k);
        if (k->io != io) return;
    }
    if (events & UV_WRITABLE) {
        int done = 0;
        if (redisBufferWrite(io->rc, &done) != REDIS_OK) {
            rdc_link_fail(k, io->rc->errstr, true);
            return;
        }
    }
    if (events & UV_READABLE) {
        if (redisBufferRead(io->rc) != REDIS_OK) {
            rdc_link_fail(k, io->rc->errstr[0] ? io->rc->errstr : "closed", true);
            return;
        }
        for (;;) {
            void *reply = NULL;
            if (redisGetReplyFromReader(io->rc, &reply) != REDIS_OK) {
                rdc_link_fail(k, io->rc->errstr, true);
                return;
            }
            if (!reply) break;
            rdc_on_reply(k, reply);
            freeReplyObject(reply);
            if (k->io != io) return; /* the link failed or closed meanwhile */
        }
    }
    rdc_io_update(io);
}

static void rdc_link_connect(rdc_link *k)
{
    rdc_node *n = k->node;
    rdc *c = n->cl;
    if (k->attempts++ > 0) c->reconnects++;
    redisContext *rc = redisConnectNonBlock(n->host, n->port);
    if (!rc || rc->err) {
        cd_debug("redis", "connect to %s:%d failed: %s", n->host, n->port,
                 rc ? rc->errstr : "out of memory");
        if (rc) redisFree(rc);
        rdc_link_fail(k, NULL, true);
        return;
    }
    rdc_io *io = cd_calloc(1, sizeof *io);
    if (!io || uv_poll_init(c->loop, &io->poll, rc->fd) != 0) {
        cd_free(io);
        redisFree(rc);
        rdc_link_fail(k, NULL, true);
        return;
    }
    io->poll.data = io;
    io->rc = rc;
    io->link = k;
    io->cl = c;
    c->open_handles++;
    k->io = io;
    k->state = RDC_CONNECTING;
    k->deadline = rdc_now(c) + RD_CONNECT_TIMEOUT_MS;
    io->events = UV_READABLE | UV_WRITABLE;
    uv_poll_start(&io->poll, io->events, rdc_io_cb);
    if (c->auth.password[0]) {
        /* first on the connection, before anything queued while connecting */
        const char *argv[3] = {"AUTH", c->auth.user, c->auth.password};
        const char *pw[2] = {"AUTH", c->auth.password};
        bool user = c->auth.user[0] != 0;
        if (k->kind == RDC_SUB) {
            redisAppendCommandArgv(rc, user ? 3 : 2, user ? argv : pw, NULL);
        } else {
            rdc_req *q = rdc_req_new(RQ_AUTH, user ? 3 : 2, user ? argv : pw, NULL);
            if (q) (void)rdc_link_send(k, q);
        }
    }
}

/* Sends q on a command link that is up or connecting (it queues). */
static int rdc_link_send(rdc_link *k, rdc_req *q)
{
    if (!k->io || redisAppendFormattedCommand(k->io->rc, q->cmd, (size_t)q->len) != REDIS_OK)
        return CD_EUNAVAIL;
    q->next = NULL;
    if (k->tail)
        k->tail->next = q;
    else
        k->head = q;
    k->tail = q;
    rdc_io_update(k->io);
    return 0;
}

static void rdc_sub_send(rdc_link *k, const char *cmd, const rd_chan *ch)
{
    if (k->state != RDC_UP) return;
    const char *argv[2] = {cmd, ch->name};
    size_t lens[2] = {strlen(cmd), ch->len};
    if (redisAppendCommandArgv(k->io->rc, 2, argv, lens) == REDIS_OK) rdc_io_update(k->io);
}

static void rdc_update_ready(rdc *c);

/* The link is gone (error, timeout, or no longer wanted when !backoff). */
static void rdc_link_fail(rdc_link *k, const char *why, bool backoff)
{
    rdc_node *n = k->node;
    rdc *c = n->cl;
    bool was_up = k->state == RDC_UP;
    rdc_io_detach(k);
    k->state = RDC_DOWN;
    if (backoff) {
        k->retry_at = rdc_now(c) + (uint64_t)k->backoff_ms;
        k->backoff_ms =
            k->backoff_ms * 2 > RD_RECONNECT_MAX_MS ? RD_RECONNECT_MAX_MS : k->backoff_ms * 2;
    } else {
        k->retry_at = 0;
        k->backoff_ms = RD_RECONNECT_MIN_MS;
    }
    if (was_up && !c->closing && why)
        cd_warn("redis", "cluster %s connection to %s:%d lost: %s",
                k->kind == RDC_SUB ? "subscriber" : "command", n->host, n->port, why);
    else if (why && !c->closing)
        cd_debug("redis", "cluster connection to %s:%d: %s", n->host, n->port, why);
    if (k->kind == RDC_SUB) {
        /* every subscription on this node died with the connection */
        for (size_t i = 0; i < c->wanted.nb; i++)
            for (rd_chan *ch = c->wanted.b[i]; ch; ch = ch->next)
                if (ch->node == n->idx && ch->confirmed) {
                    ch->confirmed = false;
                    c->confirmed--;
                }
    }
    rdc_req *q = k->head;
    k->head = k->tail = NULL;
    int status = c->closing ? CD_ECLOSED : CD_EUNAVAIL;
    while (q) {
        rdc_req *next = q->next;
        rdc_req_done(c, q, status, NULL);
        q = next;
    }
    if (c->closing) return;
    if (backoff) c->refresh_wanted = true; /* a lost node: the topology may be changing */
    rdc_update_ready(c);
    rdc_kick(c);
}

/* ---- nodes and topology ---- */

static rdc_node *rdc_node_get(rdc *c, const char *host, int port)
{
    rdc_node *spare = NULL;
    for (int i = 0; i < c->nnodes; i++) {
        rdc_node *n = c->nodes[i];
        if (n->port == port && strcmp(n->host, host) == 0) return n;
        if (!spare && !n->master && !n->seed && n->cmd.state == RDC_DOWN &&
            n->sub.state == RDC_DOWN)
            spare = n;
    }
    if (strlen(host) >= RD_HOST_MAX) return NULL;
    rdc_node *n = spare;
    if (n) {
        /* no channel points at a node that owns no slot */
        memset(&n->cmd, 0, sizeof n->cmd);
        memset(&n->sub, 0, sizeof n->sub);
    } else {
        if (c->nnodes == RD_CLUSTER_MAX_NODES) {
            cd_warn("redis", "more than %d cluster nodes: %s:%d ignored", RD_CLUSTER_MAX_NODES,
                    host, port);
            return NULL;
        }
        n = cd_calloc(1, sizeof *n);
        if (!n) return NULL;
        n->idx = c->nnodes;
        c->nodes[c->nnodes++] = n;
    }
    n->cl = c;
    n->master = n->seed = false;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    rdc_link *ks[2] = {&n->cmd, &n->sub};
    for (int i = 0; i < 2; i++) {
        ks[i]->node = n;
        ks[i]->kind = i == 0 ? RDC_CMD : RDC_SUB;
        ks[i]->state = RDC_DOWN;
        ks[i]->backoff_ms = RD_RECONNECT_MIN_MS;
    }
    return n;
}

/* Moves a wanted channel to its slot's owner. */
static void rdc_place(rdc *c, rd_chan *ch)
{
    int want = c->owner[ch->slot];
    if (ch->node == want) return;
    if (ch->node >= 0) rdc_sub_send(&c->nodes[ch->node]->sub, "SUNSUBSCRIBE", ch);
    if (ch->confirmed) {
        ch->confirmed = false;
        c->confirmed--;
    }
    ch->node = want;
    if (want >= 0) rdc_sub_send(&c->nodes[want]->sub, "SSUBSCRIBE", ch);
}

static void rdc_place_all(rdc *c, int slot)
{
    for (size_t i = 0; i < c->wanted.nb; i++)
        for (rd_chan *ch = c->wanted.b[i]; ch; ch = ch->next)
            if (slot < 0 || ch->slot == slot) rdc_place(c, ch);
}

static void rdc_recount(rdc *c)
{
    c->covered = true;
    for (int s = 0; s < RD_CLUSTER_SLOTS; s++)
        if (c->owner[s] < 0) c->covered = false;
    c->masters = 0;
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i]->master) c->masters++;
}

static void rdc_apply_slots(rdc *c, rdc_link *from, const redisReply *r)
{
    size_t max = r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    rd_slot_range *rg = cd_calloc(max ? max : 1, sizeof *rg);
    size_t n = 0;
    if (!rg) return;
    int rc = rd_cluster_parse_slots(r, from->node->host, rg, max, &n);
    if (rc != 0 || n == 0) {
        cd_warn("redis", "CLUSTER SLOTS from %s:%d: %s", from->node->host, from->node->port,
                rc ? "malformed reply" : "no slot assigned yet");
        cd_free(rg);
        return;
    }
    int16_t owner[RD_CLUSTER_SLOTS];
    for (int s = 0; s < RD_CLUSTER_SLOTS; s++)
        owner[s] = -1;
    bool master[RD_CLUSTER_MAX_NODES] = {0};
    for (size_t i = 0; i < n; i++) {
        rdc_node *nd = rdc_node_get(c, rg[i].host, rg[i].port);
        if (!nd) {
            cd_free(rg);
            return; /* keep the old topology */
        }
        nd->master = true; /* not reused by a later rdc_node_get of this loop */
        master[nd->idx] = true;
        for (int s = rg[i].start; s <= rg[i].end; s++)
            owner[s] = (int16_t)nd->idx;
    }
    cd_free(rg);
    bool changed = memcmp(owner, c->owner, sizeof owner) != 0;
    for (int i = 0; i < c->nnodes; i++) {
        if (c->nodes[i]->master != master[i]) changed = true;
        c->nodes[i]->master = master[i];
    }
    memcpy(c->owner, owner, sizeof owner);
    rdc_recount(c);
    c->refreshes++;
    if (changed) {
        cd_info("redis", "cluster topology: %u masters, %s", c->masters,
                c->covered ? "all slots covered" : "some slots have no master");
        rdc_place_all(c, -1);
    }
}

/* A MOVED: the slot is served by host:port from now on. */
static rdc_node *rdc_moved(rdc *c, uint16_t slot, const char *host, int port)
{
    rdc_node *n = rdc_node_get(c, host, port);
    if (!n) return NULL;
    if (!n->master) {
        n->master = true;
        c->masters++;
    }
    c->owner[slot] = (int16_t)n->idx;
    rdc_place_all(c, slot);
    c->refresh_wanted = true;
    rdc_kick(c);
    return n;
}

/* ---- replies ---- */

static void rdc_on_sub_reply(rdc_link *k, redisReply *r)
{
    rdc *c = k->node->cl;
    if (r->type == REDIS_REPLY_ERROR) {
        bool ask;
        uint16_t slot;
        char host[RD_HOST_MAX];
        int port;
        if (rd_redirect_parse(r->str, r->len, &ask, &slot, host, &port) == 0 && !ask) {
            c->redirects++;
            rdc_moved(c, slot, host, port);
        } else {
            cd_warn("redis", "cluster subscriber %s:%d: %s", k->node->host, k->node->port, r->str);
        }
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return; /* +OK of AUTH */
    redisReply *kind = r->element[0], *chr = r->element[1], *data = r->element[2];
    if (kind->type != REDIS_REPLY_STRING || chr->type != REDIS_REPLY_STRING) return;
    rd_chan *ch = rd_set_get(&c->wanted, chr->str, chr->len);
    bool here = ch && ch->node == k->node->idx;
    if (strcasecmp(kind->str, "smessage") == 0) {
        if (!here || data->type != REDIS_REPLY_STRING) return;
        c->messages++;
        c->cbs.on_message(c->cbs.ud, chr->str, chr->len, data->str, data->len);
    } else if (strcasecmp(kind->str, "ssubscribe") == 0) {
        if (!here) return; /* unwanted or moved meanwhile: its SUNSUBSCRIBE is queued */
        if (!ch->confirmed) {
            ch->confirmed = true;
            c->confirmed++;
        }
        if (c->cbs.on_subscribed) c->cbs.on_subscribed(c->cbs.ud, chr->str, chr->len);
    } else if (strcasecmp(kind->str, "sunsubscribe") == 0) {
        /* a confirmed subscription dropped by the server: its slot left this
         * node (failover, resharding). Subscribe again: a MOVED answers if
         * the slot is elsewhere. An unconfirmed channel here is one wanted
         * again after its SUNSUBSCRIBE: its SSUBSCRIBE is already queued. */
        if (!here || !ch->confirmed) return;
        ch->confirmed = false;
        c->confirmed--;
        rdc_sub_send(k, "SSUBSCRIBE", ch);
        c->refresh_wanted = true;
        rdc_kick(c);
    }
}

static void rdc_on_cmd_reply(rdc_link *k, redisReply *r)
{
    rdc *c = k->node->cl;
    rdc_req *q = k->head;
    if (!q) {
        rdc_link_fail(k, "reply without a request", true);
        return;
    }
    k->head = q->next;
    if (!k->head) k->tail = NULL;
    switch (q->kind) {
    case RQ_AUTH:
        if (r->type == REDIS_REPLY_ERROR)
            cd_error("redis", "AUTH failed on %s:%d: %s", k->node->host, k->node->port, r->str);
        rdc_req_done(c, q, 0, NULL);
        return;
    case RQ_ASKING:
        rdc_req_done(c, q, 0, NULL);
        return;
    case RQ_SLOTS:
        if (r->type == REDIS_REPLY_ERROR)
            cd_warn("redis", "CLUSTER SLOTS on %s:%d: %s", k->node->host, k->node->port, r->str);
        else
            rdc_apply_slots(c, k, r);
        c->refresh_inflight = false;
        rdc_req_done(c, q, 0, NULL);
        rdc_update_ready(c);
        rdc_kick(c);
        return;
    case RQ_USER:
    case RQ_PUBLISH:
        break;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        bool ask;
        uint16_t slot;
        char host[RD_HOST_MAX];
        int port;
        if (rd_redirect_parse(r->str, r->len, &ask, &slot, host, &port) == 0 &&
            q->redirects < RD_CLUSTER_MAX_REDIRECTS) {
            q->redirects++;
            c->redirects++;
            rdc_node *n = ask ? rdc_node_get(c, host, port) : rdc_moved(c, slot, host, port);
            if (n && n->cmd.state == RDC_DOWN) rdc_link_connect(&n->cmd);
            if (n && ask) {
                const char *argv[1] = {"ASKING"};
                rdc_req *a = rdc_req_new(RQ_ASKING, 1, argv, NULL);
                if (!a || rdc_link_send(&n->cmd, a) != 0) {
                    if (a) rdc_req_free(a);
                    n = NULL;
                }
            }
            if (n && rdc_link_send(&n->cmd, q) == 0) return;
            rdc_req_done(c, q, CD_EUNAVAIL, NULL);
            return;
        }
        if (strncmp(r->str, "CLUSTERDOWN", 11) == 0) {
            c->refresh_wanted = true;
            rdc_kick(c);
        }
        rdc_req_done(c, q, CD_EIO, r);
        return;
    }
    rdc_req_done(c, q, 0, r);
}

static void rdc_on_reply(rdc_link *k, redisReply *r)
{
    if (k->kind == RDC_SUB)
        rdc_on_sub_reply(k, r);
    else
        rdc_on_cmd_reply(k, r);
}

/* ---- the timer: links, refreshes ---- */

static bool rdc_any_master_cmd_up(const rdc *c)
{
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i]->master && c->nodes[i]->cmd.state == RDC_UP) return true;
    return false;
}

static bool rdc_link_wanted(const rdc *c, const rdc_link *k)
{
    const rdc_node *n = k->node;
    if (n->master) return true;
    return k->kind == RDC_CMD && n->seed && !rdc_any_master_cmd_up(c);
}

static bool rdc_healthy(const rdc *c)
{
    if (!c->covered || c->closing) return false;
    for (int i = 0; i < c->nnodes; i++) {
        const rdc_node *n = c->nodes[i];
        if (n->master && (n->cmd.state != RDC_UP || n->sub.state != RDC_UP)) return false;
    }
    return true;
}

static void rdc_update_ready(rdc *c)
{
    bool ready = rdc_healthy(c);
    if (ready == c->was_ready || c->closing) return;
    c->was_ready = ready;
    cd_info("redis", "cluster %s (%u masters)", ready ? "up" : "degraded", c->masters);
    if (c->cbs.on_state) c->cbs.on_state(c->cbs.ud, ready);
}

/* Sends CLUSTER SLOTS on some command link that is up (masters first, in
 * turn). False when none is. */
static bool rdc_refresh(rdc *c)
{
    rdc_link *k = NULL;
    for (int pass = 0; pass < 2 && !k; pass++)
        for (int j = 0; j < c->nnodes && !k; j++) {
            rdc_node *n = c->nodes[(c->rr + (unsigned)j) % (unsigned)c->nnodes];
            if (n->cmd.state == RDC_UP && (pass == 1 || n->master)) k = &n->cmd;
        }
    if (!k) return false;
    c->rr++;
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    rdc_req *q = rdc_req_new(RQ_SLOTS, 2, argv, NULL);
    if (!q) return false;
    if (rdc_link_send(k, q) != 0) {
        rdc_req_free(q);
        return false;
    }
    c->refresh_inflight = true;
    return true;
}

static void rdc_on_timer(uv_timer_t *t);

static void rdc_reconcile(rdc *c)
{
    if (c->closing) return;
    uint64_t now = rdc_now(c);
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < c->nnodes; i++) {
        rdc_node *n = c->nodes[i];
        rdc_link *ks[2] = {&n->cmd, &n->sub};
        for (int j = 0; j < 2; j++) {
            rdc_link *k = ks[j];
            if (!rdc_link_wanted(c, k)) {
                if (k->state != RDC_DOWN) {
                    cd_debug("redis", "closing cluster connection to %s:%d (not a master)", n->host,
                             n->port);
                    rdc_link_fail(k, NULL, false);
                }
                continue;
            }
            if (k->state == RDC_DOWN && now >= k->retry_at) rdc_link_connect(k);
            if (k->state == RDC_CONNECTING && now >= k->deadline) {
                cd_warn("redis", "connect timeout to %s:%d", n->host, n->port);
                rdc_link_fail(k, NULL, true);
            }
            if (k->state == RDC_DOWN && k->retry_at < next) next = k->retry_at;
            if (k->state == RDC_CONNECTING && k->deadline < next) next = k->deadline;
        }
    }
    bool healthy = rdc_healthy(c);
    uint64_t earliest = c->last_refresh + RD_CLUSTER_REFRESH_FAST_MS;
    if (!c->refresh_inflight && (c->refresh_wanted || now >= c->next_refresh)) {
        if (now >= earliest || c->last_refresh == 0) {
            if (rdc_refresh(c)) {
                c->refresh_wanted = false;
                c->last_refresh = now;
                c->next_refresh =
                    now + (healthy ? RD_CLUSTER_REFRESH_MS : RD_CLUSTER_REFRESH_FAST_MS);
            } else {
                /* no connection yet: the next link up kicks again */
                c->refresh_wanted = true;
            }
        } else if (earliest < next) {
            next = earliest;
        }
    }
    if (!c->refresh_inflight && !c->refresh_wanted && c->next_refresh < next)
        next = c->next_refresh;
    if (!healthy && !c->refresh_inflight) {
        uint64_t soon = now + RD_CLUSTER_REFRESH_FAST_MS;
        if (soon < next) next = soon;
    }
    rdc_update_ready(c);
    if (next != UINT64_MAX) uv_timer_start(&c->timer, rdc_on_timer, next > now ? next - now : 0, 0);
}

static void rdc_on_timer(uv_timer_t *t)
{
    rdc_reconcile(t->data);
}

static void rdc_kick(rdc *c)
{
    if (!c->closing) uv_timer_start(&c->timer, rdc_on_timer, 0, 0);
}

/* ---- the rd_client functions ---- */

int rdc_new(uv_loop_t *loop, const char *url, const rd_callbacks *cbs, rdc **out)
{
    *out = NULL;
    rd_cluster_url u;
    if (rd_cluster_url_parse(url, &u) != 0) return CD_EBAD;
    rdc *c = cd_calloc(1, sizeof *c);
    if (!c) return CD_ENOMEM;
    c->loop = loop;
    c->cbs = *cbs;
    c->auth = u.auth;
    for (int s = 0; s < RD_CLUSTER_SLOTS; s++)
        c->owner[s] = -1;
    for (unsigned i = 0; i < u.nseeds; i++) {
        rdc_node *n = rdc_node_get(c, u.host[i], u.port[i]);
        if (!n) {
            for (int j = 0; j < c->nnodes; j++)
                cd_free(c->nodes[j]);
            cd_free(c);
            return CD_ENOMEM;
        }
        n->seed = true;
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 1;
    rdc_reconcile(c); /* connects the seeds */
    *out = c;
    return 0;
}

static int rdc_submit(rdc *c, rdc_req *q, int slot)
{
    rdc_link *k = NULL;
    if (slot >= 0) {
        int o = c->owner[slot];
        if (o >= 0) k = &c->nodes[o]->cmd;
    } else {
        for (int j = 0; j < c->nnodes && !k; j++) {
            rdc_node *n = c->nodes[(c->rr + (unsigned)j) % (unsigned)c->nnodes];
            if (n->master && n->cmd.state == RDC_UP) k = &n->cmd;
        }
        c->rr++;
    }
    if (!k || k->state != RDC_UP) return CD_EUNAVAIL;
    return rdc_link_send(k, q);
}

int rdc_command(rdc *c, int argc, const char *const *argv, const size_t *argvlen, rd_reply_cb cb,
                void *ud)
{
    if (c->closing) return CD_ECLOSED;
    int slot = rd_command_slot(argc, argv, argvlen);
    if (slot == CD_EBAD) return CD_EBAD;
    if (c->pending >= RD_MAX_PENDING) return CD_ELIMIT;
    rdc_req *q = rdc_req_new(RQ_USER, argc, (const char **)argv, argvlen);
    if (!q) return CD_ENOMEM;
    q->rcb = cb;
    q->ud = ud;
    int rc = rdc_submit(c, q, slot);
    if (rc != 0) {
        rdc_req_free(q);
        return rc;
    }
    c->pending++;
    return 0;
}

int rdc_publish(rdc *c, const char *channel, size_t chlen, const void *data, size_t len,
                rd_publish_cb cb, void *ud)
{
    if (c->closing) return CD_ECLOSED;
    if (c->pending >= RD_MAX_PENDING) return CD_ELIMIT;
    const char *argv[3] = {"SPUBLISH", channel, data ? data : ""};
    size_t lens[3] = {8, chlen, len};
    rdc_req *q = rdc_req_new(RQ_PUBLISH, 3, argv, lens);
    if (!q) return CD_ENOMEM;
    q->pcb = cb;
    q->ud = ud;
    int rc = rdc_submit(c, q, rd_key_slot(channel, chlen));
    if (rc != 0) {
        rdc_req_free(q);
        c->publish_errors++;
        return rc;
    }
    c->pending++;
    return 0;
}

int rdc_subscribe(rdc *c, const char *channel, size_t len)
{
    if (c->closing) return CD_ECLOSED;
    if (rd_set_get(&c->wanted, channel, len)) return 0;
    if (c->wanted.n >= RD_MAX_CHANNELS) return CD_ELIMIT;
    if (c->wanted.n >= c->wanted.nb && rd_set_grow(&c->wanted) != 0) return CD_ENOMEM;
    rd_chan *ch = cd_calloc(1, sizeof *ch + len + 1);
    if (!ch) return CD_ENOMEM;
    memcpy(ch->name, channel, len);
    ch->name[len] = 0;
    ch->len = len;
    ch->node = -1;
    ch->slot = rd_key_slot(channel, len);
    rd_chan **slot = rd_set_slot(&c->wanted, channel, len);
    *slot = ch;
    c->wanted.n++;
    rdc_place(c, ch);
    return 0;
}

int rdc_unsubscribe(rdc *c, const char *channel, size_t len)
{
    rd_chan **slot = rd_set_slot(&c->wanted, channel, len);
    if (!slot || !*slot) return CD_ENOENT;
    rd_chan *ch = *slot;
    *slot = ch->next;
    c->wanted.n--;
    if (ch->confirmed) c->confirmed--;
    if (ch->node >= 0 && !c->closing) rdc_sub_send(&c->nodes[ch->node]->sub, "SUNSUBSCRIBE", ch);
    cd_free(ch);
    return 0;
}

bool rdc_is_wanted(const rdc *c, const char *channel, size_t len)
{
    return rd_set_get(&c->wanted, channel, len) != NULL;
}

void rdc_stats_get(const rdc *c, rd_stats *out)
{
    memset(out, 0, sizeof *out);
    out->cluster = true;
    out->masters = c->masters;
    bool pub = c->covered, sub = c->covered;
    for (int i = 0; i < c->nnodes; i++) {
        const rdc_node *n = c->nodes[i];
        if (!n->master) continue;
        pub = pub && n->cmd.state == RDC_UP;
        sub = sub && n->sub.state == RDC_UP;
    }
    out->pub_connected = pub;
    out->sub_connected = sub;
    out->channels = c->wanted.n;
    out->subscribed = c->confirmed;
    out->published = c->published;
    out->publish_errors = c->publish_errors;
    out->messages = c->messages;
    out->reconnects = c->reconnects;
    out->redirects = c->redirects;
    out->refreshes = c->refreshes;
}

bool rdc_ready(const rdc *c)
{
    return rdc_healthy(c);
}

void rdc_close(rdc *c, rd_close_cb cb, void *ud)
{
    if (c->closing) return;
    c->closing = true;
    c->close_cb = cb;
    c->close_ud = ud;
    uv_timer_stop(&c->timer);
    for (int i = 0; i < c->nnodes; i++) {
        rdc_node *n = c->nodes[i];
        if (n->cmd.state != RDC_DOWN) rdc_link_fail(&n->cmd, NULL, false);
        if (n->sub.state != RDC_DOWN) rdc_link_fail(&n->sub, NULL, false);
    }
    /* the last handle's close callback frees the client */
    uv_close((uv_handle_t *)&c->timer, rdc_timer_closed);
}
