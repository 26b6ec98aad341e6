/*
 * Tests for sbuf.c's reads per wakeup (sbuf_loopcnt) on a real event_base and a
 * socketpair: with 100 messages of 1,000 bytes waiting and a 16 KiB input buffer, one
 * wakeup handles one buffer's worth per allowed read, 0 reads until the socket is empty,
 * and what a limit leaves behind is handled on the following wakeups.
 */
#include "sbuf.h"

#include "tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define N_MSGS 100
#define MSG_LEN 1000
#define BUF_SIZE 16384

static int handled;

static SbufVerdict count_message(Conn *conn, const SbufMsg *msg)
{
	(void)conn;
	if (msg->avail < msg->len)
		return SB_NEED_FULL;
	handled++;
	return SB_CONSUMED;
}

static void on_eof(Conn *conn, const char *reason)
{
	(void)reason;
	conn->closing = true;
}

static const SbufOps counting_ops = { .on_message = count_message, .on_eof = on_eof };

/* N_MSGS typed messages of MSG_LEN bytes each, written into the peer end at once. */
static void write_messages(int fd)
{
	static uint8_t all[N_MSGS * MSG_LEN];
	for (int i = 0; i < N_MSGS; i++) {
		uint8_t *m = all + i * MSG_LEN;
		uint32_t len = htonl(MSG_LEN - 1);
		m[0] = 'd';
		memcpy(m + 1, &len, 4);
		memset(m + 5, 'x', MSG_LEN - 5);
	}
	CHECK(write(fd, all, sizeof(all)) == (ssize_t)sizeof(all));
}

/* Messages handled in the first wakeup with this limit, and after `more` wakeups. */
static void run_with_limit(int limit, int *first, int *after, int more)
{
	static struct event_base *base;
	if (!base) {
		base = event_base_new();
		sbuf_global_init(base, BUF_SIZE, 1 << 20);
	}
	int sv[2];
	int big = 1 << 20;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	sbuf_set_loop_limit(limit);
	Conn c;
	memset(&c, 0, sizeof(c));
	sbuf_attach(&c, sv[0], CONN_SERVER, &counting_ops);
	write_messages(sv[1]);
	handled = 0;
	sbuf_start_reading(&c);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	*first = handled;
	for (int i = 0; i < more; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	*after = handled;
	event_del(&c.ev_read);
	close(sv[0]);
	close(sv[1]);
	free(c.in.data);
}

static void test_one_read_per_wakeup(void)
{
	int first, after;
	run_with_limit(1, &first, &after, 20);
	/* one read fills the 16 KiB buffer once: 16 whole messages */
	CHECK(first >= 15 && first <= 17);
	CHECK(after == N_MSGS);
}

static void test_limit_scales_the_share(void)
{
	int one, three, after;
	run_with_limit(1, &one, &after, 0);
	run_with_limit(3, &three, &after, 20);
	CHECK(three >= 3 * one - 2 && three < N_MSGS);
	CHECK(after == N_MSGS);
}

static void test_zero_means_no_limit(void)
{
	int first, after;
	run_with_limit(0, &first, &after, 0);
	CHECK(first == N_MSGS);
}

TAP_MAIN({ "one_read_per_wakeup", test_one_read_per_wakeup },
	 { "limit_scales_the_share", test_limit_scales_the_share },
	 { "zero_means_no_limit", test_zero_means_no_limit })
