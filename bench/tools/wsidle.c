/*
 * wsidle.c — measures the server-side memory of idle WebSocket connections
 * and the time to fan one frame out to all of them.
 *
 *   wsidle [-n CONNS] [-m MSGS]
 *
 * Forks a server process (http_server + ws_accept, echo/broadcast handler,
 * the same src/net code chatd uses), then from this process opens CONNS
 * WebSocket connections with plain blocking sockets, lets them sit idle and
 * reads the server's VmRSS from /proc/<pid>/status before and after. With
 * -m, each of MSGS rounds asks the server to broadcast one shared frame to
 * every connection and reports the time until the last client received it.
 * Build Release for meaningful numbers (ASan inflates memory).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "net/http.h"
#include "net/net_internal.h"
#include "net/ws.h"

/* ---- server process ---- */

static ws_conn **s_conns;
static size_t s_nconns, s_cap;
static uv_signal_t s_sig;
static http_server *s_srv;

static void srv_on_message(ws_conn *c, bool is_text, const char *data, size_t len)
{
    (void)c;
    if (is_text && len == 9 && memcmp(data, "broadcast", 9) == 0) {
        uint64_t t0 = uv_hrtime();
        ws_frame_shared *f = ws_frame_new_text("{\"type\":\"next\",\"payload\":{}}", 29);
        size_t sent = 0;
        for (size_t i = 0; i < s_nconns; i++)
            if (s_conns[i] && ws_send_frame(s_conns[i], f) == 0) sent++;
        ws_frame_release(f);
        fprintf(stderr, "server: frame queued to %zu sockets in %.2f ms\n", sent,
                (double)(uv_hrtime() - t0) / 1e6);
    }
}

static void srv_on_close(ws_conn *c, int code, const char *reason, size_t len)
{
    (void)code;
    (void)reason;
    (void)len;
    size_t i = (size_t)(uintptr_t)ws_conn_user(c);
    if (i < s_nconns && s_conns[i] == c) s_conns[i] = NULL;
}

static const ws_callbacks srv_cbs = {srv_on_message, srv_on_close, NULL};

static void srv_handler(http_request *req, void *user)
{
    (void)user;
    if (s_nconns == s_cap) {
        s_cap = s_cap ? s_cap * 2 : 1024;
        s_conns = realloc(s_conns, s_cap * sizeof *s_conns);
    }
    ws_conn *c;
    if (ws_accept(req, NULL, &srv_cbs, (void *)(uintptr_t)s_nconns, &c) == 0)
        s_conns[s_nconns++] = c;
}

static void srv_drained(http_server *srv, void *arg)
{
    (void)srv;
    (void)arg;
    uv_close((uv_handle_t *)&s_sig, NULL);
}

static void srv_on_signal(uv_signal_t *s, int sig)
{
    (void)s;
    (void)sig;
    http_server_drain(s_srv, 2000, srv_drained, NULL);
}

static int run_server(int port_pipe)
{
    uv_loop_t *loop = uv_default_loop();
    http_server_opts o = {
        .host = "127.0.0.1", .port = 0, .on_request = srv_handler, .backlog = 4096};
    char err[256];
    if (http_server_start(loop, &o, &s_srv, err, sizeof err) != 0) {
        fprintf(stderr, "server: %s\n", err);
        return 1;
    }
    int port = http_server_port(s_srv);
    if (write(port_pipe, &port, sizeof port) != sizeof port) return 1;
    close(port_pipe);
    uv_signal_init(loop, &s_sig);
    uv_signal_start(&s_sig, srv_on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    free(s_conns);
    return uv_loop_close(loop) == 0 ? 0 : 2;
}

/* ---- client (this process) ---- */

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static int ws_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    static const char req[] =
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n";
    if (send(fd, req, sizeof req - 1, 0) != (ssize_t)(sizeof req - 1)) goto fail;
    char buf[512];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = recv(fd, buf + n, 1, 0);
        if (r <= 0) goto fail;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) break;
    }
    buf[n] = 0;
    if (strncmp(buf, "HTTP/1.1 101", 12) != 0) goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    int n = 10000, msgs = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-m") == 0)
            msgs = atoi(argv[i + 1]);
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)n + 64 > rl.rlim_cur) {
        fprintf(stderr, "open-file limit %ld too low for %d connections\n", (long)rl.rlim_cur, n);
        return 1;
    }
    int pp[2];
    if (pipe(pp) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pp[0]);
        _exit(run_server(pp[1]));
    }
    close(pp[1]);
    int port = 0;
    if (read(pp[0], &port, sizeof port) != sizeof port) {
        fprintf(stderr, "server did not start\n");
        return 1;
    }
    close(pp[0]);
    /* warm up: one connection so the loop's one-time allocations are in the baseline */
    int warm = ws_connect(port);
    usleep(200000);
    long base = rss_kb(pid);
    int *fds = calloc((size_t)n, sizeof *fds);
    double t0 = now_ms();
    int ok = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = ws_connect(port);
        if (fds[i] >= 0) ok++;
    }
    double t_connect = now_ms() - t0;
    sleep(1);
    long after = rss_kb(pid);
    printf("sizeof(ws_conn)=%zu bytes, sizeof(http_conn)=%zu bytes\n", sizeof(net_conn),
           sizeof(http_conn));
    printf("%d/%d WebSocket handshakes in %.0f ms\n", ok, n, t_connect);
    printf("server RSS: %ld kB before, %ld kB with %d idle connections: %.0f bytes/connection\n",
           base, after, ok, ok ? (double)(after - base) * 1024.0 / ok : 0.0);
    /* fan-out: the warm connection asks for a broadcast; wait until all got it */
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0) continue;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    struct epoll_event *evs = calloc(1024, sizeof *evs);
    char *got = calloc((size_t)n, 1);
    for (int m = 0; m < msgs; m++) {
        memset(got, 0, (size_t)n);
        uint8_t frame[] = {0x81, 0x89, 0, 0, 0, 0, 'b', 'r', 'o', 'a', 'd', 'c', 'a', 's', 't'};
        double s0 = now_ms();
        if (send(warm, frame, sizeof frame, 0) != (ssize_t)sizeof frame) break;
        int left = ok;
        while (left > 0) {
            int k = epoll_wait(ep, evs, 1024, 5000);
            if (k <= 0) break;
            for (int j = 0; j < k; j++) {
                int i = (int)evs[j].data.u32;
                char buf[256];
                ssize_t r = recv(fds[i], buf, sizeof buf, 0);
                if (r > 0 && !got[i]) {
                    got[i] = 1;
                    left--;
                }
            }
        }
        printf("broadcast %d: one frame to %d sockets received by all in %.1f ms (%d missing)\n",
               m + 1, ok, now_ms() - s0, left);
        char drain[256];
        while (recv(warm, drain, sizeof drain, MSG_DONTWAIT) > 0) {
        }
    }
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
    close(warm);
    usleep(300000);
    printf("server RSS after all closed: %ld kB\n", rss_kb(pid));
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("server exit status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    free(fds);
    free(evs);
    free(got);
    close(ep);
    return 0;
}
