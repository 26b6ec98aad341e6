/*
 * A tiny TAP harness for unit tests. Each test file defines test functions and lists them
 * in a table passed to tap_main(); an optional argv[1] filters tests by substring.
 * CHECK records one assertion; a test function may make many.
 */
#ifndef PGSPLIT_TAP_H
#define PGSPLIT_TAP_H

#include <stdio.h>
#include <string.h>
#include <stdbool.h>

typedef struct TapTest {
	const char *name;
	void (*fn)(void);
} TapTest;

static int tap_count;
static int tap_failed;

static inline void tap_check(bool ok, const char *expr, const char *file, int line)
{
	tap_count++;
	if (ok) {
		printf("ok %d - %s\n", tap_count, expr);
	} else {
		tap_failed++;
		printf("not ok %d - %s (%s:%d)\n", tap_count, expr, file, line);
	}
}

#define CHECK(expr) tap_check((expr) ? true : false, #expr, __FILE__, __LINE__)
#define CHECK_MSG(expr, msg) tap_check((expr) ? true : false, msg, __FILE__, __LINE__)
#define CHECK_STR(a, b) \
	tap_check(((a) != NULL && (b) != NULL && strcmp((a), (b)) == 0), #a " == " #b, __FILE__, __LINE__)

static inline int tap_main(int argc, char **argv, const TapTest *tests, size_t n_tests)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	for (size_t i = 0; i < n_tests; i++) {
		if (filter && !strstr(tests[i].name, filter))
			continue;
		printf("# %s\n", tests[i].name);
		tests[i].fn();
	}
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#define TAP_MAIN(...)                                                              \
	int main(int argc, char **argv)                                            \
	{                                                                          \
		static const TapTest tests[] = { __VA_ARGS__ };                    \
		return tap_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0])); \
	}

#endif
