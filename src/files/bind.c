/*
 * bind.c — mounts the files module (files_bind, called by main.c after the
 * chat roles bind): POST /files on sender processes, GET /files/:id[/thumb]
 * on receiver processes (both in --role all), the Message.attachments and
 * Attachment.url/thumbnailUrl resolvers in every process, and the sweeper
 * on sender processes: never-attached files past CHATD_FILES_GRACE_S and
 * the files of removed messages lose their rows, and their bytes when no
 * other row names them (store.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/text.h"
#include "files/files_internal.h"
#include "graphql/graphql.h"
#include "graphql/value.h"
#include "store/pg.h"

static files_ctx g_fc;

/* ---- resolvers ---- */

static const char *viewer_of(gql_rinfo *ri)
{
    const proto_caller *c = proto_caller_of(ri);
    if (!c || !c->user_id[0] || (!c->trust && !c->authenticated)) return NULL;
    return c->user_id;
}

static void r_attachments(gql_rinfo *ri)
{
    const gql_value *p = gql_ri_parent(ri);
    const gql_value *a = p && p->kind == GQL_V_OBJECT ? gql_obj_get(p, "attachments") : NULL;
    const gql_value *del = p && p->kind == GQL_V_OBJECT ? gql_obj_get(p, "deletedAt") : NULL;
    if (a && a->kind == GQL_V_LIST && !(del && del->kind != GQL_V_NULL)) {
        gql_ri_return(ri, *a);
        return;
    }
    gql_value *l = gql_list_new(gql_ri_arena(ri), 0);
    if (l)
        gql_ri_return(ri, *l);
    else
        gql_ri_error(ri, "INTERNAL_SERVER_ERROR", "Out of memory");
}

static void url_of(gql_rinfo *ri, bool thumb)
{
    const gql_value *p = gql_ri_parent(ri);
    const gql_value *id = p && p->kind == GQL_V_OBJECT ? gql_obj_get(p, "id") : NULL;
    if (!id || id->kind != GQL_V_STRING || !cd_uuid_valid(id->u.s, id->len)) {
        gql_ri_return(ri, gql_null());
        return;
    }
    if (thumb) {
        const gql_value *h = gql_obj_get(p, "hasThumb");
        if (!h || h->kind != GQL_V_BOOL || !h->u.b) {
            gql_ri_return(ri, gql_null());
            return;
        }
    }
    char tok[200];
    const char *uid = viewer_of(ri);
    bool signed_ok = uid && files_sign(&g_fc, id->u.s, uid, (int64_t)time(NULL), tok, sizeof tok);
    char *s = cd_arena_sprintf(gql_ri_arena(ri), "/files/%s%s%s%s", id->u.s, thumb ? "/thumb" : "",
                               signed_ok ? "?t=" : "", signed_ok ? tok : "");
    if (!s) {
        gql_ri_error(ri, "INTERNAL_SERVER_ERROR", "Out of memory");
        return;
    }
    gql_ri_return(ri, gql_str_ref(s, strlen(s)));
}

static void r_url(gql_rinfo *ri)
{
    url_of(ri, false);
}

static void r_thumb_url(gql_rinfo *ri)
{
    url_of(ri, true);
}

/* ---- sweeper ---- */

static void sweep_rows_cb(const pg_result *r, void *ud)
{
    files_ctx *fc = ud;
    fc->sweep_busy = false;
    if (r->status != 0) {
        cd_warn("files", "sweep: %s", r->message);
        return;
    }
    int n = PQntuples(r->res);
    for (int i = 0; i < n; i++)
        files_store_remove(fc, PQgetvalue(r->res, i, 0));
    if (n > 0) cd_info("files", "sweep: %d stored file(s) without references removed", n);
}

static void sweep_cb(uv_timer_t *t)
{
    files_ctx *fc = t->data;
    /* one round at a time, and not before the last round's removals are
     * done (they are bounded by FILES_SWEEP_BATCH) */
    if (fc->sweep_busy || fc->removing > 0 || !files_db(fc)) return;
    char grace[16], batch[16];
    snprintf(grace, sizeof grace, "%u", fc->cfg->files_grace_s);
    snprintf(batch, sizeof batch, "%d", FILES_SWEEP_BATCH);
    const char *params[] = {grace, batch};
    fc->sweep_busy = true;
    if (pg_pool_query(files_db(fc), "files_sweep", 2, params, sweep_rows_cb, fc) != 0)
        fc->sweep_busy = false;
}

static void sweep_stop(proto_server *srv, void *ud)
{
    CD_UNUSED(srv);
    files_ctx *fc = ud;
    if (fc->sweep_started) uv_timer_stop(&fc->sweep);
    if (fc->sweep_started) uv_close((uv_handle_t *)&fc->sweep, NULL);
    fc->sweep_started = false;
}

/* Rows gone: unattached past the grace period, and those of removed
 * messages (marked `gone` by a trigger, 0010_attachments.sql); returns the sha256 values no row
 * names any more. */
static const char sweep_sql[] =
    "WITH gone AS (DELETE FROM files WHERE id IN ("
    "  (SELECT id FROM files WHERE message_id IS NULL"
    "    AND created_at < now() - make_interval(secs => $1::int) LIMIT $2::int)"
    "  UNION ALL (SELECT id FROM files WHERE gone LIMIT $2::int))"
    " RETURNING id, sha256)"
    /* (the statement's snapshot still shows the deleted rows) */
    " SELECT DISTINCT g.sha256 FROM gone g WHERE NOT EXISTS (SELECT 1 FROM files f"
    "  WHERE f.sha256 = g.sha256 AND f.id NOT IN (SELECT id FROM gone))";

static int sweep_prepare(files_ctx *fc)
{
    return pg_pool_prepare(fc->srv->pg, "files_sweep", sweep_sql, 2);
}

/* ---- binding ---- */

unsigned files_pool_workers(const cd_config *cfg)
{
    return FILES_THUMB_WORKERS + (cfg->files_s3_endpoint ? FILES_S3_WORKERS : 0);
}

int files_bind(proto_server *srv)
{
    files_ctx *fc = &g_fc;
    memset(fc, 0, sizeof *fc);
    fc->srv = srv;
    fc->cfg = srv->cfg;
    static const struct {
        const char *coord;
        gql_resolve_fn fn;
    } binds[] = {
        {"Message.attachments", r_attachments},
        {"Attachment.url", r_url},
        {"Attachment.thumbnailUrl", r_thumb_url},
    };
    for (unsigned i = 0; i < CD_ARRAY_LEN(binds); i++) {
        int rc = gql_schema_bind(srv->schema, binds[i].coord, binds[i].fn, fc);
        if (rc != 0) {
            cd_error("files", "bind %s: %s", binds[i].coord, cd_strerror(rc));
            return rc;
        }
    }
    files_prepare_fn prepare[] = {files_upload_prepare, files_download_prepare, sweep_prepare};
    _Static_assert(CD_ARRAY_LEN(prepare) <= FILES_PREPARE_MAX, "FILES_PREPARE_MAX");
    memcpy(fc->prepare, prepare, sizeof prepare);
    files_sign_init(fc);
    cd_role role = srv->cfg->role;
    bool sender = role == CD_ROLE_SENDER || role == CD_ROLE_ALL;
    bool receiver = role == CD_ROLE_RECEIVER || role == CD_ROLE_ALL;
    if (!sender && !receiver) return 0;
    char err[512];
    int rc = files_store_init(fc, err, sizeof err);
    if (rc != 0) {
        cd_error("files", "%s", err);
        return rc;
    }
    if (sender) {
        rc = proto_route_add(srv, "/files", "POST, OPTIONS", files_route_upload, fc);
        if (rc == 0) rc = proto_route_stream_post(srv, "/files");
        if (rc != 0) return rc;
    }
    if (receiver) {
        rc = proto_route_add(srv, "/files/", "GET, HEAD, OPTIONS", files_route_download, fc);
        if (rc != 0) return rc;
    }
    if (sender) {
        uint64_t period = (uint64_t)fc->cfg->files_grace_s * 1000u / 2u;
        if (period > FILES_SWEEP_MAX_MS) period = FILES_SWEEP_MAX_MS;
        if (period < 500) period = 500;
        uv_timer_init(srv->loop, &fc->sweep);
        fc->sweep.data = fc;
        uv_timer_start(&fc->sweep, sweep_cb, period, period);
        uv_unref((uv_handle_t *)&fc->sweep);
        fc->sweep_started = true;
        proto_on_shutdown(srv, sweep_stop, fc);
    }
    if (fc->cfg->files_s3_endpoint)
        cd_info("files", "files in bucket %s at %s (temp files in %s/tmp)%s%s",
                fc->cfg->files_s3_bucket, fc->cfg->files_s3_endpoint, fc->dir,
                sender ? " (uploads)" : "", receiver ? " (downloads)" : "");
    else
        cd_info("files", "files in %s%s%s", fc->dir, sender ? " (uploads)" : "",
                receiver ? " (downloads)" : "");
    return 0;
}
