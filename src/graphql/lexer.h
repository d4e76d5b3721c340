/*
 * lexer.h — GraphQL lexer (engine-private; used by parser.c and tests).
 *
 * The lexer takes (buf, len), allocates nothing and hands back tokens as byte
 * ranges of the caller's buffer with 1-based line/column locations. Columns
 * count UTF-16 code units like graphql-js, so error locations match the
 * reference implementation for non-ASCII text too. Strings are fully
 * validated while lexing (escapes, UTF-8, unicode scalar values); their
 * decoded value is produced on demand by gql_lex_string_value() into a
 * caller buffer that is never larger than the token itself.
 *
 * Errors: gql_lex_next() returns CD_EBAD and fills *err with a graphql-js
 * style message ("Syntax Error: Unterminated string.") and its location.
 */
#ifndef CHATD_GQL_LEXER_H
#define CHATD_GQL_LEXER_H

#include <stddef.h>
#include <stdint.h>

#include "graphql/ast.h"

typedef enum gql_tok_kind {
    GQL_TOK_SOF = 0, /* never returned by gql_lex_next; initial parser state */
    GQL_TOK_EOF,
    GQL_TOK_BANG,      /* ! */
    GQL_TOK_DOLLAR,    /* $ */
    GQL_TOK_AMP,       /* & */
    GQL_TOK_PAREN_L,   /* ( */
    GQL_TOK_PAREN_R,   /* ) */
    GQL_TOK_SPREAD,    /* ... */
    GQL_TOK_COLON,     /* : */
    GQL_TOK_EQUALS,    /* = */
    GQL_TOK_AT,        /* @ */
    GQL_TOK_BRACKET_L, /* [ */
    GQL_TOK_BRACKET_R, /* ] */
    GQL_TOK_BRACE_L,   /* { */
    GQL_TOK_PIPE,      /* | */
    GQL_TOK_BRACE_R,   /* } */
    GQL_TOK_NAME,
    GQL_TOK_INT,
    GQL_TOK_FLOAT,
    GQL_TOK_STRING,
    GQL_TOK_BLOCK_STRING,
    GQL_TOK_COUNT
} gql_tok_kind;

typedef struct gql_token {
    uint8_t kind;    /* gql_tok_kind */
    uint8_t escaped; /* STRING: contains escapes (value differs from the raw text) */
    uint32_t start;  /* byte offset of the token's first byte */
    uint32_t end;    /* byte offset just past the token */
    gql_loc loc;     /* of the first byte */
} gql_token;

typedef struct gql_lexer {
    const char *src; /* read-only */
    size_t len;
    size_t pos;            /* private: next byte to read */
    size_t line_start;     /* private: offset of the current line's first byte */
    uint32_t line;         /* private: current 1-based line */
    uint32_t adj;          /* private: bytes minus UTF-16 units since line_start */
    gql_syntax_error *err; /* where errors are written (never NULL) */
} gql_lexer;

/* The input must be shorter than 4 GiB (the parser enforces much less). */
void gql_lexer_init(gql_lexer *lx, const char *src, size_t len, gql_syntax_error *err);
/* Reads the next token (skipping ignored tokens: BOM, whitespace, line
 * terminators, commas, comments). At the end returns EOF tokens forever.
 * Returns 0 or CD_EBAD (message and location in lx->err). */
int gql_lex_next(gql_lexer *lx, gql_token *tok);
/* Decoded value of a STRING or BLOCK_STRING token (escapes resolved, block
 * strings dedented per the spec's BlockStringValue()). dst must have room for
 * (tok->end - tok->start) bytes; returns the value's length. Not
 * NUL-terminated. The token must come from this lexer's source. */
size_t gql_lex_string_value(const gql_lexer *lx, const gql_token *tok, char *dst);
/* Decodes one UTF-8 encoded Unicode scalar value from s[0..n). Returns its
 * byte length (1..4) and the code point in *cp, or 0 when the bytes are not
 * valid UTF-8 (overlong, surrogate, > U+10FFFF, truncated). Shared with the
 * JSON reader/writer. */
int gql_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encodes a scalar value as UTF-8 into out (room for 4); returns the length. */
int gql_utf8_encode(uint32_t cp, char *out);
/* Copies source text for use inside an error message: at most cap-1 bytes,
 * never splitting a UTF-8 sequence, NUL bytes shown as U+FFFD (messages are
 * C strings). Returns the length written; dst is NUL-terminated. */
size_t gql_lex_msg_text(char *dst, size_t cap, const char *s, size_t n);
/* "Name", "Int", "\"{\"", "<EOF>" ... as graphql-js names token kinds. */
const char *gql_tok_kind_desc(int kind);

#endif
