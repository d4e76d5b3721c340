/*
 * admin.c — the admin flag of the seed-003 API (users.is_admin,
 * db/migrations/0004_admin.sql): `chatd admin grant|revoke <username>` and
 * CHATD_ADMINS (comma-separated usernames granted at start). Both run before
 * serving, so they use blocking libpq on a connection of their own.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "compat/compat_internal.h"
#include "store/migrate.h"

/* Sets is_admin for one username (case-insensitive, active accounts).
 * Returns 0, CD_ENOENT (no such user), CD_EIO (database error, in err). */
static int set_admin(PGconn *db, const char *username, bool on, char *err, size_t errlen)
{
    const char *params[2] = {username, on ? "true" : "false"};
    PGresult *r = PQexecParams(db,
                               "UPDATE users SET is_admin = $2::boolean WHERE lower(username) = "
                               "lower($1) AND deleted_at IS NULL RETURNING id",
                               2, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(db));
        rc = CD_EIO;
    } else if (PQntuples(r) == 0) {
        snprintf(err, errlen, "no user named \"%s\"", username);
        rc = CD_ENOENT;
    }
    PQclear(r);
    return rc;
}

int compat_admin_grant_list(const char *conninfo, const char *list, char *err, size_t errlen)
{
    if (!list || !*list) return 0;
    PGconn *db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(db));
        PQfinish(db);
        return CD_EIO;
    }
    int rc = 0;
    const char *p = list;
    while (*p && rc == 0) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        size_t n = (size_t)(p - s);
        while (n && s[n - 1] == ' ')
            n--;
        if (!n) continue;
        char name[256];
        if (n >= sizeof name) {
            snprintf(err, errlen, "CHATD_ADMINS: username too long");
            rc = CD_EBAD;
            break;
        }
        memcpy(name, s, n);
        name[n] = 0;
        rc = set_admin(db, name, true, err, errlen);
    }
    PQfinish(db);
    return rc;
}

int compat_admin_main(int argc, char **argv, const char *conninfo, const char *migrations)
{
    if (argc != 3 || (strcmp(argv[1], "grant") != 0 && strcmp(argv[1], "revoke") != 0)) {
        fprintf(stderr,
                "usage: chatd admin grant|revoke <username>   (DATABASE_URL must be set)\n");
        return 2;
    }
    if (!conninfo || !*conninfo) {
        fprintf(stderr, "chatd admin: DATABASE_URL is not set\n");
        return 1;
    }
    if (migrations) {
        int applied = 0;
        char *merr = NULL;
        int rc = pg_migrate(conninfo, migrations, &applied, &merr);
        if (rc != 0) {
            fprintf(stderr, "chatd admin: migrations failed: %s\n", merr ? merr : cd_strerror(rc));
            cd_free(merr);
            return 1;
        }
    }
    PGconn *db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "chatd admin: %s", PQerrorMessage(db));
        PQfinish(db);
        return 1;
    }
    char err[512] = "";
    bool on = strcmp(argv[1], "grant") == 0;
    int rc = set_admin(db, argv[2], on, err, sizeof err);
    PQfinish(db);
    if (rc != 0) {
        fprintf(stderr, "chatd admin: %s\n", err);
        return 1;
    }
    printf("%s is %s an admin\n", argv[2], on ? "now" : "no longer");
    return 0;
}
