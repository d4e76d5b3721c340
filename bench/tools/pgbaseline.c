/*
 * pgbaseline.c — the raw PostgreSQL ceiling for createMessage (bench/run).
 *
 *   pgbaseline --db CONNINFO --chats FILE --clients C --duration S
 *              [--mode chatd|insert]
 *
 * Forks C client processes, each with one blocking libpq connection, that
 * for S seconds issue back to back, in autocommit (one transaction each,
 * default durability of the server):
 *   chatd:  exactly chatd's per-message transaction — the sender's prepared
 *           statement `SELECT ... FROM chatd_create_message(chat, sender,
 *           'text', content, NULL, NULL)` (db/migrations/0003_chats.sql,
 *           src/chat/sender.c), chats round robin from FILE ("chatId userId"
 *           per line), client i starting at chat i;
 *   insert: a single-row INSERT into a plain (WAL-logged) scratch table
 *           (bench_insert, created if missing) — Postgres' bare INSERT+COMMIT.
 * Prints one JSON line: {"mode","clients","secs","ok","err","tps"}.
 * No sockets other than libpq's; the tool exits by itself after S seconds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define PB_MAX_CLIENTS 256
#define PB_MAX_CHATS 100000

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

static int child(const char *db, bool insert, int idx, double duration, int out_fd)
{
    PGconn *c = PQconnectdb(db);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pgbaseline: %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    const char *sql = insert ? "INSERT INTO bench_insert (chat_id, content) VALUES ($1::uuid, $2)"
                             : "SELECT o_ch, o_payload, o_chat::text, o_seq::text FROM "
                               "chatd_create_message($1::uuid, $2::uuid, 'text', $3, NULL, NULL)";
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
    char content[32];
    while ((t1 = now_s()) - t0 < duration) {
        size_t ci = k++ % nchats;
        snprintf(content, sizeof content, "%llu", (unsigned long long)(t1 * 1e9));
        const char *p3[3] = {chat_ids[ci], sender_ids[ci], content};
        const char *p2[2] = {chat_ids[ci], content};
        r = PQexecPrepared(c, "s", insert ? 2 : 3, insert ? p2 : p3, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            ok++;
        else if (++err <= 3)
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
    double duration = 5;
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
        else if (!strcmp(argv[i], "--mode"))
            insert = !strcmp(argv[i + 1], "insert");
        else {
            fprintf(stderr, "pgbaseline: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!db || !chats || clients < 1 || clients > PB_MAX_CLIENTS || duration <= 0 ||
        duration > 600) {
        fprintf(stderr, "usage: pgbaseline --db CONNINFO --chats FILE --clients C --duration S "
                        "[--mode chatd|insert]\n");
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
    int fds[2];
    if (pipe(fds) != 0) return 1;
    for (int i = 0; i < clients; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            _exit(child(db, insert, i, duration, fds[1]));
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
    printf("{\"mode\":\"%s\",\"clients\":%d,\"secs\":%.3f,\"ok\":%llu,\"err\":%llu,\"tps\":%.1f}\n",
           insert ? "insert" : "chatd", clients, secs, (unsigned long long)ok,
           (unsigned long long)err, secs > 0 ? (double)ok / secs : 0.0);
    free(chat_ids);
    free(sender_ids);
    return 0;
}
