/*
 * text.h — checks on user-supplied text shared by every role: strict UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) and no
 * control characters.
 */
#ifndef CHATD_TEXT_H
#define CHATD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when s[0..len) is valid UTF-8 without C0 controls or DEL; with
 * allow_newlines, '\n', '\r' and '\t' are accepted (message bodies). */
bool cd_text_is_clean(const char *s, size_t len, bool allow_newlines);

/* Copies the URL `url` into out (cap bytes, always terminated) with the
 * password of its userinfo ("scheme://user:secret@host") replaced by "***",
 * for logs and error messages. A URL without a password is copied as is;
 * one that does not fit is cut. Returns out. */
char *cd_url_redact(const char *url, char *out, size_t cap);

/* UUIDs: the text form (8-4-4-4-12 hex digits) and its 16 bytes. */
#define CD_UUID_LEN 36 /* characters of the text form */
#define CD_UUID_BIN 16 /* its bytes */
typedef enum cd_uuid_case {
    CD_UUID_INVALID, /* not a UUID's text */
    CD_UUID_LOWER,   /* its letters in lower case (or no letters) */
    CD_UUID_UPPER,
    CD_UUID_MIXED,
} cd_uuid_case;

/* Parses s[0..len) as a UUID's text (exactly CD_UUID_LEN characters, either
 * case) into out (CD_UUID_BIN bytes; may be NULL: only checked). Returns
 * the case of its letters, CD_UUID_INVALID when it is not one (out is then
 * undefined). */
cd_uuid_case cd_uuid_parse(const char *s, size_t len, uint8_t *out);
/* True when s[0..len) is a UUID's text in either case (cd_uuid_parse). */
bool cd_uuid_valid(const char *s, size_t len);
/* Writes in's text form and a NUL into out (CD_UUID_LEN + 1 bytes), its
 * letters in upper case when upper. Returns out. */
char *cd_uuid_format(const uint8_t *in, bool upper, char *out);

#endif
