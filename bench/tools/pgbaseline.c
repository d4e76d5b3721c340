/*
 * pgbaseline.c — the raw PostgreSQL ceiling for createMessage (bench/run).
 *
 *   pgbaseline --db CONNINFO --chats FILE --clients C --duration S
 *              [--mode chatd|insert] [--rate R]
 *
 * Forks C client processes, each with one blocking libpq connection, that
 * for S seconds issue back to back, in autocommit (one transaction each,
 * default durability of the server):
 *   chatd:  exactly chatd's per-message transaction — the sender's prepared
 *           statement `SELECT ... FROM chatd_create_message_reply(chat, sender,
 *           'text', content, NULL, NULL, NULL)` (db/migrations/0011_write_path.sql,
 *           src/chat/sender.c), chats round robin from FILE ("chatId userId"
 *           per line), client i starting at chat i;
 *   insert: a single-row INSERT into a plain (WAL-logged) scratch table
 *           (bench_insert, created if missing) — Postgres' bare INSERT+COMMIT.
 * Flat out by default; with --rate R the clients together start R
 * transactions per second (client i every C/R s, phase-shifted; a client
 * that falls behind starts the next one at once). Each transaction's
 * latency (start of the call → its result, i.e. through COMMIT) goes into a
 * log-linear histogram (< 1% error) kept in shared memory per client.
 * Prints one JSON line: {"mode","clients","rate","secs","ok","err","tps",
 * "lat_us":{"0.5","0.9","0.99","0.999","max"},"hist_us":[[us,count],...]}.
 * No sockets other than libpq's; the tool exits by itself after S seconds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define PB_MAX_CLIENTS 256
#define PB_MAX_CHATS 100000
#define PB_HIST_SUB 128 /* sub-buckets per power of two: < 1% error */
#define PB_HIST_BUCKETS (PB_HIST_SUB * 40)
#define PB_MAX_RATE 1000000

/* ---- latency histogram (the same log-linear layout as loadgen's) ---- */

typedef struct pb_hist {
    uint64_t n[PB_HIST_BUCKETS];
    uint64_t max;
} pb_hist;

static size_t hist_index(uint64_t v)
{
    if (v < PB_HIST_SUB) return (size_t)v;
    int e = 63 - __builtin_clzll(v) - 6;
    size_t i = PB_HIST_SUB + (size_t)(e - 1) * (PB_HIST_SUB / 2) + (size_t)((v >> e) - 64);
    return i < PB_HIST_BUCKETS ? i : PB_HIST_BUCKETS - 1;
}

static uint64_t hist_value(size_t i)
{
    if (i < PB_HIST_SUB) return i;
    size_t k = i - PB_HIST_SUB;
    int e = (int)(k / (PB_HIST_SUB / 2)) + 1;
    return ((uint64_t)(k % (PB_HIST_SUB / 2)) + 64) << e;
}

static uint64_t hist_pct(const pb_hist *h, double q)
{
    uint64_t total = 0, acc = 0;
    for (size_t i = 0; i < PB_HIST_BUCKETS; i++)
        total += h->n[i];
    if (!total) return 0;
    for (size_t i = 0; i < PB_HIST_BUCKETS; i++) {
        acc += h->n[i];
        if ((double)acc >= q * (double)total) return hist_value(i);
    }
    return h->max;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct pb_result {
    uint64_t ok, err;
    double secs;
} pb_result;

static char (*chat_ids)[40], (*sender_ids)[40];
static size_t nchats;

static int child(const char *db, bool insert, int idx, int clients, double rate, double duration,
                 pb_hist *hist, int out_fd)
{
    PGconn *c = PQconnectdb(db);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pgbaseline: %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    const char *sql =
        insert ? "INSERT INTO bench_insert (chat_id, content) VALUES ($1::uuid, $2)"
               : "SELECT o_ch, o_payload, o_chat::text, o_seq::text FROM "
                 "chatd_create_message_reply($1::uuid, $2::uuid, 'text', $3, NULL, NULL, NULL)";
    PGresult *r = PQprepare(c, "s", sql, insert ? 2 : 3, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "pgbaseline: prepare: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return 1;
    }
    PQclear(r);
    uint64_t ok = 0, err = 0;
    size_t k = (size_t)idx;
    double t0 = now_s(), t1 = t0;
    /* --rate: this client's share, phase-shifted so the clients interleave */
    double every = rate > 0 ? (double)clients / rate : 0, due = t0 + every * idx / clients;
    char content[32];
    while ((t1 = now_s()) - t0 < duration) {
        if (every > 0) {
            if (t1 < due) {
                double w = due - t1;
                struct timespec ts = {(time_t)w, (long)((w - (double)(time_t)w) * 1e9)};
                nanosleep(&ts, NULL);
                continue;
            }
            due += every;
        }
        size_t ci = k++ % nchats;
        snprintf(content, sizeof content, "%llu", (unsigned long long)(t1 * 1e9));
        const char *p3[3] = {chat_ids[ci], sender_ids[ci], content};
        const char *p2[2] = {chat_ids[ci], content};
        r = PQexecPrepared(c, "s", insert ? 2 : 3, insert ? p2 : p3, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);
        uint64_t us = (uint64_t)((now_s() - t1) * 1e6);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            ok++;
            hist->n[hist_index(us)]++;
            if (us > hist->max) hist->max = us;
        } else if (++err <= 3)
            fprintf(stderr, "pgbaseline: %s", PQerrorMessage(c));
        PQclear(r);
    }
    PQfinish(c);
    pb_result res = {ok, err, t1 - t0};
    /* one write < PIPE_BUF: atomic, results of children never interleave */
    return write(out_fd, &res, sizeof res) == sizeof res ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *chats = NULL;
    int clients = 1;
    double duration = 5, rate = 0;
    bool insert = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--db"))
            db = argv[i + 1];
        else if (!strcmp(argv[i], "--chats"))
            chats = argv[i + 1];
        else if (!strcmp(argv[i], "--clients"))
            clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration"))
            duration = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate"))
            rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--mode")) {
            if (strcmp(argv[i + 1], "insert") && strcmp(argv[i + 1], "chatd")) {
                fprintf(stderr, "pgbaseline: --mode is chatd or insert\n");
                return 2;
            }
            insert = !strcmp(argv[i + 1], "insert");
        } else {
            fprintf(stderr, "pgbaseline: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!db || !chats || clients < 1 || clients > PB_MAX_CLIENTS || duration <= 0 ||
        duration > 600 || rate < 0 || rate > PB_MAX_RATE) {
        fprintf(stderr, "usage: pgbaseline --db CONNINFO --chats FILE --clients C --duration S "
                        "[--mode chatd|insert] [--rate R]\n");
        return 2;
    }
    chat_ids = calloc(PB_MAX_CHATS, sizeof *chat_ids);
    sender_ids = calloc(PB_MAX_CHATS, sizeof *sender_ids);
    FILE *f = fopen(chats, "r");
    if (!f || !chat_ids || !sender_ids) {
        fprintf(stderr, "pgbaseline: cannot read %s\n", chats);
        return 2;
    }
    char line[256];
    while (nchats < PB_MAX_CHATS && fgets(line, sizeof line, f))
        if (sscanf(line, "%39s %39s", chat_ids[nchats], sender_ids[nchats]) == 2) nchats++;
    fclose(f);
    if (!nchats) return 2;
    if (insert) {
        PGconn *c = PQconnectdb(db);
        PGresult *r =
            PQexec(c, "CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, "
                      "chat_id uuid NOT NULL, content text NOT NULL, created_at "
                      "timestamptz NOT NULL DEFAULT now())");
        PQclear(r);
        PQfinish(c);
    }
    /* one histogram per client, shared with the children (anonymous, so
     * nothing outlives the run) */
    size_t hbytes = sizeof(pb_hist) * (size_t)clients;
    pb_hist *hists = mmap(NULL, hbytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (hists == MAP_FAILED) return 1;
    int fds[2];
    if (pipe(fds) != 0) return 1;
    for (int i = 0; i < clients; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            _exit(child(db, insert, i, clients, rate, duration, &hists[i], fds[1]));
        }
    }
    close(fds[1]);
    uint64_t ok = 0, err = 0;
    double secs = 0;
    for (int i = 0; i < clients; i++) {
        pb_result res;
        if (read(fds[0], &res, sizeof res) != sizeof res) break; /* a child failed */
        ok += res.ok;
        err += res.err;
        if (res.secs > secs) secs = res.secs;
    }
    while (wait(NULL) > 0) {
    }
    pb_hist *all = calloc(1, sizeof *all);
    if (!all) return 1;
    for (int i = 0; i < clients; i++) {
        for (size_t b = 0; b < PB_HIST_BUCKETS; b++)
            all->n[b] += hists[i].n[b];
        if (hists[i].max > all->max) all->max = hists[i].max;
    }
    printf("{\"mode\":\"%s\",\"clients\":%d,\"rate\":%.1f,\"secs\":%.3f,\"ok\":%llu,\"err\":%llu,"
           "\"tps\":%.1f,\"lat_us\":{\"0.5\":%llu,\"0.9\":%llu,\"0.99\":%llu,\"0.999\":%llu,"
           "\"max\":%llu},\"hist_us\":[",
           insert ? "insert" : "chatd", clients, rate, secs, (unsigned long long)ok,
           (unsigned long long)err, secs > 0 ? (double)ok / secs : 0.0,
           (unsigned long long)hist_pct(all, 0.5), (unsigned long long)hist_pct(all, 0.9),
           (unsigned long long)hist_pct(all, 0.99), (unsigned long long)hist_pct(all, 0.999),
           (unsigned long long)all->max);
    bool first = true;
    for (size_t b = 0; b < PB_HIST_BUCKETS; b++)
        if (all->n[b]) {
            printf("%s[%llu,%llu]", first ? "" : ",", (unsigned long long)hist_value(b),
                   (unsigned long long)all->n[b]);
            first = false;
        }
    printf("]}\n");
    free(all);
    munmap(hists, hbytes);
    free(chat_ids);
    free(sender_ids);
    return 0;
}
