/*
 * redis.c — Redis pub/sub client on libuv (see redis.h for the contract).
 *
 * Two hiredis async contexts: `pub` for PUBLISH, `sub` in subscriber mode.
 * Each is NULL while down; a per-connection timer drives reconnect backoff
 * and the connect timeout. hiredis frees a context itself after a failed
 * connect or a disconnect (then calls our callbacks), so we only ever
 * redisAsyncFree a context on close or on connect timeout.
 *
 * The event-loop glue is our own small adapter instead of hiredis's
 * adapters/libuv.h: that one ignores poll errors, and libuv stops a poll
 * handle on error (e.g. connection refused), so hiredis would never learn a
 * connect failed. Ours hands errors to hiredis, which reads the socket
 * error and reports it.
 *
 * Wanted channels live in a hash set with a `confirmed` flag per channel.
 * Invariants: a channel is subscribed on the server only if it is wanted (or
 * its UNSUBSCRIBE is in flight); messages for channels not wanted are
 * dropped; after (re)connecting every wanted channel is subscribed again.
 * hiredis forgets a channel's callback when an UNSUBSCRIBE confirmation
 * arrives, so a channel wanted again before that confirmation is
 * re-subscribed when the confirmation comes.
 *
 * Memory: the client and its channel set are freed after rd_client_close
 * once our timers have closed; hiredis frees its own contexts.
 */
#include "store/redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "core/log.h"
#include "store/redis_internal.h"

#define RD_SUB_BATCH 512 /* channels per SUBSCRIBE command when resubscribing */

/* ---- libuv adapter for hiredis ---- */

typedef struct rd_ev {
    redisAsyncContext *ac;
    uv_poll_t h;
    uv_prepare_t flush; /* writes what hiredis queued, once per loop turn */
    int events;         /* what h polls for */
    int open;           /* handles not closed yet */
    bool writing;       /* inside redisAsyncHandleWrite */
} rd_ev;

/* Writes what hiredis has queued. Asked to write again from inside (the
 * socket took only part of it), the adapter polls for writability instead. */
static void rd_ev_write(rd_ev *e)
{
    e->writing = true;
    redisAsyncHandleWrite(e->ac);
    e->writing = false;
}

static void rd_ev_poll(uv_poll_t *h, int status, int events)
{
    rd_ev *e = h->data;
    if (status < 0) {
        /* libuv stopped the handle; let hiredis discover the socket error */
        events = e->events;
    }
    if (e->ac && (events & UV_WRITABLE)) rd_ev_write(e);
    if (e->ac && (events & UV_READABLE)) redisAsyncHandleRead(e->ac);
}

/* uv_poll_start re-registers the descriptor even when nothing changes
 * (two epoll_ctl calls), and hiredis asks for reads after every write:
 * only a change reaches libuv. */
static void rd_ev_set(rd_ev *e, int events)
{
    if (events == e->events) return;
    e->events = events;
    if (events)
        uv_poll_start(&e->h, events, rd_ev_poll);
    else
        uv_poll_stop(&e->h);
}

static void rd_ev_flush(uv_prepare_t *p)
{
    rd_ev *e = p->data;
    uv_prepare_stop(p);
    if (e->ac) rd_ev_write(e);
}

static void rd_ev_add_read(void *p)
{
    rd_ev *e = p;
    rd_ev_set(e, e->events | UV_READABLE);
}
static void rd_ev_del_read(void *p)
{
    rd_ev *e = p;
    rd_ev_set(e, e->events & ~UV_READABLE);
}
/* A command queued on a connected context is written before the loop next
 * blocks (a prepare handle: every command of this turn in one write, no
 * writability poll armed and disarmed around it); while connecting, or when
 * the socket is full, hiredis waits for writability. */
static void rd_ev_add_write(void *p)
{
    rd_ev *e = p;
    if (!e->writing && e->ac && (e->ac->c.flags & REDIS_CONNECTED)) {
        uv_prepare_start(&e->flush, rd_ev_flush);
        return;
    }
    rd_ev_set(e, e->events | UV_WRITABLE);
}
static void rd_ev_del_write(void *p)
{
    rd_ev *e = p;
    uv_prepare_stop(&e->flush);
    rd_ev_set(e, e->events & ~UV_WRITABLE);
}

static void rd_ev_closed(uv_handle_t *h)
{
    rd_ev *e = h->data;
    if (--e->open == 0) cd_free(e);
}

static void rd_ev_cleanup(void *p)
{
    rd_ev *e = p;
    e->ac = NULL;
    uv_close((uv_handle_t *)&e->h, rd_ev_closed);
    uv_close((uv_handle_t *)&e->flush, rd_ev_closed);
}

static int rd_ev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    rd_ev *e = cd_calloc(1, sizeof *e);
    if (!e) return -1;
    if (uv_poll_init(loop, &e->h, ac->c.fd) != 0) {
        cd_free(e);
        return -1;
    }
    uv_prepare_init(loop, &e->flush); /* cannot fail */
    e->h.data = e;
    e->flush.data = e;
    e->open = 2;
    e->ac = ac;
    ac->ev.addRead = rd_ev_add_read;
    ac->ev.delRead = rd_ev_del_read;
    ac->ev.addWrite = rd_ev_add_write;
    ac->ev.delWrite = rd_ev_del_write;
    ac->ev.cleanup = rd_ev_cleanup;
    ac->ev.data = e;
    return 0;
}

int rd_hiredis_attach(void *ac, uv_loop_t *loop)
{
    redisAsyncContext *a = ac;
    if (a->ev.data) return CD_EIO; /* already attached */
    return rd_ev_attach(a, loop) == 0 ? 0 : CD_ENOMEM;
}

/* ---- channel set ---- */

static uint64_t rd_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

rd_chan **rd_set_slot(const rd_set *s, const char *name, size_t len)
{
    if (!s->nb) return NULL;
    rd_chan **pp = &s->b[rd_hash(name, len) & (s->nb - 1)];
    while (*pp && !((*pp)->len == len && memcmp((*pp)->name, name, len) == 0))
        pp = &(*pp)->next;
    return pp;
}

rd_chan *rd_set_get(const rd_set *s, const char *name, size_t len)
{
    rd_chan **pp = rd_set_slot(s, name, len);
    return pp ? *pp : NULL;
}

int rd_set_grow(rd_set *s)
{
    size_t nb = s->nb ? s->nb * 2 : 64;
    rd_chan **b = cd_calloc(nb, sizeof *b);
    if (!b) return CD_ENOMEM;
    for (size_t i = 0; i < s->nb; i++) {
        rd_chan *c = s->b[i];
        while (c) {
            rd_chan *next = c->next;
            size_t k = rd_hash(c->name, c->len) & (nb - 1);
            c->next = b[k];
            b[k] = c;
            c = next;
        }
    }
    cd_free(s->b);
    s->b = b;
    s->nb = nb;
    return 0;
}

void rd_set_free(rd_set *s)
{
    for (size_t i = 0; i < s->nb; i++) {
        rd_chan *c = s->b[i];
        while (c) {
            rd_chan *next = c->next;
            cd_free(c);
            c = next;
        }
    }
    cd_free(s->b);
    memset(s, 0, sizeof *s);
}

/* ---- client ---- */

typedef struct rd_conn {
    redisAsyncContext *ac;
    bool up;
    uv_timer_t timer; /* backoff, then connect timeout */
    int backoff_ms;
    uint64_t attempts;
} rd_conn;

struct rd_client {
    rdc *cluster; /* cluster mode: everything is forwarded to it */
    rd_close_cb cluster_close_cb;
    void *cluster_close_ud;
    uv_loop_t *loop;
    rd_url url;
    rd_callbacks cbs;
    rd_conn pub, sub;
    rd_set wanted;
    size_t confirmed; /* channels with confirmed == true */
    long pending;     /* publishes in flight */
    bool closing;
    int open_timers;  /* the two timers and `flush`, closed on rd_client_close */
    uv_check_t flush; /* writes the publishes queued in a loop turn at its end */
    bool flush_armed;
    rd_close_cb close_cb;
    void *close_ud;
    uint64_t published, publish_errors, messages, reconnects;
};

/* One request in flight on the publishing connection. */
typedef struct rd_pubreq {
    rd_client *c;
    rd_publish_cb cb; /* PUBLISH */
    rd_reply_cb rcb;  /* rd_command */
    void *ud;
    cd_log_ctx logctx; /* the submitter's request id, for its callback's logs */
} rd_pubreq;

static void rd_connect(rd_client *c, rd_conn *k);

int rd_url_parse(const char *url, rd_url *out)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!url || !*url || strlen(url) >= RD_URL_MAX) return CD_EBAD;
    const char *p = url;
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    else if (strstr(p, "://"))
        return CD_EBAD; /* rediss:// (TLS) etc. unsupported */
    const char *at = strrchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at && slash && at > slash) at = NULL;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            size_t ul = (size_t)(colon - p), pl = (size_t)(at - colon - 1);
            if (ul >= sizeof out->user || pl >= sizeof out->password) return CD_EBAD;
            memcpy(out->user, p, ul);
            memcpy(out->password, colon + 1, pl);
        } else {
            size_t pl = (size_t)(at - p); /* redis://password@host */
            if (pl >= sizeof out->password) return CD_EBAD;
            memcpy(out->password, p, pl);
        }
        p = at + 1;
    }
    const char *end = slash ? slash : p + strlen(p);
    const char *hend = end;
    const char *colon = NULL;
    if (*p == '[') { /* [ipv6]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) return CD_EBAD;
        size_t hl = (size_t)(rb - p - 1);
        if (hl == 0 || hl >= sizeof out->host) return CD_EBAD;
        memcpy(out->host, p + 1, hl);
        if (rb + 1 < end) {
            if (rb[1] != ':') return CD_EBAD;
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        if (colon) hend = colon;
        size_t hl = (size_t)(hend - p);
        if (hl == 0 || hl >= sizeof out->host) return CD_EBAD;
        memcpy(out->host, p, hl);
    }
    if (colon) {
        char *e = NULL;
        long port = strtol(colon + 1, &e, 10);
        if (e != end || colon + 1 == end || port < 1 || port > 65535) return CD_EBAD;
        out->port = (int)port;
    }
    if (slash && slash[1]) {
        char *e = NULL;
        long db = strtol(slash + 1, &e, 10);
        if (*e != '\0' || db < 0 || db > 1000000) return CD_EBAD;
        out->db = (int)db;
    }
    return 0;
}

static rd_conn *rd_which(rd_client *c, const redisAsyncContext *ac)
{
    if (c->pub.ac == ac) return &c->pub;
    if (c->sub.ac == ac) return &c->sub;
    return NULL;
}

static void rd_timer_cb(uv_timer_t *t)
{
    rd_client *c = t->data;
    rd_conn *k = (t == &c->pub.timer) ? &c->pub : &c->sub;
    if (c->closing) return;
    if (!k->ac) {
        rd_connect(c, k);
    } else if (!k->up) {
        /* connect timeout: freeing an unconnected context calls no callback */
        cd_warn("redis", "connect timeout to %s:%d", c->url.host, c->url.port);
        redisAsyncContext *ac = k->ac;
        k->ac = NULL;
        redisAsyncFree(ac);
        rd_connect(c, k);
    }
}

static void rd_retry(rd_client *c, rd_conn *k)
{
    if (c->closing) return;
    int d = k->backoff_ms;
    k->backoff_ms =
        k->backoff_ms * 2 > RD_RECONNECT_MAX_MS ? RD_RECONNECT_MAX_MS : k->backoff_ms * 2;
    uv_timer_start(&k->timer, rd_timer_cb, (uint64_t)d, 0);
}

static void rd_sub_reply(redisAsyncContext *ac, void *r, void *priv);

/* Sends SUBSCRIBE (or UNSUBSCRIBE) for up to n names. */
static int rd_send_sub(rd_client *c, const char *cmd, const char **names, const size_t *lens, int n)
{
    const char *argv[RD_SUB_BATCH + 1];
    size_t argl[RD_SUB_BATCH + 1];
    argv[0] = cmd;
    argl[0] = strlen(cmd);
    for (int i = 0; i < n; i++) {
        argv[i + 1] = names[i];
        argl[i + 1] = lens[i];
    }
    return redisAsyncCommandArgv(c->sub.ac, rd_sub_reply, c, n + 1, argv, argl) == REDIS_OK
               ? 0
               : CD_EIO;
}

static void rd_resubscribe_all(rd_client *c)
{
    const char *names[RD_SUB_BATCH];
    size_t lens[RD_SUB_BATCH];
    int n = 0;
    for (size_t i = 0; i < c->wanted.nb; i++) {
        for (rd_chan *ch = c->wanted.b[i]; ch; ch = ch->next) {
            names[n] = ch->name;
            lens[n] = ch->len;
            if (++n == RD_SUB_BATCH) {
                rd_send_sub(c, "SUBSCRIBE", names, lens, n);
                n = 0;
            }
        }
    }
    if (n) rd_send_sub(c, "SUBSCRIBE", names, lens, n);
}

static void rd_auth_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    rd_client *c = priv;
    redisReply *rep = r;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        cd_error("redis", "AUTH/SELECT failed on %s:%d: %s", c->url.host, c->url.port, rep->str);
}

static void rd_on_connect(const redisAsyncContext *ac, int status)
{
    rd_client *c = ac->data;
    rd_conn *k = rd_which(c, ac);
    if (!k) return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        cd_debug("redis", "connect failed: %s", ac->errstr);
        k->ac = NULL;
        rd_retry(c, k);
        return;
    }
    uv_timer_stop(&k->timer);
    k->up = true;
    k->backoff_ms = RD_RECONNECT_MIN_MS;
    redisAsyncContext *m = (redisAsyncContext *)ac;
    if (c->url.password[0]) {
        if (c->url.user[0])
            redisAsyncCommand(m, rd_auth_reply, c, "AUTH %s %s", c->url.user, c->url.password);
        else
            redisAsyncCommand(m, rd_auth_reply, c, "AUTH %s", c->url.password);
    }
    if (k == &c->pub) {
        if (c->url.db) redisAsyncCommand(m, rd_auth_reply, c, "SELECT %d", c->url.db);
        cd_info("redis", "publisher connected to %s:%d", c->url.host, c->url.port);
    } else {
        cd_info("redis", "subscriber connected to %s:%d (%zu channels)", c->url.host, c->url.port,
                c->wanted.n);
        rd_resubscribe_all(c);
        if (c->cbs.on_state) c->cbs.on_state(c->cbs.ud, true);
    }
}

static void rd_on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    rd_client *c = ac->data;
    rd_conn *k = rd_which(c, ac);
    if (!k) return;
    /* hiredis frees the context after this callback */
    k->ac = NULL;
    bool was_up = k->up;
    k->up = false;
    if (k == &c->sub) {
        /* every subscription died with the connection */
        for (size_t i = 0; i < c->wanted.nb; i++)
            for (rd_chan *ch = c->wanted.b[i]; ch; ch = ch->next)
                ch->confirmed = false;
        c->confirmed = 0;
    }
    if (c->closing) return;
    cd_warn("redis", "%s connection to %s:%d lost: %s", k == &c->pub ? "publisher" : "subscriber",
            c->url.host, c->url.port, ac->errstr[0] ? ac->errstr : "closed");
    if (k == &c->sub && was_up && c->cbs.on_state) c->cbs.on_state(c->cbs.ud, false);
    k->backoff_ms = RD_RECONNECT_MIN_MS;
    rd_retry(c, k);
}

static void rd_connect(rd_client *c, rd_conn *k)
{
    if (c->closing) return;
    if (k->attempts++ > 0) c->reconnects++;
    redisAsyncContext *ac = redisAsyncConnect(c->url.host, c->url.port);
    if (!ac) {
        rd_retry(c, k);
        return;
    }
    if (ac->err) {
        cd_debug("redis", "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        rd_retry(c, k);
        return;
    }
    ac->data = c;
    if (rd_ev_attach(ac, c->loop) != 0) {
        redisAsyncFree(ac);
        rd_retry(c, k);
        return;
    }
    redisAsyncSetConnectCallback(ac, rd_on_connect);
    redisAsyncSetDisconnectCallback(ac, rd_on_disconnect);
    k->ac = ac;
    k->up = false;
    uv_timer_start(&k->timer, rd_timer_cb, RD_CONNECT_TIMEOUT_MS, 0);
}

/* Replies on the subscriber connection: confirmations and messages. */
static void rd_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    rd_client *c = priv;
    redisReply *rep = r;
    if (!rep || c->closing) return;
    if (rep->type == REDIS_REPLY_ERROR) {
        cd_error("redis", "subscriber error: %s", rep->str);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3) return;
    redisReply *kind = rep->element[0], *chr = rep->element[1], *data = rep->element[2];
    if (kind->type != REDIS_REPLY_STRING || chr->type != REDIS_REPLY_STRING) return;
    rd_chan *ch = rd_set_get(&c->wanted, chr->str, chr->len);
    if (strcasecmp(kind->str, "message") == 0) {
        if (!ch || data->type != REDIS_REPLY_STRING) return; /* unsubscribed meanwhile */
        c->messages++;
        c->cbs.on_message(c->cbs.ud, chr->str, chr->len, data->str, data->len);
    } else if (strcasecmp(kind->str, "subscribe") == 0) {
        if (!ch) return; /* unwanted meanwhile: its UNSUBSCRIBE is queued */
        if (!ch->confirmed) {
            ch->confirmed = true;
            c->confirmed++;
        }
        if (c->cbs.on_subscribed) c->cbs.on_subscribed(c->cbs.ud, chr->str, chr->len);
    } else if (strcasecmp(kind->str, "unsubscribe") == 0) {
        if (!ch) return;
        /* wanted again before this confirmation: hiredis dropped the
         * channel's callback, so subscribe once more */
        if (ch->confirmed) {
            ch->confirmed = false;
            c->confirmed--;
        }
        const char *nm[1] = {ch->name};
        size_t ln[1] = {ch->len};
        if (c->sub.up) rd_send_sub(c, "SUBSCRIBE", nm, ln, 1);
    }
}

int rd_client_new(uv_loop_t *loop, const char *url, const rd_callbacks *cbs, rd_client **out)
{
    *out = NULL;
    if (!loop || !cbs || !cbs->on_message) return CD_EBAD;
    rd_client *c = cd_calloc(1, sizeof *c);
    if (!c) return CD_ENOMEM;
    if (rd_url_is_cluster(url)) {
        int rc = rdc_new(loop, url, cbs, &c->cluster);
        if (rc != 0) {
            cd_free(c);
            return rc;
        }
        *out = c;
        return 0;
    }
    if (rd_url_parse(url, &c->url) != 0) {
        cd_free(c);
        return CD_EBAD;
    }
    c->loop = loop;
    c->cbs = *cbs;
    rd_conn *ks[2] = {&c->pub, &c->sub};
    for (int i = 0; i < 2; i++) {
        uv_timer_init(loop, &ks[i]->timer);
        ks[i]->timer.data = c;
        ks[i]->backoff_ms = RD_RECONNECT_MIN_MS;
        c->open_timers++;
    }
    uv_check_init(loop, &c->flush);
    c->flush.data = c;
    c->open_timers++;
    rd_connect(c, &c->pub);
    rd_connect(c, &c->sub);
    *out = c;
    return 0;
}

static void rd_pub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    rd_pubreq *q = priv;
    rd_client *c = q->c;
    redisReply *rep = r;
    c->pending--;
    int status = 0;
    long long n = -1;
    if (!rep)
        status = c->closing ? CD_ECLOSED : CD_EUNAVAIL;
    else if (rep->type == REDIS_REPLY_INTEGER)
        n = rep->integer;
    else
        status = CD_EIO;
    if (status)
        c->publish_errors++;
    else
        c->published++;
    rd_publish_cb cb = q->cb;
    void *ud = q->ud;
    cd_log_ctx saved;
    cd_log_ctx_enter(q->logctx.request_id, &saved);
    cd_free(q);
    if (cb) cb(ud, status, n);
    cd_log_ctx_leave(&saved);
}

static void rd_cmd_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    rd_pubreq *q = priv;
    rd_client *c = q->c;
    redisReply *rep = r;
    c->pending--;
    int status = 0;
    if (!rep)
        status = c->closing ? CD_ECLOSED : CD_EUNAVAIL;
    else if (rep->type == REDIS_REPLY_ERROR)
        status = CD_EIO;
    rd_reply_cb cb = q->rcb;
    void *ud = q->ud;
    cd_log_ctx saved;
    cd_log_ctx_enter(q->logctx.request_id, &saved);
    cd_free(q);
    if (cb) cb(ud, status, rep);
    cd_log_ctx_leave(&saved);
}

int rd_command(rd_client *c, int argc, const char *const *argv, const size_t *argvlen,
               rd_reply_cb cb, void *ud)
{
    if (argc < 1 || !argv || !argv[0]) return CD_EBAD;
    static const char *const refused[] = {"subscribe",   "psubscribe",   "ssubscribe",
                                          "unsubscribe", "punsubscribe", "sunsubscribe",
                                          "monitor"};
    size_t l0 = argvlen ? argvlen[0] : strlen(argv[0]);
    for (size_t i = 0; i < CD_ARRAY_LEN(refused); i++)
        if (strlen(refused[i]) == l0 && strncasecmp(argv[0], refused[i], l0) == 0) return CD_EBAD;
    if (c->cluster) return rdc_command(c->cluster, argc, argv, argvlen, cb, ud);
    if (c->closing) return CD_ECLOSED;
    if (!c->pub.up) return CD_EUNAVAIL;
    if (c->pending >= RD_MAX_PENDING) return CD_ELIMIT;
    rd_pubreq *q = cd_calloc(1, sizeof *q);
    if (q) q->logctx = *cd_log_ctx_current();
    if (!q) return CD_ENOMEM;
    q->c = c;
    q->rcb = cb;
    q->ud = ud;
    size_t *lens = NULL;
    size_t local[16];
    if (!argvlen) {
        lens = argc <= 16 ? local : cd_malloc((size_t)argc * sizeof *lens);
        if (!lens) {
            cd_free(q);
            return CD_ENOMEM;
        }
        for (int i = 0; i < argc; i++)
            lens[i] = argv[i] ? strlen(argv[i]) : 0;
    }
    int rc = redisAsyncCommandArgv(c->pub.ac, rd_cmd_reply, q, argc, (const char **)argv,
                                   argvlen ? argvlen : lens);
    if (lens && lens != local) cd_free(lens);
    if (rc != REDIS_OK) {
        cd_free(q);
        return CD_EUNAVAIL;
    }
    c->pending++;
    return 0;
}

/* The check phase after the loop turn that queued publishes: hiredis writes
 * them now, like the WebSocket frames of that turn (net/ws.c), instead of in
 * the next turn's poll after its other I/O callbacks — a message's PUBLISH
 * leaves right after the callbacks of the commit that produced it. What the
 * socket does not take stays queued behind hiredis's write interest. */
static void rd_flush_cb(uv_check_t *h)
{
    rd_client *c = h->data;
    uv_check_stop(h);
    c->flush_armed = false;
    if (!c->closing && c->pub.ac && c->pub.up) redisAsyncHandleWrite(c->pub.ac);
}

int rd_publish(rd_client *c, const char *channel, const void *data, size_t len, rd_publish_cb cb,
               void *ud)
{
    if (!channel || (!data && len)) return CD_EBAD;
    size_t cl = strlen(channel);
    if (cl == 0 || cl > RD_MAX_CHANNEL_LEN) return CD_EBAD;
    if (c->cluster) return rdc_publish(c->cluster, channel, cl, data, len, cb, ud);
    if (c->closing) return CD_ECLOSED;
    if (!c->pub.up) {
        c->publish_errors++;
        return CD_EUNAVAIL;
    }
    if (c->pending >= RD_MAX_PENDING) return CD_ELIMIT;
    rd_pubreq *q = cd_calloc(1, sizeof *q);
    if (q) q->logctx = *cd_log_ctx_current();
    if (!q) return CD_ENOMEM;
    q->c = c;
    q->cb = cb;
    q->ud = ud;
    const char *argv[3] = {"PUBLISH", channel, data ? data : ""};
    size_t argl[3] = {7, cl, len};
    if (redisAsyncCommandArgv(c->pub.ac, rd_pub_reply, q, 3, argv, argl) != REDIS_OK) {
        cd_free(q);
        return CD_EUNAVAIL;
    }
    c->pending++;
    if (!c->flush_armed) {
        c->flush_armed = true;
        uv_check_start(&c->flush, rd_flush_cb);
    }
    return 0;
}

int rd_subscribe(rd_client *c, const char *channel)
{
    if (!channel) return CD_EBAD;
    size_t len = strlen(channel);
    if (len == 0 || len > RD_MAX_CHANNEL_LEN) return CD_EBAD;
    if (c->cluster) return rdc_subscribe(c->cluster, channel, len);
    if (c->closing) return CD_ECLOSED;
    if (rd_set_get(&c->wanted, channel, len)) return 0;
    if (c->wanted.n >= RD_MAX_CHANNELS) return CD_ELIMIT;
    if (c->wanted.n >= c->wanted.nb && rd_set_grow(&c->wanted) != 0) return CD_ENOMEM;
    rd_chan *ch = cd_calloc(1, sizeof *ch + len + 1);
    if (!ch) return CD_ENOMEM;
    memcpy(ch->name, channel, len + 1);
    ch->len = len;
    ch->node = -1;
    rd_chan **slot = rd_set_slot(&c->wanted, channel, len);
    *slot = ch;
    c->wanted.n++;
    /* if an UNSUBSCRIBE of it is in flight, its confirmation re-subscribes */
    if (c->sub.up) {
        const char *nm[1] = {ch->name};
        size_t ln[1] = {len};
        rd_send_sub(c, "SUBSCRIBE", nm, ln, 1);
    }
    return 0;
}

int rd_unsubscribe(rd_client *c, const char *channel)
{
    if (!channel) return CD_EBAD;
    size_t len = strlen(channel);
    if (c->cluster) return rdc_unsubscribe(c->cluster, channel, len);
    rd_chan **slot = rd_set_slot(&c->wanted, channel, len);
    if (!slot || !*slot) return CD_ENOENT;
    rd_chan *ch = *slot;
    *slot = ch->next;
    c->wanted.n--;
    if (ch->confirmed) c->confirmed--;
    if (c->sub.up && !c->closing) {
        const char *nm[1] = {channel};
        size_t ln[1] = {len};
        rd_send_sub(c, "UNSUBSCRIBE", nm, ln, 1);
    }
    cd_free(ch);
    return 0;
}

bool rd_is_wanted(const rd_client *c, const char *channel)
{
    if (!channel) return false;
    if (c->cluster) return rdc_is_wanted(c->cluster, channel, strlen(channel));
    return rd_set_get(&c->wanted, channel, strlen(channel)) != NULL;
}

bool rd_is_cluster(const rd_client *c)
{
    return c->cluster != NULL;
}

void rd_stats_get(const rd_client *c, rd_stats *out)
{
    if (c->cluster) {
        rdc_stats_get(c->cluster, out);
        return;
    }
    memset(out, 0, sizeof *out);
    out->pub_connected = c->pub.up;
    out->sub_connected = c->sub.up;
    out->channels = c->wanted.n;
    out->subscribed = c->confirmed;
    out->published = c->published;
    out->publish_errors = c->publish_errors;
    out->messages = c->messages;
    out->reconnects = c->reconnects;
}

bool rd_ready(const rd_client *c)
{
    if (c->cluster) return rdc_ready(c->cluster);
    return !c->closing && c->pub.up && c->sub.up;
}

static void rd_timer_closed(uv_handle_t *h)
{
    rd_client *c = h->data;
    if (--c->open_timers > 0) return;
    rd_close_cb cb = c->close_cb;
    void *ud = c->close_ud;
    rd_set_free(&c->wanted);
    cd_free(c);
    if (cb) cb(ud);
}

static void rd_cluster_closed(void *ud)
{
    rd_client *c = ud;
    rd_close_cb cb = c->cluster_close_cb;
    void *cud = c->cluster_close_ud;
    cd_free(c);
    if (cb) cb(cud);
}

void rd_client_close(rd_client *c, rd_close_cb cb, void *ud)
{
    if (c->closing) return;
    if (c->cluster) {
        c->closing = true;
        c->cluster_close_cb = cb;
        c->cluster_close_ud = ud;
        rdc_close(c->cluster, rd_cluster_closed, c);
        return;
    }
    c->closing = true;
    c->close_cb = cb;
    c->close_ud = ud;
    rd_conn *ks[2] = {&c->pub, &c->sub};
    for (int i = 0; i < 2; i++) {
        rd_conn *k = ks[i];
        if (k->ac) {
            /* in-flight publishes get a NULL reply → CD_ECLOSED */
            redisAsyncContext *ac = k->ac;
            k->ac = NULL;
            k->up = false;
            redisAsyncFree(ac);
        }
        uv_close((uv_handle_t *)&k->timer, rd_timer_closed);
    }
    uv_close((uv_handle_t *)&c->flush, rd_timer_closed);
}
