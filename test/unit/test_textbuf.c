/*
 * Unit tests for the text buffer's two quoting styles: Prometheus label values escape
 * only backslash, double quote and newline; JSON strings escape every control character.
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

int main(int argc, char **argv)
{
	static const TapTest tests[] = {
		{ "label_value_escapes", test_label_value_escapes },
		{ "json_string_escapes", test_json_string_escapes },
		{ "printf_grows", test_printf_grows },
	};
	return tap_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
