/* A growing text buffer for replies built piece by piece (metrics, health, the status page). */
#ifndef PGSPLIT_TEXTBUF_H
#define PGSPLIT_TEXTBUF_H

#include "common.h"

#include <stddef.h>
#include <string.h>

typedef struct TextBuf {
	char *data; /* owned; NUL-terminated once anything was added */
	size_t len;
	size_t cap;
} TextBuf;

/* Room for `more` bytes (and the NUL) without another allocation. */
void textbuf_reserve(TextBuf *b, size_t more);

/* Inline: /metrics calls it several times per sample, tens of thousands of times a scrape. */
static inline void textbuf_put(TextBuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
		textbuf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

void textbuf_str(TextBuf *b, const char *s);
void textbuf_printf(TextBuf *b, const char *fmt, ...) PRINTF(2, 3);
/*
 * n / 10^digits in decimal, exactly, without trailing zeros in the fraction: microseconds
 * as seconds with digits 6, plain integers with 0. No printf (it is called per sample).
 */
void textbuf_decimal(TextBuf *b, unsigned long long n, unsigned digits);
/*
 * s inside double quotes, escaped as a Prometheus label value: \\, \" and \n. Both
 * quoting functions write bytes that are not UTF-8 as U+FFFD.
 */
void textbuf_label_value(TextBuf *b, const char *s);
/* s as a JSON string: those three and every other control character escaped. */
void textbuf_json_string(TextBuf *b, const char *s);
/* s escaped for HTML text or a quoted attribute value (& < > " '), unquoted. */
void textbuf_html(TextBuf *b, const char *s);

#endif
