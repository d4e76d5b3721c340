/*
 * multipart.c — streaming multipart/form-data parser (RFC 7578 / RFC 2046),
 * socket-free: bytes go in as they arrive, part data comes out through
 * callbacks without the body ever being held whole.
 *
 * The delimiter is "\r\n--<boundary>"; the body is treated as if a CRLF
 * preceded it, so a body starting with "--<boundary>" matches at once.
 * Because '\r' occurs only at the delimiter's first position (boundaries
 * with CR/LF are refused), a failed partial match can only restart at the
 * current byte: the matched prefix is emitted as data and the byte is
 * examined again — no backtracking buffer is needed.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "files/files.h"

enum {
    MP_PREAMBLE,
    MP_AFTER_DELIM, /* after a delimiter: "--" (the end) or padding + CRLF */
    MP_AD_DASH,     /* one '-' seen */
    MP_AD_CR,       /* '\r' seen */
    MP_HEADERS,
    MP_BODY,
    MP_EPILOGUE,
    MP_FAILED
};

static int mp_fail(files_mp *p, int code, const char *why)
{
    if (!p->err) p->err = why;
    p->state = MP_FAILED;
    return code;
}

bool files_is_multipart(const char *ct)
{
    if (!ct) return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return strncasecmp(ct, "multipart/form-data", 19) == 0 &&
           (ct[19] == 0 || ct[19] == ';' || ct[19] == ' ' || ct[19] == '\t');
}

/* Finds parameter `key` in a header value's "; k=v" list (v a token or a
 * quoted string with backslash escapes) and copies it to out (untouched when
 * absent). 0 (found or not: *found), CD_EBAD for an unterminated quote,
 * CD_ELIMIT when the value does not fit. */
static int header_param(const char *v, const char *key, char *out, size_t cap, bool *found)
{
    size_t klen = strlen(key);
    *found = false;
    const char *s = strchr(v, ';');
    while (s) {
        s++;
        while (*s == ' ' || *s == '\t')
            s++;
        const char *k = s;
        while (*s && *s != '=' && *s != ';')
            s++;
        size_t kl = (size_t)(s - k);
        while (kl > 0 && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
            kl--;
        if (*s != '=') {
            s = *s ? s : NULL;
            continue;
        }
        s++;
        while (*s == ' ' || *s == '\t')
            s++;
        bool mine = kl == klen && strncasecmp(k, key, klen) == 0;
        size_t o = 0;
        bool fits = true;
        bool quoted = *s == '"';
        if (quoted) s++;
        while (*s && (quoted ? *s != '"' : (*s != ';' && *s != ' ' && *s != '\t'))) {
            if (quoted && *s == '\\' && s[1]) s++;
            if (mine && o + 1 < cap)
                out[o++] = *s;
            else if (mine)
                fits = false;
            s++;
        }
        if (quoted) {
            if (*s != '"') return CD_EBAD;
            s++;
        }
        if (mine) {
            out[o] = 0;
            *found = true;
            return fits ? 0 : CD_ELIMIT;
        }
        s = strchr(s, ';');
    }
    return 0;
}

int files_mp_init(files_mp *p, const char *ct, const files_mp_callbacks *cb, void *ud)
{
    memset(p, 0, sizeof *p);
    p->cb = *cb;
    p->ud = ud;
    if (!files_is_multipart(ct)) return mp_fail(p, CD_EBAD, "not multipart/form-data");
    char b[FILES_MP_MAX_BOUNDARY + 2];
    bool found;
    if (header_param(ct, "boundary", b, sizeof b, &found) != 0 || !found)
        return mp_fail(p, CD_EBAD, "multipart/form-data without a valid boundary");
    size_t n = strlen(b);
    if (n == 0 || n > FILES_MP_MAX_BOUNDARY)
        return mp_fail(p, CD_EBAD, "multipart boundary must be 1-70 characters");
    for (size_t i = 0; i < n; i++)
        if (b[i] == '\r' || b[i] == '\n' || (unsigned char)b[i] < 0x20)
            return mp_fail(p, CD_EBAD, "multipart boundary with control characters");
    memcpy(p->delim, "\r\n--", 4);
    memcpy(p->delim + 4, b, n);
    p->delim_len = n + 4;
    p->match = 2; /* as if the body began after a CRLF */
    p->state = MP_PREAMBLE;
    return 0;
}

/* Keeps the last path component and refuses control characters. */
static bool clean_filename(char *f)
{
    char *base = f;
    for (char *s = f; *s; s++)
        if (*s == '/' || *s == '\\') base = s + 1;
    if (base != f) memmove(f, base, strlen(base) + 1);
    for (unsigned char *s = (unsigned char *)f; *s; s++)
        if (*s < 0x20 || *s == 0x7f) return false;
    return true;
}

static int header_line(files_mp *p, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon) return mp_fail(p, CD_EBAD, "malformed multipart part header");
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strcasecmp(line, "Content-Disposition") == 0) {
        if (strncasecmp(v, "form-data", 9) != 0)
            return mp_fail(p, CD_EBAD, "multipart part is not form-data");
        bool found;
        int rc = header_param(v, "name", p->part.name, sizeof p->part.name, &found);
        if (rc == 0)
            rc = header_param(v, "filename", p->part.filename, sizeof p->part.filename, &found);
        else
            found = false;
        if (rc == CD_EBAD)
            return mp_fail(p, CD_EBAD, "malformed Content-Disposition in a multipart part");
        if (rc == CD_ELIMIT)
            return mp_fail(p, CD_EBAD, "multipart field or file name too long (at most 255 bytes)");
        if (found) {
            p->part.has_filename = true;
            if (!clean_filename(p->part.filename))
                return mp_fail(p, CD_EBAD, "file name with control characters");
        }
    } else if (strcasecmp(line, "Content-Type") == 0) {
        size_t n = strlen(v);
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        if (n >= sizeof p->part.content_type)
            return mp_fail(p, CD_EBAD, "multipart part Content-Type too long");
        memcpy(p->part.content_type, v, n);
        p->part.content_type[n] = 0;
    }
    return 0;
}

static int emit(files_mp *p, const char *d, size_t n)
{
    if (n == 0 || !p->cb.on_data) return 0;
    int rc = p->cb.on_data(p->ud, d, n);
    if (rc) p->state = MP_FAILED;
    return rc;
}

int files_mp_feed(files_mp *p, const char *data, size_t len)
{
    if (p->state == MP_FAILED) return CD_EBAD;
    size_t run = SIZE_MAX; /* start of unemitted body data in this buffer */
    int rc;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        switch (p->state) {
        case MP_PREAMBLE:
        case MP_BODY: {
            bool body = p->state == MP_BODY;
            if (c == p->delim[p->match]) {
                if (p->match == 0 && body && run != SIZE_MAX) {
                    if ((rc = emit(p, data + run, i - run))) return rc;
                    run = SIZE_MAX;
                }
                if (++p->match == p->delim_len) {
                    p->match = 0;
                    if (body && p->cb.on_part_end && (rc = p->cb.on_part_end(p->ud))) {
                        p->state = MP_FAILED;
                        return rc;
                    }
                    p->state = MP_AFTER_DELIM;
                }
                break;
            }
            if (p->match > 0) {
                /* the matched prefix was data (the body's first CRLF "seen"
                 * in the preamble was never there) */
                if (body && (rc = emit(p, p->delim, p->match))) return rc;
                p->match = 0;
                if (c == p->delim[0]) {
                    p->match = 1;
                    break;
                }
            }
            if (body && run == SIZE_MAX) run = i;
            break;
        }
        case MP_AFTER_DELIM:
            if (c == '-')
                p->state = MP_AD_DASH;
            else if (c == '\r')
                p->state = MP_AD_CR;
            else if (c == '\n')
                goto headers_begin;
            else if (c != ' ' && c != '\t')
                return mp_fail(p, CD_EBAD, "malformed multipart boundary line");
            break;
        case MP_AD_DASH:
            if (c != '-') return mp_fail(p, CD_EBAD, "malformed multipart closing boundary");
            p->state = MP_EPILOGUE;
            break;
        case MP_AD_CR:
            if (c != '\n') return mp_fail(p, CD_EBAD, "malformed multipart boundary line");
        headers_begin:
            if (++p->nparts > FILES_MP_MAX_PARTS)
                return mp_fail(p, CD_ELIMIT, "too many multipart parts (at most 16)");
            memset(&p->part, 0, sizeof p->part);
            p->hdr_len = p->line_len = 0;
            p->state = MP_HEADERS;
            break;
        case MP_HEADERS:
            if (++p->hdr_len > FILES_MP_MAX_PART_HEADER_BYTES)
                return mp_fail(p, CD_ELIMIT, "multipart part headers too large (at most 8 KiB)");
            if (c != '\n') {
                if (c == 0) return mp_fail(p, CD_EBAD, "NUL in a multipart part header");
                p->line[p->line_len++] = c;
                break;
            }
            if (p->line_len > 0 && p->line[p->line_len - 1] == '\r') p->line_len--;
            p->line[p->line_len] = 0;
            if (p->line_len == 0) {
                if (p->cb.on_part && (rc = p->cb.on_part(p->ud, &p->part))) {
                    p->state = MP_FAILED;
                    return rc;
                }
                p->state = MP_BODY;
                p->match = 0;
                run = SIZE_MAX;
                break;
            }
            if ((rc = header_line(p, p->line))) return rc;
            p->line_len = 0;
            break;
        case MP_EPILOGUE:
            return 0; /* ignored */
        default:
            return CD_EBAD;
        }
    }
    if (p->state == MP_BODY && run != SIZE_MAX && (rc = emit(p, data + run, len - run))) return rc;
    return 0;
}

int files_mp_finish(files_mp *p)
{
    if (p->state == MP_EPILOGUE) return 0;
    if (p->state == MP_FAILED) return CD_EBAD;
    return mp_fail(p, CD_EBAD, "multipart body ended before its closing boundary");
}
