/*
 * Shared helpers for the libFuzzer targets in test/fuzz: the entry point prototypes,
 * quiet logging that still formats every message, an invariant check that aborts (so
 * libFuzzer saves the input), and copies of the fuzzer's buffer into exactly-sized heap
 * buffers, so ASan catches any read past the bytes the parser was given.
 */
#ifndef PGSPLIT_FUZZ_COMMON_H
#define PGSPLIT_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant is a finding: say which one, then abort so the input is kept. */
#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                                  \
			abort();                                                            \
		}                                                                           \
	} while (0)

/*
 * Log at the noisiest level but to no sink: every log call still runs its vsnprintf,
 * so a bad format argument is caught, while the fuzzer's output stays readable.
 */
static inline void fuzz_quiet_logging(void)
{
	log_configure(NULL, &(SyslogSettings){ 0 }, true, LOG_LVL_NOISE);
}

/* data[0..size) as a malloc'd NUL-terminated string of exactly size + 1 bytes. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* data[0..size) in a malloc'd buffer of exactly size bytes (no terminator). */
static inline uint8_t *fuzz_memdup(const uint8_t *data, size_t size)
{
	uint8_t *p = xmalloc(size);
	if (size)
		memcpy(p, data, size);
	return p;
}

/*
 * Split data at the first occurrence of byte sep: the first part is [0, *first_len), the
 * second starts after the separator. Without a separator the whole input is the first
 * part and the second is empty.
 */
static inline void fuzz_split(const uint8_t *data, size_t size, uint8_t sep, size_t *first_len,
			      const uint8_t **second, size_t *second_len)
{
	const uint8_t *hit = size ? memchr(data, sep, size) : NULL;
	*first_len = hit ? (size_t)(hit - data) : size;
	*second = hit ? hit + 1 : data + size;
	*second_len = size - (size_t)(*second - data);
}

/* Write data to path (truncating); false on any I/O error. */
static inline bool fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return false;
	bool ok = fwrite(data, 1, size, f) == size;
	return fclose(f) == 0 && ok;
}

#endif
