/* Growing text buffer with the two quoting styles the HTTP endpoint needs. */
#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void textbuf_reserve(TextBuf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	b->cap = (b->len + more + 1) * 2;
	if (b->cap < 4096)
		b->cap = 4096;
	b->data = xrealloc(b->data, b->cap);
}

void textbuf_put(TextBuf *b, const char *s, size_t n)
{
	textbuf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

void textbuf_str(TextBuf *b, const char *s)
{
	textbuf_put(b, s, strlen(s));
}

void textbuf_printf(TextBuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[128];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		textbuf_put(b, small, (size_t)n);
		return;
	}
	textbuf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Copy s quoted; escape_all: JSON, where every control character needs an escape. */
static void put_escaped(TextBuf *b, const char *s, bool escape_all)
{
	textbuf_put(b, "\"", 1);
	const char *run = s;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c != '\\' && c != '"' && c != '\n' && (!escape_all || c >= 0x20))
			continue;
		textbuf_put(b, run, (size_t)(p - run));
		run = p + 1;
		if (c == '\n')
			textbuf_put(b, "\\n", 2);
		else if (c == '\\' || c == '"') {
			char esc[2] = { '\\', (char)c };
			textbuf_put(b, esc, 2);
		} else
			textbuf_printf(b, "\\u%04x", c);
	}
	textbuf_put(b, run, strlen(run));
	textbuf_put(b, "\"", 1);
}

void textbuf_label_value(TextBuf *b, const char *s)
{
	put_escaped(b, s, false);
}

void textbuf_json_string(TextBuf *b, const char *s)
{
	put_escaped(b, s, true);
}

void textbuf_decimal(TextBuf *b, unsigned long long n, unsigned digits)
{
	char tmp[48];
	int at = (int)sizeof(tmp);
	bool significant = false;
	for (unsigned i = 0; i < digits && i < 24; i++, n /= 10) {
		char d = (char)('0' + n % 10);
		significant = significant || d != '0';
		if (significant)
			tmp[--at] = d;
	}
	if (significant)
		tmp[--at] = '.';
	do {
		tmp[--at] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	textbuf_put(b, tmp + at, sizeof(tmp) - (size_t)at);
}
