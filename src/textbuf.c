/* Growing text buffer with the escaping styles the HTTP endpoint needs. */
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

/*
 * Length of the valid UTF-8 sequence at p (1 to 4), or 0 if it is not one: a label value
 * or JSON string with invalid UTF-8 makes the whole answer unreadable to its parser.
 */
static int utf8_sequence(const unsigned char *p)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
	/* the second byte's range excludes overlong forms, surrogates and code points past U+10FFFF */
	unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
	unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
	if (n == 0 || p[1] < lo || p[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/* The escape of c in a label value or JSON string, or NULL when c stays as it is. */
static const char *quoted_escape(unsigned char c, bool escape_all, char *buf)
{
	if (c == '\\')
		return "\\\\";
	if (c == '"')
		return "\\\"";
	if (c == '\n')
		return "\\n";
	if (escape_all && c < 0x20) {
		snprintf(buf, 8, "\\u%04x", c);
		return buf;
	}
	return NULL;
}

static const char *label_escape(unsigned char c, char *buf)
{
	return quoted_escape(c, false, buf);
}

static const char *json_escape(unsigned char c, char *buf)
{
	return quoted_escape(c, true, buf);
}

/* HTML's five: enough for text and for attribute values in either quotes. */
static const char *html_escape(unsigned char c, char *buf)
{
	(void)buf;
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	default:
		return NULL;
	}
}

/* Copy s with escape_of's escapes; bytes that are not UTF-8 become U+FFFD. */
static void put_escaped(TextBuf *b, const char *s, const char *(*escape_of)(unsigned char c, char *buf))
{
	const unsigned char *p = (const unsigned char *)s, *run = p;
	char buf[8];
	while (*p) {
		int n = utf8_sequence(p);
		const char *esc = n == 1 ? escape_of(*p, buf) : NULL;
		if (n > 1 || (n == 1 && !esc)) {
			p += n;
			continue;
		}
		textbuf_put(b, (const char *)run, (size_t)(p - run));
		textbuf_str(b, esc ? esc : "\xEF\xBF\xBD");
		run = ++p;
	}
	textbuf_put(b, (const char *)run, (size_t)(p - run));
}

void textbuf_label_value(TextBuf *b, const char *s)
{
	textbuf_put(b, "\"", 1);
	put_escaped(b, s, label_escape);
	textbuf_put(b, "\"", 1);
}

void textbuf_json_string(TextBuf *b, const char *s)
{
	textbuf_put(b, "\"", 1);
	put_escaped(b, s, json_escape);
	textbuf_put(b, "\"", 1);
}

void textbuf_html(TextBuf *b, const char *s)
{
	put_escaped(b, s, html_escape);
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
