/*
 * text.h — checks on user-supplied text shared by every role: strict UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) and no
 * control characters.
 */
#ifndef CHATD_TEXT_H
#define CHATD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is valid UTF-8 without C0 controls or DEL; with
 * allow_newlines, '\n', '\r' and '\t' are accepted (message bodies). */
bool cd_text_is_clean(const char *s, size_t len, bool allow_newlines);

/* Copies the URL `url` into out (cap bytes, always terminated) with the
 * password of its userinfo ("scheme://user:secret@host") replaced by "***",
 * for logs and error messages. A URL without a password is copied as is;
 * one that does not fit is cut. Returns out. */
char *cd_url_redact(const char *url, char *out, size_t cap);

#endif
