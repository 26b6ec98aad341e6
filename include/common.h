/*
 * Small compiler helpers and basic types shared by every module. Nothing here knows
 * about PostgreSQL, sockets or pools.
 */
#ifndef PGSPLIT_COMMON_H
#define PGSPLIT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define UNUSED __attribute__((unused))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
/* SHOW VERSION and the first line of --version: what version parsers look for first. */
#define PGSPLIT_VERSION_STRING "PgBouncer 1.25.0 compatible (pgsplit " PGSPLIT_VERSION ")"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Time in microseconds; all timeouts and timestamps use it. */
typedef int64_t usec_t;
#define USEC_PER_SEC ((usec_t)1000000)

/* Monotonic and wall clocks in microseconds. */
usec_t time_now_mono(void);
usec_t time_now_wall(void);
/*
 * Monotonic time as of the current event-loop turn: the clock is read once per turn,
 * however many messages the turn handles. For per-message bookkeeping (statistics,
 * idle and wait timestamps); time_now_mono() where the exact instant matters.
 */
usec_t time_now_loop(void);
/* The main loop calls this after each turn so the next turn reads the clock again. */
void time_loop_turn_done(void);

/* Allocation that aborts on out-of-memory: the pooler cannot continue without it. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
/* The first len bytes of s (which has at least that many), NUL-terminated. */
char *xstrndup(const char *s, size_t len);

/*
 * Invariant checks for debug and sanitizer builds (configure --enable-debug or
 * --enable-asan define PGSPLIT_ASSERTS): a false condition prints "assertion failed" with
 * the place and aborts, so a broken state machine stops where it breaks instead of
 * corrupting a list that fails later. In other builds the condition is not evaluated, so
 * it must have no side effects.
 */
#ifdef PGSPLIT_ASSERTS
#define PGSPLIT_ASSERT(cond) ((cond) ? (void)0 : pgsplit_assert_failed(#cond, __FILE__, __LINE__))
#else
#define PGSPLIT_ASSERT(cond) ((void)(0 && (cond)))
#endif
__attribute__((noreturn)) void pgsplit_assert_failed(const char *cond, const char *file, int line);

#endif
