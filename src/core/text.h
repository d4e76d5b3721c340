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

#endif
