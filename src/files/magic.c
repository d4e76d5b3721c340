/*
 * magic.c — what the bytes of an upload are (never what the client says):
 * magic numbers of the image types and PDF from the first bytes, and an
 * incremental UTF-8 check for plain text over every byte.
 */
#include <string.h>
#include <strings.h>

#include "files/files.h"

void files_sniff_init(files_sniff *s)
{
    memset(s, 0, sizeof *s);
    s->text_ok = true;
}

/* Strict UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF); controls other
 * than tab, LF, CR (and DEL) make the file binary. */
static void utf8_step(files_sniff *s, unsigned char c)
{
    if (s->utf8_need) {
        if ((c & 0xC0) != 0x80) {
            s->text_ok = false;
            return;
        }
        s->utf8_cp = (s->utf8_cp << 6) | (c & 0x3F);
        if (--s->utf8_need == 0 && (s->utf8_cp < s->utf8_min || s->utf8_cp > 0x10FFFF ||
                                    (s->utf8_cp >= 0xD800 && s->utf8_cp <= 0xDFFF)))
            s->text_ok = false;
        return;
    }
    if (c < 0x80) {
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) s->text_ok = false;
        return;
    }
    if ((c & 0xE0) == 0xC0) {
        s->utf8_need = 1, s->utf8_cp = c & 0x1F, s->utf8_min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        s->utf8_need = 2, s->utf8_cp = c & 0x0F, s->utf8_min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        s->utf8_need = 3, s->utf8_cp = c & 0x07, s->utf8_min = 0x10000;
    } else {
        s->text_ok = false;
    }
}

void files_sniff_feed(files_sniff *s, const void *data, size_t len)
{
    const unsigned char *d = data;
    if (s->head_len < FILES_SNIFF_BYTES) {
        size_t n = FILES_SNIFF_BYTES - s->head_len;
        if (n > len) n = len;
        memcpy(s->head + s->head_len, d, n);
        s->head_len += n;
    }
    s->size += len;
    for (size_t i = 0; i < len && s->text_ok; i++)
        utf8_step(s, d[i]);
}

const char *files_sniff_type(const files_sniff *s)
{
    const unsigned char *h = s->head;
    size_t n = s->head_len;
    if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) return FILES_CT_PNG;
    if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) return FILES_CT_JPEG;
    if (n >= 6 && (memcmp(h, "GIF87a", 6) == 0 || memcmp(h, "GIF89a", 6) == 0)) return FILES_CT_GIF;
    if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0) return FILES_CT_WEBP;
    if (n >= 5 && memcmp(h, "%PDF-", 5) == 0) return FILES_CT_PDF;
    if (s->text_ok && s->utf8_need == 0) return FILES_CT_TEXT;
    return FILES_CT_BINARY;
}

bool files_type_is_image(const char *t)
{
    return t && (strcmp(t, FILES_CT_PNG) == 0 || strcmp(t, FILES_CT_JPEG) == 0 ||
                 strcmp(t, FILES_CT_GIF) == 0 || strcmp(t, FILES_CT_WEBP) == 0);
}

bool files_declared_image(const char *d)
{
    if (!d) return false;
    while (*d == ' ' || *d == '\t')
        d++;
    return strncasecmp(d, "image/", 6) == 0;
}
