/*
 * Unit tests for the text buffer's escaping styles: Prometheus label values escape only
 * backslash, double quote and newline; JSON strings escape every control character; HTML
 * text escapes the five characters that could open markup or close an attribute.
 */
#include "tap.h"
#include "textbuf.h"

#include <stdlib.h>

static void test_label_value_escapes(void)
{
	TextBuf b = { 0 };
	textbuf_label_value(&b, "a\\b\"c\nd\te");
	CHECK_STR(b.data, "\"a\\\\b\\\"c\\nd\te\"");
	free(b.data);
}

static void test_json_string_escapes(void)
{
	TextBuf b = { 0 };
	textbuf_json_string(&b, "a\\b\"c\nd\te\x01");
	CHECK_STR(b.data, "\"a\\\\b\\\"c\\nd\\u0009e\\u0001\"");
	free(b.data);
}

static void test_invalid_utf8_replaced(void)
{
	TextBuf b = { 0 };
	/* valid: e-acute, euro sign, an emoji; invalid: a lone continuation, an overlong
	 * slash, a surrogate, a truncated sequence at the end */
	textbuf_label_value(&b, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|\x80|\xC0\xAF|\xED\xA0\x80|\xE2\x82");
	CHECK_STR(b.data, "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD|"
			  "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD\"");
	free(b.data);
}

static void test_html_escapes(void)
{
	TextBuf b = { 0 };
	textbuf_html(&b, "<script>alert(\"x\" & 'y')</script>\xC3\xA9\xFF");
	CHECK_STR(b.data, "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;\xC3\xA9\xEF\xBF\xBD");
	free(b.data);
}

static void test_printf_grows(void)
{
	TextBuf b = { 0 };
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	textbuf_printf(&b, "%s-%d", big, 7);
	CHECK(b.len == sizeof(big) - 1 + 2);
	CHECK(strcmp(b.data + sizeof(big) - 1, "-7") == 0);
	textbuf_str(&b, "!");
	CHECK(b.data[b.len - 1] == '!' && b.data[b.len] == 0);
	free(b.data);
}

static void check_decimal(unsigned long long n, unsigned digits, const char *want)
{
	TextBuf b = { 0 };
	textbuf_decimal(&b, n, digits);
	CHECK_STR(b.data, want);
	free(b.data);
}

static void test_decimal(void)
{
	check_decimal(0, 0, "0");
	check_decimal(0, 6, "0");
	check_decimal(1, 6, "0.000001");
	check_decimal(1500000, 6, "1.5");
	check_decimal(2000000, 6, "2");
	check_decimal(123456789, 3, "123456.789");
	check_decimal(18446744073709551615ULL, 0, "18446744073709551615");
	check_decimal(18446744073709551615ULL, 6, "18446744073709.551615");
}

int main(int argc, char **argv)
{
	static const TapTest tests[] = {
		{ "label_value_escapes", test_label_value_escapes },
		{ "json_string_escapes", test_json_string_escapes },
		{ "html_escapes", test_html_escapes },
		{ "printf_grows", test_printf_grows },
		{ "invalid_utf8_replaced", test_invalid_utf8_replaced },
		{ "decimal", test_decimal },
	};
	return tap_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
