/*
 * libFuzzer target for what a client sends first and how its byte stream is cut into
 * messages. The first input byte picks the mode:
 *
 *   'F' + verdict seed + stream: message framing. The stream is written into one end of
 *       a socketpair whose other end is a Conn driven by sbuf.c on a libevent loop, with
 *       a handler that, message by message, consumes (after asking for the whole
 *       message), skips or forwards (to no peer), as the seed byte and the message
 *       number choose; after the first message the Conn leaves startup framing, as
 *       client.c does. Invariants: the handler sees, in order, exactly the messages an
 *       independent reading of the stream's length words predicts (type, length,
 *       contents, contiguous offsets); the connection ends with the reason that reading
 *       predicts (bad startup packet length, bad packet length, message too large, a
 *       TLS ClientHello, or the peer closing); the Conn is freed by the sweep.
 *   anything else + packet: startup packet parsing (startup.h) of the rest as one whole
 *       startup-family packet. Invariants: the kind agrees with the code word; parameter
 *       pairs lie inside the packet and the reader moves exactly past them; the end or
 *       a bad pair is reported exactly when an independent scan of the NULs says so;
 *       every value read as an options parameter yields the settings an independent
 *       reading of "-c name=value" / "-cname=value" / "--name=value" (with backslash
 *       escapes) predicts.
 */
#include "fuzz_common.h"

#include <event2/event.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pg_wire.h"
#include "proto.h"
#include "sbuf.h"
#include "startup.h"

#define FUZZ_STARTUP_BUF 4096 /* sbuf buf_size and max_full_msg: small, so limits are hit */
#define FUZZ_STARTUP_TURNS 256

static struct event_base *fuzz_startup_base;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	signal(SIGPIPE, SIG_IGN);
	fuzz_startup_base = event_base_new();
	FUZZ_CHECK(fuzz_startup_base != NULL);
	sbuf_global_init(fuzz_startup_base, FUZZ_STARTUP_BUF, FUZZ_STARTUP_BUF);
	return 0;
}

/* ---- framing through sbuf ---- */

typedef struct FuzzFrame {
	Conn conn; /* first member: the handler gets a Conn * */
	const uint8_t *stream;
	size_t size;
	uint8_t seed;
	size_t off;          /* stream offset of the message being handled */
	unsigned index;      /* messages finished so far */
	bool want_full;      /* asked for the whole current message */
	bool asked_full;     /* the handler's last answer was SB_NEED_FULL */
	size_t last_avail;
	char reason[128];    /* why it ended ("" while open) */
	bool *freed;
} FuzzFrame;

/* The length an independent reading gives the message at off (-1: header incomplete). */
static int64_t fuzz_frame_len(const FuzzFrame *f, bool startup, bool *bad)
{
	const uint8_t *p = f->stream + f->off;
	size_t left = f->off < f->size ? f->size - f->off : 0;
	*bad = false;
	if (startup) {
		if (left < 4)
			return -1;
		uint32_t len = proto_read_be32(p);
		*bad = len < 8 || len > 10000;
		return len;
	}
	if (left < 5)
		return -1;
	uint32_t body = proto_read_be32(p + 1);
	*bad = body < 4 || body > 0x7ffffff0u;
	return (int64_t)body + 1;
}

static SbufVerdict fuzz_frame_on_message(Conn *conn, const SbufMsg *m)
{
	FuzzFrame *f = (FuzzFrame *)conn;
	bool bad;
	int64_t len = fuzz_frame_len(f, conn->startup, &bad);
	FUZZ_CHECK(f->reason[0] == '\0');
	FUZZ_CHECK(len >= 0 && !bad && m->len == (uint64_t)len);
	FUZZ_CHECK(m->type == (conn->startup ? 0 : f->stream[f->off]));
	FUZZ_CHECK(m->avail <= m->len && m->avail <= f->size - f->off);
	FUZZ_CHECK(m->avail >= (conn->startup ? 4u : 5u));
	FUZZ_CHECK(memcmp(m->data, f->stream + f->off, m->avail) == 0);
	if (f->asked_full)
		FUZZ_CHECK(m->avail > f->last_avail || m->avail == m->len);
	f->last_avail = m->avail;
	unsigned choice = (unsigned)(f->seed >> (2 * (f->index % 4))) & 3;
	if (choice <= 1 && m->avail < m->len) {
		f->asked_full = true;
		return SB_NEED_FULL;
	}
	f->asked_full = false;
	f->off += m->len;
	f->index++;
	conn->startup = false;
	return choice <= 1 ? SB_CONSUMED : choice == 2 ? SB_SKIP : SB_FORWARD;
}

/* The reason the stream must end with, from where the handler stopped. */
static const char *fuzz_frame_expected_end(const FuzzFrame *f)
{
	bool bad;
	if (f->size > 0 && f->stream[0] == 0x16)
		return "tls hello";
	if (f->off >= f->size)
		return "client closed connection"; /* also a skip cut short by the end */
	int64_t len = fuzz_frame_len(f, f->index == 0, &bad);
	if (len >= 0 && bad)
		return f->index == 0 ? "bad startup packet length" : "bad packet length";
	if (len >= 0 && f->asked_full && len > FUZZ_STARTUP_BUF)
		return "message too large";
	return "client closed connection";
}

/* The connection ended: the reason must be the one the stream predicts. */
static void fuzz_frame_end(FuzzFrame *f, const char *reason)
{
	FUZZ_CHECK(f->reason[0] == '\0');
	snprintf(f->reason, sizeof(f->reason), "%s", reason);
	FUZZ_CHECK(strcmp(reason, fuzz_frame_expected_end(f)) == 0);
	sbuf_close(&f->conn);
}

static void fuzz_frame_on_eof(Conn *conn, const char *reason)
{
	fuzz_frame_end((FuzzFrame *)conn, reason);
}

static void fuzz_frame_on_tls_hello(Conn *conn)
{
	fuzz_frame_end((FuzzFrame *)conn, "tls hello");
}

static void fuzz_frame_free(Conn *conn)
{
	FuzzFrame *f = (FuzzFrame *)conn;
	*f->freed = true;
	free(f);
}

static const SbufOps fuzz_frame_ops = {
	.on_message = fuzz_frame_on_message,
	.on_eof = fuzz_frame_on_eof,
	.on_tls_hello = fuzz_frame_on_tls_hello,
};

static void fuzz_frame_run(const uint8_t *data, size_t size)
{
	int sv[2];
	bool freed = false;
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	FuzzFrame *f = xcalloc(1, sizeof(*f));
	f->seed = size > 0 ? data[0] : 0;
	f->stream = size > 0 ? data + 1 : data;
	f->size = size > 0 ? size - 1 : 0;
	f->freed = &freed;
	f->conn.free_fn = fuzz_frame_free;
	f->conn.startup = true;
	sbuf_attach(&f->conn, sv[0], CONN_CLIENT, &fuzz_frame_ops);
	sbuf_start_reading(&f->conn);
	FUZZ_CHECK(f->size == 0 || write(sv[1], f->stream, f->size) == (ssize_t)f->size);
	shutdown(sv[1], SHUT_WR);
	for (int turn = 0; turn < FUZZ_STARTUP_TURNS && !freed; turn++)
		event_base_loop(fuzz_startup_base, EVLOOP_NONBLOCK);
	FUZZ_CHECK(freed);
	close(sv[1]);
}

/* ---- startup packet parsing ---- */

typedef struct FuzzOpt {
	char name[STARTUP_OPTIONS_MAX];
	char value[STARTUP_OPTIONS_MAX];
} FuzzOpt;

/*
 * The words of an options value: split at unescaped blanks, a backslash keeping the
 * next character (and dropped itself). Each word is written NUL-terminated into out.
 */
static int fuzz_opts_words(const char *options, char (*out)[STARTUP_OPTIONS_MAX], int max)
{
	size_t len = strnlen(options, STARTUP_OPTIONS_MAX - 1), i = 0;
	int n = 0;
	while (i < len) {
		if (options[i] == ' ' || options[i] == '\t') {
			i++;
			continue;
		}
		FUZZ_CHECK(n < max);
		size_t w = 0;
		while (i < len && options[i] != ' ' && options[i] != '\t') {
			if (options[i] == '\\')
				i++;
			if (i < len)
				out[n][w++] = options[i++];
		}
		out[n++][w] = '\0';
	}
	return n;
}

/*
 * The settings of an options value as documented: "-c" then a word, "-c" glued to it,
 * or "--"; each must hold '=' after a non-empty name; '-' in a name reads as '_'.
 * Returns the count, or -1 for a refused word.
 */
static int fuzz_opts_model(const char *options, FuzzOpt *out, int max)
{
	enum { MAX_WORDS = STARTUP_OPTIONS_MAX / 2 + 1 };
	static char words[MAX_WORDS][STARTUP_OPTIONS_MAX];
	int nw = fuzz_opts_words(options, words, MAX_WORDS), n = 0;
	for (int k = 0; k < nw; k++) {
		const char *set;
		if (strcmp(words[k], "-c") == 0) {
			if (++k == nw)
				return -1;
			set = words[k];
		} else if (strncmp(words[k], "-c", 2) == 0 || strncmp(words[k], "--", 2) == 0) {
			set = words[k] + 2;
		} else {
			return -1;
		}
		const char *eq = strchr(set, '=');
		if (!eq || eq == set)
			return -1;
		FUZZ_CHECK(n < max);
		size_t nlen = (size_t)(eq - set);
		for (size_t c = 0; c < nlen; c++)
			out[n].name[c] = set[c] == '-' ? '_' : set[c];
		out[n].name[nlen] = '\0';
		snprintf(out[n].value, sizeof(out[n].value), "%s", eq + 1);
		n++;
	}
	return n;
}

static void fuzz_opts_check(const char *options)
{
	enum { MAX_OPTS = STARTUP_OPTIONS_MAX / 2 };
	static FuzzOpt expect[MAX_OPTS];
	StartupOptions it;
	const char *name, *value;
	StartupOptResult res;
	int want = fuzz_opts_model(options, expect, MAX_OPTS), got = 0;
	startup_options_init(&it, options);
	while ((res = startup_options_next(&it, &name, &value)) == STARTUP_OPT_SETTING) {
		FUZZ_CHECK(name >= it.buf && name < it.buf + sizeof(it.buf));
		FUZZ_CHECK(value > name && value < it.buf + sizeof(it.buf));
		FUZZ_CHECK(got < MAX_OPTS);
		if (want >= 0) {
			FUZZ_CHECK(got < want);
			FUZZ_CHECK(strcmp(name, expect[got].name) == 0);
			FUZZ_CHECK(strcmp(value, expect[got].value) == 0);
		}
		got++;
	}
	FUZZ_CHECK(res == (want < 0 ? STARTUP_OPT_BAD : STARTUP_OPT_END));
	if (want >= 0)
		FUZZ_CHECK(got == want);
}

/* One parameter pair at r->pos, checked against a scan for the next two NULs. */
static StartupParamResult fuzz_param_next(PktReader *r)
{
	const char *name, *value;
	size_t pos = r->pos, left = proto_remaining(r);
	const uint8_t *at = r->data + pos;
	const uint8_t *nul1 = memchr(at, 0, left);
	const uint8_t *nul2 = nul1 ? memchr(nul1 + 1, 0, left - (size_t)(nul1 - at) - 1) : NULL;
	StartupParamResult res = startup_next_param(r, &name, &value);
	if (!nul1 || (nul1 != at && !nul2)) {
		FUZZ_CHECK(res == STARTUP_PARAM_BAD);
		return res;
	}
	if (nul1 == at) {
		FUZZ_CHECK(res == STARTUP_PARAM_END && r->pos == pos + 1);
		FUZZ_CHECK(name == (const char *)at);
		return res;
	}
	FUZZ_CHECK(res == STARTUP_PARAM_OK);
	FUZZ_CHECK(name == (const char *)at && value == (const char *)nul1 + 1);
	FUZZ_CHECK(r->pos == (size_t)(nul2 - r->data) + 1 && r->pos <= r->len);
	ReplicationKind kind;
	if (startup_replication_parse(value, &kind))
		FUZZ_CHECK(kind != REPLICATION_LOGICAL || strcmp(value, "database") == 0);
	fuzz_opts_check(value);
	return res;
}

static void fuzz_packet_run(const uint8_t *data, size_t size)
{
	uint8_t *pkt = fuzz_memdup(data, size);
	PktReader r;
	uint32_t code;
	proto_reader_init(&r, pkt, size);
	StartupKind kind = startup_classify(&r, &code);
	if (size < 8) {
		FUZZ_CHECK(kind == STARTUP_KIND_TRUNCATED);
		free(pkt);
		return;
	}
	FUZZ_CHECK(r.pos == 8 && code == proto_read_be32(pkt + 4));
	switch (code) {
	case PG_SSL_REQUEST_CODE:
		FUZZ_CHECK(kind == STARTUP_KIND_SSL);
		break;
	case PG_GSSENC_REQUEST_CODE:
		FUZZ_CHECK(kind == STARTUP_KIND_GSSENC);
		break;
	case PG_CANCEL_REQUEST_CODE:
		FUZZ_CHECK(kind == STARTUP_KIND_CANCEL);
		break;
	default:
		FUZZ_CHECK(kind == ((code >> 16) == 3 ? STARTUP_KIND_MESSAGE
						     : STARTUP_KIND_BAD_PROTOCOL));
	}
	if (kind == STARTUP_KIND_MESSAGE)
		while (fuzz_param_next(&r) == STARTUP_PARAM_OK)
			;
	free(pkt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] == 'F')
		fuzz_frame_run(data + 1, size - 1);
	else
		fuzz_packet_run(data + 1, size - 1);
	return 0;
}
