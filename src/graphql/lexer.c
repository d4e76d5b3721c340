/*
 * lexer.c — GraphQL lexer (spec October 2021 "Source Text"; behaviour and
 * error texts follow graphql-js 16). See lexer.h for the contract.
 *
 * Invariants: the lexer never allocates and never reads past src[len]. Line
 * tracking is live: lx->line / line_start / adj always describe the position
 * being read, so an error anywhere (even inside a block string spanning lines)
 * gets the same line/column graphql-js reports. `adj` is the number of bytes
 * on the current line that do not count as UTF-16 code units (continuation
 * bytes; 4-byte sequences count two units).
 */
#include "graphql/lexer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

/* ---- UTF-8 ---- */

int gql_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] > 0x9F) return 0; /* surrogate */
        *cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    if (c > 0xF4) return 0;
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
    if (c == 0xF4 && s[1] > 0x8F) return 0; /* > U+10FFFF */
    *cp = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

int gql_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- character classes ---- */

static inline int is_digit(int c)
{
    return c >= '0' && c <= '9';
}
static inline int is_name_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static inline int is_name_continue(int c)
{
    return is_name_start(c) || is_digit(c);
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static inline int is_scalar(int64_t cp)
{
    return (cp >= 0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0x10FFFF);
}

/* ---- helpers ---- */

void gql_lexer_init(gql_lexer *lx, const char *src, size_t len, gql_syntax_error *err)
{
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
    lx->line_start = 0;
    lx->line = 1;
    lx->adj = 0;
    lx->err = err;
}

static inline int at(const gql_lexer *lx, size_t pos)
{
    return pos < lx->len ? (unsigned char)lx->src[pos] : -1;
}

static inline gql_loc loc_at(const gql_lexer *lx, size_t pos)
{
    gql_loc l = {lx->line, (uint32_t)(1 + pos - lx->line_start - lx->adj)};
    return l;
}

static inline void newline(gql_lexer *lx, size_t next_line_start)
{
    lx->line++;
    lx->line_start = next_line_start;
    lx->adj = 0;
}

__attribute__((format(printf, 3, 4))) static int lex_error(gql_lexer *lx, size_t pos,
                                                           const char *fmt, ...)
{
    gql_syntax_error *e = lx->err;
    int n = snprintf(e->message, sizeof e->message, "Syntax Error: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message + n, sizeof e->message - (size_t)n, fmt, ap);
    va_end(ap);
    e->loc = loc_at(lx, pos);
    return CD_EBAD;
}

/* printCodePointAt(): "\"a\"", "'\"'", "U+00E9", "<EOF>". */
static const char *describe_at(const gql_lexer *lx, size_t pos, char out[40])
{
    if (pos >= lx->len) return "<EOF>";
    int c = (unsigned char)lx->src[pos];
    if (c >= 0x20 && c <= 0x7E) {
        if (c == '"') return "'\"'";
        snprintf(out, 40, "\"%c\"", c);
        return out;
    }
    uint32_t cp;
    if (gql_utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp) == 0) {
        snprintf(out, 40, "invalid UTF-8 byte 0x%02X", (unsigned)c);
        return out;
    }
    snprintf(out, 40, "U+%04X", (unsigned)cp);
    return out;
}

size_t gql_lex_msg_text(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = 1;
        const char *src = s + i;
        if (c == 0) {
            src = "\xEF\xBF\xBD";
            k = 3;
        } else if (c >= 0x80) {
            uint32_t cp;
            int m = gql_utf8_decode((const unsigned char *)s + i, n - i, &cp);
            k = m ? (size_t)m : 1;
        }
        if (o + k >= cap) break;
        memcpy(dst + o, src, k);
        o += k;
        i += c == 0 ? 1 : k;
    }
    dst[o] = '\0';
    return o;
}

/* Source text [pos, pos + n) clipped to the input, for messages. */
static const char *slice(const gql_lexer *lx, size_t pos, size_t n, char out[64])
{
    if (pos >= lx->len)
        n = 0;
    else if (n > lx->len - pos)
        n = lx->len - pos;
    gql_lex_msg_text(out, 64, lx->src + pos, n);
    return out;
}

/* Passes one non-ASCII character at lx->pos inside a string or comment,
 * updating the column adjustment. Returns 0 or CD_EBAD. */
static int pass_utf8(gql_lexer *lx, const char *what)
{
    uint32_t cp;
    int n = gql_utf8_decode((const unsigned char *)lx->src + lx->pos, lx->len - lx->pos, &cp);
    if (n == 0) {
        return lex_error(lx, lx->pos, "Invalid character%s: invalid UTF-8 byte 0x%02X.", what,
                         (unsigned)(unsigned char)lx->src[lx->pos]);
    }
    lx->adj += (uint32_t)n - (cp >= 0x10000 ? 2u : 1u);
    lx->pos += (size_t)n;
    return 0;
}

/* ---- numbers ---- */

static int read_digits(gql_lexer *lx, size_t *pos)
{
    char d[40];
    if (!is_digit(at(lx, *pos))) {
        return lex_error(lx, *pos, "Invalid number, expected digit but got: %s.",
                         describe_at(lx, *pos, d));
    }
    size_t p = *pos + 1;
    while (is_digit(at(lx, p)))
        p++;
    *pos = p;
    return 0;
}

static int read_number(gql_lexer *lx, gql_token *tok)
{
    char d[40];
    size_t p = lx->pos;
    int rc;
    bool is_float = false;
    if (at(lx, p) == '-') p++;
    if (at(lx, p) == '0') {
        p++;
        if (is_digit(at(lx, p))) {
            return lex_error(lx, p, "Invalid number, unexpected digit after 0: %s.",
                             describe_at(lx, p, d));
        }
    } else if ((rc = read_digits(lx, &p)) != 0) {
        return rc;
    }
    if (at(lx, p) == '.') {
        is_float = true;
        p++;
        if ((rc = read_digits(lx, &p)) != 0) return rc;
    }
    if (at(lx, p) == 'e' || at(lx, p) == 'E') {
        is_float = true;
        p++;
        if (at(lx, p) == '+' || at(lx, p) == '-') p++;
        if ((rc = read_digits(lx, &p)) != 0) return rc;
    }
    if (at(lx, p) == '.' || is_name_start(at(lx, p))) {
        return lex_error(lx, p, "Invalid number, expected digit but got: %s.",
                         describe_at(lx, p, d));
    }
    tok->kind = is_float ? GQL_TOK_FLOAT : GQL_TOK_INT;
    tok->end = (uint32_t)p;
    lx->pos = p;
    return 0;
}

/* ---- strings ---- */

/* Validates the escape at p (src[p] == '\\'). On success *size is its length
 * and *cp the code point (a surrogate pair yields one supplementary cp). */
static int read_escape(gql_lexer *lx, size_t p, size_t *size, uint32_t *cp)
{
    const char *s = lx->src;
    char sl[64];
    int c = at(lx, p + 1);
    if (c == 'u' && at(lx, p + 2) == '{') {
        /* \u{X...}: emulates graphql-js incl. its 32-bit overflow check and
         * the 12-character cap, so the quoted slice in messages matches. */
        int32_t point = 0;
        size_t n = 3;
        while (n < 12) {
            int ch = at(lx, p + n++);
            if (ch == '}') {
                if (n < 5 || !is_scalar(point)) break;
                *size = n;
                *cp = (uint32_t)point;
                return 0;
            }
            int h = hex_val(ch);
            point = (int32_t)((uint32_t)point << 4) | h;
            if (h < 0 || point < 0) break;
        }
        return lex_error(lx, p, "Invalid Unicode escape sequence: \"%s\".", slice(lx, p, n, sl));
    }
    if (c == 'u') {
        int h0 = hex_val(at(lx, p + 2)), h1 = hex_val(at(lx, p + 3));
        int h2 = hex_val(at(lx, p + 4)), h3 = hex_val(at(lx, p + 5));
        if ((h0 | h1 | h2 | h3) >= 0) {
            uint32_t code = (uint32_t)(h0 << 12 | h1 << 8 | h2 << 4 | h3);
            if (is_scalar(code)) {
                *size = 6;
                *cp = code;
                return 0;
            }
            if (code >= 0xD800 && code <= 0xDBFF && at(lx, p + 6) == '\\' && at(lx, p + 7) == 'u') {
                int t0 = hex_val(at(lx, p + 8)), t1 = hex_val(at(lx, p + 9));
                int t2 = hex_val(at(lx, p + 10)), t3 = hex_val(at(lx, p + 11));
                if ((t0 | t1 | t2 | t3) >= 0) {
                    uint32_t trail = (uint32_t)(t0 << 12 | t1 << 8 | t2 << 4 | t3);
                    if (trail >= 0xDC00 && trail <= 0xDFFF) {
                        *size = 12;
                        *cp = 0x10000 + ((code - 0xD800) << 10) + (trail - 0xDC00);
                        return 0;
                    }
                }
            }
        }
        return lex_error(lx, p, "Invalid Unicode escape sequence: \"%s\".", slice(lx, p, 6, sl));
    }
    switch (c) {
    case '"':
        *cp = '"';
        break;
    case '\\':
        *cp = '\\';
        break;
    case '/':
        *cp = '/';
        break;
    case 'b':
        *cp = '\b';
        break;
    case 'f':
        *cp = '\f';
        break;
    case 'n':
        *cp = '\n';
        break;
    case 'r':
        *cp = '\r';
        break;
    case 't':
        *cp = '\t';
        break;
    default: {
        /* quote the whole character after the backslash, not half of it */
        size_t n = 2;
        if (c >= 0x80) {
            uint32_t ign;
            int k = gql_utf8_decode((const unsigned char *)s + p + 1, lx->len - p - 1, &ign);
            n = 1 + (size_t)(k ? k : 1);
        }
        return lex_error(lx, p, "Invalid character escape sequence: \"%s\".", slice(lx, p, n, sl));
    }
    }
    *size = 2;
    return 0;
}

static int read_string(gql_lexer *lx, gql_token *tok)
{
    const char *s = lx->src;
    size_t len = lx->len;
    lx->pos++; /* opening quote */
    while (lx->pos < len) {
        unsigned char c = (unsigned char)s[lx->pos];
        if (c == '"') {
            lx->pos++;
            tok->kind = GQL_TOK_STRING;
            tok->end = (uint32_t)lx->pos;
            return 0;
        }
        if (c == '\\') {
            size_t size = 0;
            uint32_t cp = 0;
            int rc = read_escape(lx, lx->pos, &size, &cp);
            if (rc) return rc;
            tok->escaped = 1;
            lx->pos += size;
            continue;
        }
        if (c == '\n' || c == '\r') break;
        if (c < 0x80) {
            lx->pos++;
            continue;
        }
        int rc = pass_utf8(lx, " within String");
        if (rc) return rc;
    }
    return lex_error(lx, lx->pos, "Unterminated string.");
}

static int read_block_string(gql_lexer *lx, gql_token *tok)
{
    const char *s = lx->src;
    size_t len = lx->len;
    lx->pos += 3;
    while (lx->pos < len) {
        unsigned char c = (unsigned char)s[lx->pos];
        if (c == '"' && at(lx, lx->pos + 1) == '"' && at(lx, lx->pos + 2) == '"') {
            lx->pos += 3;
            tok->kind = GQL_TOK_BLOCK_STRING;
            tok->end = (uint32_t)lx->pos;
            return 0;
        }
        if (c == '\\' && at(lx, lx->pos + 1) == '"' && at(lx, lx->pos + 2) == '"' &&
            at(lx, lx->pos + 3) == '"') {
            lx->pos += 4;
            continue;
        }
        if (c == '\n') {
            lx->pos++;
            newline(lx, lx->pos);
            continue;
        }
        if (c == '\r') {
            lx->pos += at(lx, lx->pos + 1) == '\n' ? 2 : 1;
            newline(lx, lx->pos);
            continue;
        }
        if (c < 0x80) {
            lx->pos++;
            continue;
        }
        int rc = pass_utf8(lx, " within String");
        if (rc) return rc;
    }
    return lex_error(lx, lx->pos, "Unterminated string.");
}

/* ---- main loop ---- */

int gql_lex_next(gql_lexer *lx, gql_token *tok)
{
    const char *s = lx->src;
    size_t len = lx->len;
    char d[40];
    for (;;) {
        if (lx->pos >= len) {
            tok->kind = GQL_TOK_EOF;
            tok->escaped = 0;
            tok->start = tok->end = (uint32_t)len;
            tok->loc = loc_at(lx, len);
            return 0;
        }
        unsigned char c = (unsigned char)s[lx->pos];
        switch (c) {
        case ' ':
        case '\t':
        case ',':
            lx->pos++;
            continue;
        case '\n':
            lx->pos++;
            newline(lx, lx->pos);
            continue;
        case '\r':
            lx->pos += at(lx, lx->pos + 1) == '\n' ? 2 : 1;
            newline(lx, lx->pos);
            continue;
        case '#':
            lx->pos++;
            while (lx->pos < len) {
                unsigned char k = (unsigned char)s[lx->pos];
                if (k == '\n' || k == '\r') break;
                if (k < 0x80) {
                    lx->pos++;
                } else {
                    int rc = pass_utf8(lx, "");
                    if (rc) return rc;
                }
            }
            continue;
        case 0xEF:
            if (at(lx, lx->pos + 1) == 0xBB && at(lx, lx->pos + 2) == 0xBF) { /* BOM */
                lx->pos += 3;
                lx->adj += 2;
                continue;
            }
            break;
        default:
            break;
        }
        /* a token starts here */
        tok->start = (uint32_t)lx->pos;
        tok->escaped = 0;
        tok->loc = loc_at(lx, lx->pos);
        int kind = -1;
        switch (c) {
        case '!':
            kind = GQL_TOK_BANG;
            break;
        case '$':
            kind = GQL_TOK_DOLLAR;
            break;
        case '&':
            kind = GQL_TOK_AMP;
            break;
        case '(':
            kind = GQL_TOK_PAREN_L;
            break;
        case ')':
            kind = GQL_TOK_PAREN_R;
            break;
        case ':':
            kind = GQL_TOK_COLON;
            break;
        case '=':
            kind = GQL_TOK_EQUALS;
            break;
        case '@':
            kind = GQL_TOK_AT;
            break;
        case '[':
            kind = GQL_TOK_BRACKET_L;
            break;
        case ']':
            kind = GQL_TOK_BRACKET_R;
            break;
        case '{':
            kind = GQL_TOK_BRACE_L;
            break;
        case '|':
            kind = GQL_TOK_PIPE;
            break;
        case '}':
            kind = GQL_TOK_BRACE_R;
            break;
        case '.':
            if (at(lx, lx->pos + 1) == '.' && at(lx, lx->pos + 2) == '.') {
                tok->kind = GQL_TOK_SPREAD;
                lx->pos += 3;
                tok->end = (uint32_t)lx->pos;
                return 0;
            }
            break;
        case '"':
            if (at(lx, lx->pos + 1) == '"' && at(lx, lx->pos + 2) == '"')
                return read_block_string(lx, tok);
            return read_string(lx, tok);
        default:
            break;
        }
        if (kind >= 0) {
            tok->kind = (uint8_t)kind;
            lx->pos++;
            tok->end = (uint32_t)lx->pos;
            return 0;
        }
        if (is_digit(c) || c == '-') return read_number(lx, tok);
        if (is_name_start(c)) {
            size_t p = lx->pos + 1;
            while (p < len && is_name_continue((unsigned char)s[p]))
                p++;
            tok->kind = GQL_TOK_NAME;
            tok->end = (uint32_t)p;
            lx->pos = p;
            return 0;
        }
        if (c == '\'') {
            return lex_error(lx, lx->pos,
                             "Unexpected single quote character ('), did you mean to use a "
                             "double quote (\")?");
        }
        uint32_t cp;
        if (c >= 0x80 &&
            gql_utf8_decode((const unsigned char *)s + lx->pos, len - lx->pos, &cp) == 0) {
            return lex_error(lx, lx->pos, "Invalid character: %s.", describe_at(lx, lx->pos, d));
        }
        return lex_error(lx, lx->pos, "Unexpected character: %s.", describe_at(lx, lx->pos, d));
    }
}

/* ---- string values ---- */

static size_t decode_string(const char *s, size_t b, size_t e, char *dst)
{
    size_t o = 0;
    while (b < e) {
        /* copy the run up to the next backslash */
        const char *bs = memchr(s + b, '\\', e - b);
        size_t run = bs ? (size_t)(bs - (s + b)) : e - b;
        memcpy(dst + o, s + b, run);
        o += run;
        b += run;
        if (b >= e) break;
        int c = (unsigned char)s[b + 1];
        uint32_t cp;
        if (c == 'u' && s[b + 2] == '{') {
            cp = 0;
            b += 3;
            while (s[b] != '}')
                cp = (cp << 4) | (uint32_t)hex_val((unsigned char)s[b++]);
            b++;
            o += (size_t)gql_utf8_encode(cp, dst + o);
            continue;
        }
        if (c == 'u') {
            cp = (uint32_t)(hex_val((unsigned char)s[b + 2]) << 12 |
                            hex_val((unsigned char)s[b + 3]) << 8 |
                            hex_val((unsigned char)s[b + 4]) << 4 |
                            hex_val((unsigned char)s[b + 5]));
            b += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t t = (uint32_t)(hex_val((unsigned char)s[b + 2]) << 12 |
                                        hex_val((unsigned char)s[b + 3]) << 8 |
                                        hex_val((unsigned char)s[b + 4]) << 4 |
                                        hex_val((unsigned char)s[b + 5]));
                b += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (t - 0xDC00);
            }
            o += (size_t)gql_utf8_encode(cp, dst + o);
            continue;
        }
        char ch;
        switch (c) {
        case 'b':
            ch = '\b';
            break;
        case 'f':
            ch = '\f';
            break;
        case 'n':
            ch = '\n';
            break;
        case 'r':
            ch = '\r';
            break;
        case 't':
            ch = '\t';
            break;
        default:
            ch = (char)c;
            break; /* " \ / */
        }
        dst[o++] = ch;
        b += 2;
    }
    return o;
}

/* One raw line of a block string: [*ls, *le); advances *p past its line
 * terminator. Returns 0 when there are no more lines. */
static int next_line(const char *s, size_t *p, size_t e, int *done, size_t *ls, size_t *le)
{
    if (*done) return 0;
    size_t i = *p;
    *ls = i;
    while (i < e && s[i] != '\n' && s[i] != '\r')
        i++;
    *le = i;
    if (i >= e) {
        *done = 1;
    } else {
        i += (s[i] == '\r' && i + 1 < e && s[i + 1] == '\n') ? 2 : 1;
    }
    *p = i;
    return 1;
}

/* BlockStringValue(): common indent of lines after the first, leading and
 * trailing blank lines removed, lines joined with \n, \""" unescaped. */
static size_t decode_block_string(const char *s, size_t b, size_t e, char *dst)
{
    size_t common = SIZE_MAX;
    long first = -1, last = -1, idx = 0;
    size_t p = b, ls, le;
    int done = 0;
    while (next_line(s, &p, e, &done, &ls, &le)) {
        size_t ind = 0;
        while (ls + ind < le && (s[ls + ind] == ' ' || s[ls + ind] == '\t'))
            ind++;
        if (ind < le - ls) {
            if (first < 0) first = idx;
            last = idx;
            if (idx != 0 && ind < common) common = ind;
        }
        idx++;
    }
    if (first < 0) return 0;
    size_t o = 0;
    p = b;
    done = 0;
    idx = 0;
    while (next_line(s, &p, e, &done, &ls, &le)) {
        if (idx >= first && idx <= last) {
            if (idx > first) dst[o++] = '\n';
            if (idx != 0) {
                size_t drop = le - ls < common ? le - ls : common;
                ls += drop;
            }
            for (size_t i = ls; i < le; i++) {
                if (s[i] == '\\' && i + 3 < le && s[i + 1] == '"' && s[i + 2] == '"' &&
                    s[i + 3] == '"') {
                    continue; /* drop the backslash of \""" */
                }
                dst[o++] = s[i];
            }
        }
        idx++;
    }
    return o;
}

size_t gql_lex_string_value(const gql_lexer *lx, const gql_token *tok, char *dst)
{
    const char *s = lx->src;
    if (tok->kind == GQL_TOK_BLOCK_STRING)
        return decode_block_string(s, tok->start + 3, tok->end - 3, dst);
    size_t b = tok->start + 1, e = tok->end - 1;
    if (!tok->escaped) {
        memcpy(dst, s + b, e - b);
        return e - b;
    }
    return decode_string(s, b, e, dst);
}

const char *gql_tok_kind_desc(int kind)
{
    static const char *const names[GQL_TOK_COUNT] = {
        [GQL_TOK_SOF] = "<SOF>",
        [GQL_TOK_EOF] = "<EOF>",
        [GQL_TOK_BANG] = "\"!\"",
        [GQL_TOK_DOLLAR] = "\"$\"",
        [GQL_TOK_AMP] = "\"&\"",
        [GQL_TOK_PAREN_L] = "\"(\"",
        [GQL_TOK_PAREN_R] = "\")\"",
        [GQL_TOK_SPREAD] = "\"...\"",
        [GQL_TOK_COLON] = "\":\"",
        [GQL_TOK_EQUALS] = "\"=\"",
        [GQL_TOK_AT] = "\"@\"",
        [GQL_TOK_BRACKET_L] = "\"[\"",
        [GQL_TOK_BRACKET_R] = "\"]\"",
        [GQL_TOK_BRACE_L] = "\"{\"",
        [GQL_TOK_PIPE] = "\"|\"",
        [GQL_TOK_BRACE_R] = "\"}\"",
        [GQL_TOK_NAME] = "Name",
        [GQL_TOK_INT] = "Int",
        [GQL_TOK_FLOAT] = "Float",
        [GQL_TOK_STRING] = "String",
        [GQL_TOK_BLOCK_STRING] = "BlockString",
    };
    return kind >= 0 && kind < GQL_TOK_COUNT ? names[kind] : "?";
}
