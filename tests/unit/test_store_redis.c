/*
 * test_store_redis.c — the pub/sub client against a real redis-server
 * (CHATD_TEST_REDIS_URL from scripts/testenv; without it the tests needing it
 * are skipped with the reason printed and URL parsing still runs; the
 * restart test runs its own redis-server so others sharing the environment
 * are not disturbed). Covers URL parsing, publish/subscribe with
 * binary payloads, unsubscribe (no delivery after it returns), quick
 * unsubscribe+subscribe, a Redis restart (reconnect, re-subscribe, the
 * on_subscribed callback again, publish after), publishing while down,
 * close with publishes in flight, and the channel limits at their edges;
 * the channel router (prefix matching, several routes, state to all, its
 * limits at the edge) without a server.
 * Every loop test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <hiredis/hiredis.h>

#include "test_util.h"

#include "core/arena.h"
#include "store/redis.h"

/* A private redis-server for the restart test: bouncing the shared one
 * would break other test binaries running in parallel against it. */
static pid_t priv_pid;
static int priv_port;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        fail_msg("no free port");
    close(fd);
    return ntohs(sa.sin_port);
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void priv_redis_start(void)
{
    char port[16];
    snprintf(port, sizeof port, "%d", priv_port);
    priv_pid = fork();
    if (priv_pid < 0) fail_msg("fork");
    if (priv_pid == 0) {
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", "/tmp", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !port_open(priv_port); i++)
        usleep(10000);
    if (!port_open(priv_port)) fail_msg("private redis-server did not start on %d", priv_port);
}

static void priv_redis_stop(int sig)
{
    kill(priv_pid, sig);
    int st;
    waitpid(priv_pid, &st, 0);
    priv_pid = 0;
}

typedef struct seen {
    int messages;
    char last_channel[300];
    char last_data[512];
    size_t last_len;
    size_t full_len;   /* the last message's whole length */
    uint32_t full_sum; /* and a checksum of all of it */
    size_t first_len;  /* the same of the first message */
    uint32_t first_sum;
    int subscribed; /* on_subscribed calls */
    int ups, downs;
} seen;

static uint32_t sum_bytes(const char *d, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)d[i]) * 16777619u;
    return h;
}

static void on_message(void *ud, const char *ch, size_t chlen, const char *data, size_t len)
{
    seen *s = ud;
    s->messages++;
    snprintf(s->last_channel, sizeof s->last_channel, "%.*s", (int)chlen, ch);
    s->full_len = len;
    s->full_sum = sum_bytes(data, len);
    if (s->messages == 1) {
        s->first_len = s->full_len;
        s->first_sum = s->full_sum;
    }
    if (len > sizeof s->last_data) len = sizeof s->last_data;
    memcpy(s->last_data, data, len);
    s->last_len = len;
}

static void on_subscribed(void *ud, const char *ch, size_t chlen)
{
    (void)ch;
    (void)chlen;
    seen *s = ud;
    s->subscribed++;
}

static void on_state(void *ud, bool up)
{
    seen *s = ud;
    if (up)
        s->ups++;
    else
        s->downs++;
}

typedef struct pubres {
    int done;
    int status;
    long long receivers;
} pubres;

static void on_pub(void *ud, int status, long long receivers)
{
    pubres *p = ud;
    p->done++;
    p->status = status;
    p->receivers = receivers;
}

/* Runs the loop until cond(arg) holds; fails after 15 s. */
#define RUN_UNTIL(loop, cond)                                                                      \
    do {                                                                                           \
        uint64_t t0_ = uv_hrtime();                                                                \
        while (!(cond)) {                                                                          \
            uv_run((loop), UV_RUN_ONCE);                                                           \
            if (uv_hrtime() - t0_ > 15ull * 1000000000ull) fail_msg("timeout: " #cond);            \
        }                                                                                          \
    } while (0)

/* Runs the loop for ms milliseconds. */
static void run_for(uv_loop_t *loop, int ms)
{
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + (uint64_t)ms;
    while (uv_now(loop) < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        uv_sleep(1);
        uv_update_time(loop);
    }
}

static int closed;
static void on_closed(void *ud)
{
    (void)ud;
    closed = 1;
}

static void close_all(uv_loop_t *loop, rd_client *c)
{
    closed = 0;
    rd_client_close(c, on_closed, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(loop), 0);
}

static rd_client *new_client(uv_loop_t *loop, seen *s)
{
    rd_callbacks cbs = {
        .on_message = on_message, .on_subscribed = on_subscribed, .on_state = on_state, .ud = s};
    rd_client *c = NULL;
    assert_int_equal(rd_client_new(loop, test_env_or_skip("CHATD_TEST_REDIS_URL"), &cbs, &c), 0);
    RUN_UNTIL(loop, rd_ready(c));
    return c;
}

static void test_url_parse(void **state)
{
    (void)state;
    rd_url u;
    assert_int_equal(rd_url_parse("redis://127.0.0.1:6380", &u), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");
    assert_int_equal(rd_url_parse("redis://:s3cret@cache.local/2", &u), 0);
    assert_string_equal(u.host, "cache.local");
    assert_int_equal(u.port, 6379);
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.user, "");
    assert_int_equal(u.db, 2);
    assert_int_equal(rd_url_parse("redis://app:pw@10.0.0.1:7000/0", &u), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.port, 7000);
    assert_int_equal(rd_url_parse("redis://[::1]:6390", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(rd_url_parse("localhost:6379", &u), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(rd_url_parse("redis://host:0", &u), CD_EBAD);
    assert_int_equal(rd_url_parse("redis://host:65536", &u), CD_EBAD);
    assert_int_equal(rd_url_parse("redis://host:12x", &u), CD_EBAD);
    assert_int_equal(rd_url_parse("redis://:6379", &u), CD_EBAD);
    assert_int_equal(rd_url_parse("rediss://host", &u), CD_EBAD);
    assert_int_equal(rd_url_parse("redis://host/x", &u), CD_EBAD);
    assert_int_equal(rd_url_parse("", &u), CD_EBAD);
    assert_int_equal(rd_url_parse(NULL, &u), CD_EBAD);
}

static void test_pubsub_roundtrip(void **state)
{
    (void)state;
    (void)test_env_or_skip("CHATD_TEST_REDIS_URL");
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    rd_client *c = new_client(&loop, &s);
    assert_int_equal(s.ups, 1);
    assert_int_equal(rd_subscribe(c, "chat:1"), 0);
    assert_int_equal(rd_subscribe(c, "chat:1"), 0); /* idempotent */
    assert_true(rd_is_wanted(c, "chat:1"));
    RUN_UNTIL(&loop, s.subscribed == 1);

    /* binary payload with a NUL byte in it */
    const char payload[] = {'{', 0, 'x', '}'};
    pubres p = {0};
    assert_int_equal(rd_publish(c, "chat:1", payload, sizeof payload, on_pub, &p), 0);
    RUN_UNTIL(&loop, s.messages == 1 && p.done == 1);
    assert_int_equal(p.status, 0);
    assert_int_equal(p.receivers, 1);
    assert_string_equal(s.last_channel, "chat:1");
    assert_int_equal(s.last_len, sizeof payload);
    assert_memory_equal(s.last_data, payload, sizeof payload);

    /* nobody listens on another channel */
    pubres q = {0};
    assert_int_equal(rd_publish(c, "chat:2", "x", 1, on_pub, &q), 0);
    RUN_UNTIL(&loop, q.done == 1);
    assert_int_equal(q.receivers, 0);
    assert_int_equal(s.messages, 1);

    rd_stats st;
    rd_stats_get(c, &st);
    assert_true(st.pub_connected && st.sub_connected);
    assert_int_equal(st.channels, 1);
    assert_int_equal(st.subscribed, 1);
    assert_int_equal(st.published, 2);
    assert_int_equal(st.messages, 1);
    close_all(&loop, c);
}

/* A PUBLISH larger than the socket takes at once: the adapter writes what
 * hiredis queued before the loop blocks, and when the socket is full it
 * waits for writability (src/store/redis.c, rd_ev_add_write) — the message
 * arrives whole, and a small publish queued behind it arrives after it. */
/* above loopback's send buffer, below Redis's pub/sub output hard limit */
#define BIG_PUBLISH_BYTES (12u << 20)
static void test_publish_larger_than_the_socket(void **state)
{
    (void)state;
    (void)test_env_or_skip("CHATD_TEST_REDIS_URL");
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    rd_client *c = new_client(&loop, &s);
    assert_int_equal(rd_subscribe(c, "big:1"), 0);
    RUN_UNTIL(&loop, s.subscribed == 1);
    char *big = malloc(BIG_PUBLISH_BYTES);
    assert_non_null(big);
    for (size_t i = 0; i < BIG_PUBLISH_BYTES; i++)
        big[i] = (char)('a' + i % 26);
    uint32_t want = sum_bytes(big, BIG_PUBLISH_BYTES);
    pubres p = {0}, q = {0};
    assert_int_equal(rd_publish(c, "big:1", big, BIG_PUBLISH_BYTES, on_pub, &p), 0);
    assert_int_equal(rd_publish(c, "big:1", "after", 5, on_pub, &q), 0);
    free(big);
    RUN_UNTIL(&loop, s.messages == 2 && p.done == 1 && q.done == 1);
    assert_int_equal(s.first_len, BIG_PUBLISH_BYTES);
    assert_int_equal(s.first_sum, want);
    assert_int_equal(p.status, 0);
    assert_int_equal(q.status, 0);
    assert_int_equal(s.full_len, 5);
    assert_memory_equal(s.last_data, "after", 5);
    close_all(&loop, c);
}

static void test_unsubscribe(void **state)
{
    (void)state;
    (void)test_env_or_skip("CHATD_TEST_REDIS_URL");
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    rd_client *c = new_client(&loop, &s);
    assert_int_equal(rd_subscribe(c, "room:a"), 0);
    RUN_UNTIL(&loop, s.subscribed == 1);

    /* publish, then unsubscribe before the message can arrive: it must not
     * be delivered after rd_unsubscribe returned */
    pubres p = {0};
    assert_int_equal(rd_publish(c, "room:a", "late", 4, on_pub, &p), 0);
    assert_int_equal(rd_unsubscribe(c, "room:a"), 0);
    assert_false(rd_is_wanted(c, "room:a"));
    RUN_UNTIL(&loop, p.done == 1);
    /* PUBLISH (command connection) and UNSUBSCRIBE (subscriber connection)
     * travel on two sockets: the server may take either first, so it counted
     * 0 or 1 receivers — what matters is that nothing is delivered below */
    assert_true(p.receivers == 0 || p.receivers == 1);
    run_for(&loop, 100);
    assert_int_equal(s.messages, 0);
    assert_int_equal(rd_unsubscribe(c, "room:a"), CD_ENOENT);

    /* the server dropped the subscription */
    pubres q = {0};
    assert_int_equal(rd_publish(c, "room:a", "x", 1, on_pub, &q), 0);
    RUN_UNTIL(&loop, q.done == 1);
    assert_int_equal(q.receivers, 0);

    /* unsubscribe + subscribe in the same tick ends subscribed */
    assert_int_equal(rd_subscribe(c, "room:b"), 0);
    RUN_UNTIL(&loop, s.subscribed == 2);
    assert_int_equal(rd_unsubscribe(c, "room:b"), 0);
    assert_int_equal(rd_subscribe(c, "room:b"), 0);
    RUN_UNTIL(&loop, s.subscribed >= 3);
    run_for(&loop, 50);
    rd_stats st;
    rd_stats_get(c, &st);
    assert_int_equal(st.subscribed, 1);
    pubres r = {0};
    assert_int_equal(rd_publish(c, "room:b", "again", 5, on_pub, &r), 0);
    RUN_UNTIL(&loop, r.done == 1 && s.messages == 1);
    assert_int_equal(r.receivers, 1);
    assert_string_equal(s.last_channel, "room:b");
    close_all(&loop, c);
}

static void test_redis_restart(void **state)
{
    (void)state;
    (void)test_env_or_skip("CHATD_TEST_REDIS_URL");
    priv_port = free_port();
    priv_redis_start();
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", priv_port);
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    rd_callbacks cbs = {
        .on_message = on_message, .on_subscribed = on_subscribed, .on_state = on_state, .ud = &s};
    rd_client *c = NULL;
    assert_int_equal(rd_client_new(&loop, url, &cbs, &c), 0);
    RUN_UNTIL(&loop, rd_ready(c));
    assert_int_equal(rd_subscribe(c, "chat:r1"), 0);
    assert_int_equal(rd_subscribe(c, "user:r2"), 0);
    RUN_UNTIL(&loop, s.subscribed == 2);

    /* graceful shutdown, then down for a while */
    priv_redis_stop(SIGTERM);
    RUN_UNTIL(&loop, s.downs == 1);
    rd_stats st;
    RUN_UNTIL(&loop, (rd_stats_get(c, &st), !st.pub_connected));
    assert_false(rd_ready(c));
    assert_int_equal(st.subscribed, 0);
    assert_int_equal(st.channels, 2);
    /* publishing while the broker is down fails at once */
    pubres dead = {0};
    assert_int_equal(rd_publish(c, "chat:r1", "x", 1, on_pub, &dead), CD_EUNAVAIL);
    /* stay down across several refused reconnect attempts */
    run_for(&loop, 300);
    assert_int_equal(s.subscribed, 2);
    rd_stats_get(c, &st);
    assert_true(st.reconnects >= 4);

    priv_redis_start();
    RUN_UNTIL(&loop, rd_ready(c) && s.subscribed == 4);
    assert_int_equal(s.ups, 2);
    rd_stats_get(c, &st);
    assert_int_equal(st.subscribed, 2);

    pubres p = {0};
    assert_int_equal(rd_publish(c, "user:r2", "after", 5, on_pub, &p), 0);
    RUN_UNTIL(&loop, p.done == 1 && s.messages == 1);
    assert_int_equal(p.status, 0);
    assert_int_equal(p.receivers, 1);
    assert_string_equal(s.last_channel, "user:r2");
    assert_memory_equal(s.last_data, "after", 5);

    /* a crash (SIGKILL) and an immediate restart */
    priv_redis_stop(SIGKILL);
    priv_redis_start();
    RUN_UNTIL(&loop, s.subscribed == 6 && rd_ready(c));
    assert_int_equal(s.downs, 2);
    pubres p2 = {0};
    assert_int_equal(rd_publish(c, "chat:r1", "again", 5, on_pub, &p2), 0);
    RUN_UNTIL(&loop, p2.done == 1 && s.messages == 2);
    assert_int_equal(p2.receivers, 1);
    assert_string_equal(s.last_channel, "chat:r1");
    close_all(&loop, c);
    priv_redis_stop(SIGTERM);
}

typedef struct cmdres {
    int done;
    int status;
    int type;
    long long integer;
    char str[128];
} cmdres;

static void on_cmd(void *ud, int status, const struct redisReply *reply)
{
    cmdres *r = ud;
    r->done++;
    r->status = status;
    r->type = reply ? reply->type : -1;
    if (reply && reply->type == REDIS_REPLY_INTEGER) r->integer = reply->integer;
    if (reply && reply->str) snprintf(r->str, sizeof r->str, "%.*s", (int)reply->len, reply->str);
}

static void test_generic_commands(void **state)
{
    (void)state;
    (void)test_env_or_skip("CHATD_TEST_REDIS_URL");
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    rd_client *c = new_client(&loop, &s);
    char key[64];
    snprintf(key, sizeof key, "presence:test:%d", (int)getpid());
    const char *set[] = {"SET", key, "online", "EX", "30"};
    cmdres a = {0}, b = {0}, t = {0}, e = {0}, v = {0};
    assert_int_equal(rd_command(c, 5, set, NULL, on_cmd, &a), 0);
    const char *get[] = {"GET", key};
    assert_int_equal(rd_command(c, 2, get, NULL, on_cmd, &b), 0);
    const char *ttl[] = {"TTL", key};
    assert_int_equal(rd_command(c, 2, ttl, NULL, on_cmd, &t), 0);
    /* an error reply: INCR on a non-integer */
    const char *incr[] = {"INCR", key};
    assert_int_equal(rd_command(c, 2, incr, NULL, on_cmd, &e), 0);
    /* binary-safe arguments with explicit lengths, through EVAL */
    const char *ev[] = {"EVAL", "return string.len(ARGV[1])", "0", "a\0b"};
    size_t evl[] = {4, 26, 1, 3};
    assert_int_equal(rd_command(c, 4, ev, evl, on_cmd, &v), 0);
    RUN_UNTIL(&loop, v.done == 1);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.str, "OK");
    assert_int_equal(b.status, 0);
    assert_int_equal(b.type, REDIS_REPLY_STRING);
    assert_string_equal(b.str, "online");
    assert_int_equal(t.status, 0);
    assert_true(t.integer > 0 && t.integer <= 30);
    assert_int_equal(e.status, CD_EIO);
    assert_int_equal(e.type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(e.str, "not an integer"));
    assert_int_equal(v.status, 0);
    assert_int_equal(v.integer, 3);

    /* commands that would take the connection over are refused */
    const char *sub[] = {"subscribe", "x"};
    assert_int_equal(rd_command(c, 2, sub, NULL, on_cmd, &a), CD_EBAD);
    const char *mon[] = {"MONITOR"};
    assert_int_equal(rd_command(c, 1, mon, NULL, on_cmd, &a), CD_EBAD);
    assert_int_equal(rd_command(c, 0, mon, NULL, on_cmd, &a), CD_EBAD);

    const char *del[] = {"DEL", key};
    cmdres d = {0};
    assert_int_equal(rd_command(c, 2, del, NULL, on_cmd, &d), 0);
    RUN_UNTIL(&loop, d.done == 1);
    assert_int_equal(d.integer, 1);
    close_all(&loop, c);
}

static void test_close_with_inflight_publish(void **state)
{
    (void)state;
    (void)test_env_or_skip("CHATD_TEST_REDIS_URL");
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    rd_client *c = new_client(&loop, &s);
    pubres p[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(rd_publish(c, "chat:z", "x", 1, on_pub, &p[i]), 0);
    closed = 0;
    rd_client_close(c, on_closed, NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(p[i].done, 1);
        assert_int_equal(p[i].status, CD_ECLOSED);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_limits_while_unreachable(void **state)
{
    (void)state;
    (void)test_env_or_skip("CHATD_TEST_REDIS_URL");
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen s = {0};
    rd_callbacks cbs = {.on_message = on_message, .on_subscribed = on_subscribed, .ud = &s};
    rd_client *c = NULL;
    /* port 1: nothing listens; connects are refused and retried */
    assert_int_equal(rd_client_new(&loop, "redis://127.0.0.1:1", &cbs, &c), 0);
    run_for(&loop, 400);
    assert_false(rd_ready(c));
    rd_stats st;
    rd_stats_get(c, &st);
    assert_true(st.reconnects >= 4); /* refused quickly, retried with backoff */
    assert_int_equal(rd_publish(c, "a", "x", 1, NULL, NULL), CD_EUNAVAIL);
    const char *get[] = {"GET", "k"};
    assert_int_equal(rd_command(c, 2, get, NULL, NULL, NULL), CD_EUNAVAIL);

    char name[RD_MAX_CHANNEL_LEN + 2];
    memset(name, 'c', sizeof name);
    name[RD_MAX_CHANNEL_LEN] = '\0';
    assert_int_equal(rd_subscribe(c, name), 0);
    name[RD_MAX_CHANNEL_LEN] = 'c';
    name[RD_MAX_CHANNEL_LEN + 1] = '\0';
    assert_int_equal(rd_subscribe(c, name), CD_EBAD);
    assert_int_equal(rd_subscribe(c, ""), CD_EBAD);

    /* the wanted set holds RD_MAX_CHANNELS, not one more */
    char ch[32];
    for (int i = 1; i < RD_MAX_CHANNELS; i++) {
        snprintf(ch, sizeof ch, "chat:%d", i);
        assert_int_equal(rd_subscribe(c, ch), 0);
    }
    rd_stats_get(c, &st);
    assert_int_equal(st.channels, RD_MAX_CHANNELS);
    assert_int_equal(rd_subscribe(c, "one-more"), CD_ELIMIT);
    assert_int_equal(rd_unsubscribe(c, "chat:7"), 0);
    assert_false(rd_is_wanted(c, "chat:7"));
    assert_true(rd_is_wanted(c, "chat:8"));
    assert_int_equal(rd_subscribe(c, "one-more"), 0);
    close_all(&loop, c);

    uv_loop_init(&loop);
    assert_int_equal(rd_client_new(&loop, "redis://:bad", &cbs, &c), CD_EBAD);
    rd_callbacks none = {0};
    assert_int_equal(rd_client_new(&loop, "redis://127.0.0.1:1", &none, &c), CD_EBAD);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Allocation failure at each step: calls fail with CD_ENOMEM or work, nothing
 * leaks, and the client works once memory is back. */
static void test_alloc_failures(void **state)
{
    (void)state;
    (void)test_env_or_skip("CHATD_TEST_REDIS_URL");
    for (long n = 1; n <= 8; n++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        seen s = {0};
        rd_callbacks cbs = {.on_message = on_message, .on_subscribed = on_subscribed, .ud = &s};
        cd_alloc_fail_after(n);
        rd_client *c = NULL;
        int rc = rd_client_new(&loop, test_env_or_skip("CHATD_TEST_REDIS_URL"), &cbs, &c);
        if (rc != 0) {
            cd_alloc_fail_after(0);
            assert_int_equal(rc, CD_ENOMEM);
            uv_run(&loop, UV_RUN_DEFAULT);
            assert_int_equal(uv_loop_close(&loop), 0);
            continue;
        }
        int rs = rd_subscribe(c, "af:1");
        assert_true(rs == 0 || rs == CD_ENOMEM);
        run_for(&loop, 30);
        cd_alloc_fail_after(0);
        RUN_UNTIL(&loop, rd_ready(c));
        assert_int_equal(rd_subscribe(c, "af:1"), 0);
        RUN_UNTIL(&loop, s.subscribed >= 1);
        pubres p = {0};
        assert_int_equal(rd_publish(c, "af:1", "m", 1, on_pub, &p), 0);
        RUN_UNTIL(&loop, p.done == 1 && s.messages == 1);
        close_all(&loop, c);
    }
}

/* ---- channel router (no server needed) ---- */

typedef struct route_log {
    char last[64]; /* "<route>:<channel>" of the last message / subscribed */
    int states[4]; /* on_state calls per route ud index */
    bool last_up;
} route_log;

static route_log rlog;

static void rt_msg(void *ud, const char *ch, size_t chlen, const char *data, size_t len)
{
    snprintf(rlog.last, sizeof rlog.last, "%s:%.*s=%.*s", (const char *)ud, (int)chlen, ch,
             (int)len, data);
}

static void rt_sub(void *ud, const char *ch, size_t chlen)
{
    snprintf(rlog.last, sizeof rlog.last, "%s:sub:%.*s", (const char *)ud, (int)chlen, ch);
}

static void rt_state(void *ud, bool up)
{
    const char *name = ud;
    rlog.states[name[0] - 'a']++;
    rlog.last_up = up;
}

static void test_router_match(void **state)
{
    (void)state;
    rd_router r = {0};
    memset(&rlog, 0, sizeof rlog);
    /* added shortest-last and longest-first: the result must not depend on it */
    assert_int_equal(rd_route_add(&r, "chatd:control", rt_msg, NULL, NULL, "b"), 0);
    assert_int_equal(rd_route_add(&r, "chat:", rt_msg, rt_sub, NULL, "a"), 0);
    assert_int_equal(rd_route_add(&r, "chat:x:", rt_msg, NULL, NULL, "c"), 0);
    assert_int_equal(rd_route_add(&r, "chat:", rt_msg, NULL, NULL, "d"), CD_EEXIST);
    assert_int_equal(rd_route_add(&r, "user:", NULL, NULL, NULL, "d"), CD_EBAD);
    assert_int_equal(rd_route_add(&r, NULL, rt_msg, NULL, NULL, "d"), CD_EBAD);

    rd_callbacks cbs = rd_router_callbacks(&r);
    assert_ptr_equal(cbs.ud, &r);
    cbs.on_message(cbs.ud, "chat:1", 6, "m", 1);
    assert_string_equal(rlog.last, "a:chat:1=m");
    cbs.on_message(cbs.ud, "chatd:control", 13, "k", 1);
    assert_string_equal(rlog.last, "b:chatd:control=k");
    cbs.on_message(cbs.ud, "chat:x:eph", 10, "t", 1);
    assert_string_equal(rlog.last, "c:chat:x:eph=t"); /* longest prefix wins */
    /* a prefix longer than the channel never matches; no route: dropped */
    rlog.last[0] = 0;
    cbs.on_message(cbs.ud, "chat", 4, "z", 1);
    cbs.on_message(cbs.ud, "user:1", 6, "z", 1);
    assert_string_equal(rlog.last, "");
    assert_null(rd_route_match(&r, "presence", 8));
    /* channel bytes past chlen are not read */
    cbs.on_message(cbs.ud, "chat:1", 4, "y", 1);
    assert_string_equal(rlog.last, "");
    cbs.on_subscribed(cbs.ud, "chat:2", 6);
    assert_string_equal(rlog.last, "a:sub:chat:2");
    rlog.last[0] = 0;
    cbs.on_subscribed(cbs.ud, "chatd:control", 13); /* route without on_subscribed */
    assert_string_equal(rlog.last, "");

    /* "" is a fallback, below every longer prefix */
    assert_int_equal(rd_route_add(&r, "", rt_msg, NULL, NULL, "d"), 0);
    cbs.on_message(cbs.ud, "user:1", 6, "f", 1);
    assert_string_equal(rlog.last, "d:user:1=f");
    cbs.on_message(cbs.ud, "chat:1", 6, "g", 1);
    assert_string_equal(rlog.last, "a:chat:1=g");
}

static void test_router_state_to_all(void **state)
{
    (void)state;
    rd_router r = {0};
    memset(&rlog, 0, sizeof rlog);
    assert_int_equal(rd_route_add(&r, "chat:", rt_msg, NULL, rt_state, "a"), 0);
    assert_int_equal(rd_route_add(&r, "user:", rt_msg, NULL, rt_state, "a"), 0); /* same pair */
    assert_int_equal(rd_route_add(&r, "presence", rt_msg, NULL, NULL, "c"), 0);
    assert_int_equal(rd_route_add(&r, "chatd:control", rt_msg, NULL, rt_state, "b"), 0);
    rd_router_state(&r, true);
    assert_int_equal(rlog.states[0], 1); /* one call per distinct (on_state, ud) */
    assert_int_equal(rlog.states[1], 1);
    assert_int_equal(rlog.states[2], 0);
    assert_true(rlog.last_up);
    rd_router_state(&r, false);
    assert_int_equal(rlog.states[0], 2);
    assert_int_equal(rlog.states[1], 2);
    assert_false(rlog.last_up);
    rd_router empty = {0};
    rd_router_state(&empty, true); /* no route: nothing to call */
    rd_router_message(&empty, "chat:1", 6, "x", 1);
}

static void test_router_limits(void **state)
{
    (void)state;
    rd_router r = {0};
    char p[RD_ROUTE_PREFIX_MAX + 1];
    memset(p, 'p', sizeof p);
    p[RD_ROUTE_PREFIX_MAX] = 0;
    assert_int_equal(rd_route_add(&r, p, rt_msg, NULL, NULL, "a"), CD_EBAD); /* NUL does not fit */
    p[RD_ROUTE_PREFIX_MAX - 1] = 0;
    assert_int_equal(rd_route_add(&r, p, rt_msg, NULL, NULL, "a"), 0); /* longest that fits */
    assert_non_null(rd_route_match(&r, p, RD_ROUTE_PREFIX_MAX - 1));
    rd_router full = {0};
    for (int i = 0; i < RD_MAX_ROUTES; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%d:", i);
        assert_int_equal(rd_route_add(&full, name, rt_msg, NULL, NULL, "a"), 0);
    }
    assert_int_equal(rd_route_add(&full, "one-more:", rt_msg, NULL, NULL, "a"), CD_ELIMIT);
    assert_int_equal(rd_route_add(&full, "r0:", rt_msg, NULL, NULL, "a"), CD_EEXIST);
    char last[16];
    snprintf(last, sizeof last, "r%d:x", RD_MAX_ROUTES - 1);
    const rd_route *rt = rd_route_match(&full, last, strlen(last));
    assert_non_null(rt);
    assert_int_equal(rt->len, strlen(last) - 1);
}
/* ---- a publish leaves in the loop turn that queued it ---- */

typedef struct relay {
    rd_client *c;
    int relayed;
    int subscribed;
} relay;

static void relay_message(void *ud, const char *ch, size_t chlen, const char *data, size_t len)
{
    (void)data;
    (void)len;
    relay *r = ud;
    if (chlen == 6 && memcmp(ch, "lat:in", 6) == 0) {
        assert_int_equal(rd_publish(r->c, "lat:out", "r", 1, NULL, NULL), 0);
        r->relayed++;
    }
}

static void relay_subscribed(void *ud, const char *ch, size_t chlen)
{
    (void)ch;
    (void)chlen;
    relay *r = ud;
    r->subscribed++;
}

static redisContext *side_redis(const rd_url *u)
{
    struct timeval tv = {2, 0};
    redisContext *x = redisConnectWithTimeout(u->host, u->port, tv);
    assert_non_null(x);
    assert_int_equal(x->err, 0);
    assert_int_equal(redisSetTimeout(x, tv), REDIS_OK);
    return x;
}

/* A PUBLISH queued by an I/O callback (here: on a message from the broker,
 * as the sender's are on a commit's result) is written in that same loop
 * turn (its check phase), not left for the next turn's poll: after the one
 * uv_run(UV_RUN_ONCE) turn that queued it, with the loop not run again, a
 * blocking subscriber on the side receives it. */
static void test_publish_leaves_in_its_turn(void **state)
{
    (void)state;
    const char *url = test_env_or_skip("CHATD_TEST_REDIS_URL");
    rd_url u;
    assert_int_equal(rd_url_parse(url, &u), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    relay r = {0};
    rd_callbacks cbs = {.on_message = relay_message, .on_subscribed = relay_subscribed, .ud = &r};
    rd_client *c = NULL;
    assert_int_equal(rd_client_new(&loop, url, &cbs, &c), 0);
    r.c = c;
    RUN_UNTIL(&loop, rd_ready(c));
    assert_int_equal(rd_subscribe(c, "lat:in"), 0);
    RUN_UNTIL(&loop, r.subscribed == 1);

    redisContext *x = side_redis(&u);
    redisReply *rep = redisCommand(x, "SUBSCRIBE lat:out");
    assert_non_null(rep);
    freeReplyObject(rep);
    redisContext *y = side_redis(&u);
    rep = redisCommand(y, "PUBLISH lat:in go");
    assert_non_null(rep);
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);

    RUN_UNTIL(&loop, r.relayed == 1);
    /* the loop is not run again: the relay's PUBLISH is on the wire */
    void *got = NULL;
    assert_int_equal(redisGetReply(x, &got), REDIS_OK);
    rep = got;
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 3);
    assert_string_equal(rep->element[1]->str, "lat:out");
    assert_string_equal(rep->element[2]->str, "r");
    freeReplyObject(rep);
    redisFree(x);
    redisFree(y);
    close_all(&loop, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_router_match),
        cmocka_unit_test(test_router_state_to_all),
        cmocka_unit_test(test_router_limits),
        cmocka_unit_test(test_pubsub_roundtrip),
        cmocka_unit_test(test_publish_leaves_in_its_turn),
        cmocka_unit_test(test_publish_larger_than_the_socket),
        cmocka_unit_test(test_unsubscribe),
        cmocka_unit_test(test_redis_restart),
        cmocka_unit_test(test_generic_commands),
        cmocka_unit_test(test_close_with_inflight_publish),
        cmocka_unit_test(test_limits_while_unreachable),
        cmocka_unit_test(test_alloc_failures),
    };
    return test_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}
