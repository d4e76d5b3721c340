/*
 * migrate.c — applies db/migrations/NNNN_*.sql at start (see migrate.h).
 *
 * Blocking libpq on purpose: this runs before the event loop serves. The
 * session advisory lock serialises concurrent starters; the set of applied
 * versions is read only after the lock is held, so a process that waited
 * sees what the winner applied and skips it. Each file runs in its own
 * transaction with its schema_migrations row, so a crash mid-migration
 * leaves either both or neither.
 */
#include "store/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/arena.h"
#include "core/log.h"

static void mig_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mig_err(char **err, const char *fmt, ...)
{
    if (!err) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    *err = cd_malloc(n + 1);
    if (*err) memcpy(*err, buf, n + 1);
}

/* NNNN_name.sql: four or more digits, '_', [A-Za-z0-9_-]+, ".sql". */
static int mig_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 10 || strcmp(name + n - 4, ".sql") != 0) return 0;
    size_t i = 0;
    while (name[i] >= '0' && name[i] <= '9')
        i++;
    if (i < 4 || name[i] != '_') return 0;
    i++;
    if (i >= n - 4) return 0;
    for (; i < n - 4; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static int mig_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void mig_free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        cd_free(names[i]);
    cd_free(names);
}

/* Lists the migration files of dir in order. */
static int mig_list(const char *dir, char ***out, int *count, char **err)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        mig_err(err, "migrations directory %s: %s", dir, strerror(errno));
        return CD_ENOENT;
    }
    char **names = cd_calloc(PG_MIGRATE_MAX_FILES, sizeof *names);
    if (!names) {
        closedir(d);
        return CD_ENOMEM;
    }
    int n = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        size_t l = strlen(nm);
        if (l < 4 || strcmp(nm + l - 4, ".sql") != 0) continue; /* README etc. */
        if (!mig_name_ok(nm)) {
            mig_err(err, "bad migration file name %s (want NNNN_name.sql)", nm);
            rc = CD_EBAD;
            break;
        }
        if (n >= PG_MIGRATE_MAX_FILES) {
            mig_err(err, "more than %d migration files", PG_MIGRATE_MAX_FILES);
            rc = CD_ELIMIT;
            break;
        }
        names[n] = cd_malloc(l + 1);
        if (!names[n]) {
            rc = CD_ENOMEM;
            break;
        }
        memcpy(names[n++], nm, l + 1);
    }
    closedir(d);
    if (rc) {
        mig_free_names(names, n);
        return rc;
    }
    qsort(names, (size_t)n, sizeof *names, mig_cmp);
    /* two files with the same number would apply in an arbitrary order */
    for (int i = 1; i < n; i++) {
        size_t a = strspn(names[i - 1], "0123456789"), b = strspn(names[i], "0123456789");
        if (a == b && strncmp(names[i - 1], names[i], a) == 0) {
            mig_err(err, "migrations %s and %s share a number", names[i - 1], names[i]);
            mig_free_names(names, n);
            return CD_EBAD;
        }
    }
    *out = names;
    *count = n;
    return 0;
}

static char *mig_read(const char *path, char **err, int *rc)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mig_err(err, "%s: %s", path, strerror(errno));
        *rc = CD_ENOENT;
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > PG_MIGRATE_MAX_FILE_BYTES) {
        fclose(f);
        mig_err(err, "%s: too large or unreadable", path);
        *rc = CD_ELIMIT;
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = cd_malloc(n + 1);
    if (!buf) {
        fclose(f);
        *rc = CD_ENOMEM;
        return NULL;
    }
    if (fread(buf, 1, n, f) != n) {
        fclose(f);
        cd_free(buf);
        mig_err(err, "%s: short read", path);
        *rc = CD_EIO;
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Runs a statement; 0 or CD_EIO with *err set. */
static int mig_exec(PGconn *c, const char *sql, int nparams, const char *const *params,
                    PGresult **keep, char **err, const char *what)
{
    PGresult *r =
        nparams ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        mig_err(err, "%s: %s", what, PQresultErrorMessage(r));
        PQclear(r);
        return CD_EIO;
    }
    if (keep)
        *keep = r;
    else
        PQclear(r);
    return 0;
}

static void mig_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* "already exists, skipping" notices are expected noise */
}

int pg_migrate(const char *conninfo, const char *dir, int *applied, char **err)
{
    if (applied) *applied = 0;
    if (err) *err = NULL;
    if (!conninfo || !dir) return CD_EBAD;

    char **names = NULL;
    int nfiles = 0;
    int rc = mig_list(dir, &names, &nfiles, err);
    if (rc) return rc;

    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        mig_err(err, "cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        mig_free_names(names, nfiles);
        return CD_EUNAVAIL;
    }
    PQsetNoticeProcessor(c, mig_notice, NULL);

    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)PG_MIGRATE_LOCK_KEY);
    const char *kp[] = {key};
    PGresult *have = NULL;
    int done = 0;
    rc = mig_exec(c, "SELECT pg_advisory_lock($1::bigint)", 1, kp, NULL, err, "advisory lock");
    if (rc) goto out;
    rc = mig_exec(c,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version text PRIMARY KEY,"
                  " applied_at timestamptz NOT NULL DEFAULT now())",
                  0, NULL, NULL, err, "create schema_migrations");
    if (rc) goto unlock;
    rc = mig_exec(c, "SELECT version FROM schema_migrations", 0, NULL, &have, err,
                  "read schema_migrations");
    if (rc) goto unlock;

    for (int i = 0; i < nfiles; i++) {
        char version[256];
        snprintf(version, sizeof version, "%.*s", (int)(strlen(names[i]) - 4), names[i]);
        int seen = 0;
        for (int k = 0; k < PQntuples(have) && !seen; k++)
            seen = strcmp(PQgetvalue(have, k, 0), version) == 0;
        if (seen) continue;

        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *sql = mig_read(path, err, &rc);
        if (!sql) goto unlock;
        char what[300];
        snprintf(what, sizeof what, "migration %s", version);
        const char *vp[] = {version};
        rc = mig_exec(c, "BEGIN", 0, NULL, NULL, err, what);
        if (!rc) rc = mig_exec(c, sql, 0, NULL, NULL, err, what);
        if (!rc)
            rc = mig_exec(c, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, vp, NULL,
                          err, what);
        if (!rc) rc = mig_exec(c, "COMMIT", 0, NULL, NULL, err, what);
        cd_free(sql);
        if (rc) {
            PQclear(PQexec(c, "ROLLBACK"));
            goto unlock;
        }
        done++;
        cd_info("migrate", "applied %s", version);
    }

unlock:
    PQclear(PQexecParams(c, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, kp, NULL, NULL, 0));
out:
    if (have) PQclear(have);
    PQfinish(c);
    mig_free_names(names, nfiles);
    if (applied) *applied = done;
    return rc;
}
