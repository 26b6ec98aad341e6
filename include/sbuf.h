/*
 * Stream buffer: the non-blocking I/O of one connection (client or server) on libevent.
 * It reads into a bounded input buffer, cuts the byte stream into PostgreSQL messages by
 * reading only their headers, and asks the owner's handler for a verdict per message:
 * forward it to the linked connection (streamed, never buffered whole), skip it, wait
 * until it is complete, consume it, or pause. Output is a queue flushed with write();
 * when a linked connection's queue passes a high-water mark the source stops reading, so
 * memory per connection stays bounded. It knows nothing about PostgreSQL semantics.
 */
#ifndef PGSPLIT_SBUF_H
#define PGSPLIT_SBUF_H

#include "common.h"
#include "list.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct Conn Conn;

typedef enum {
	SB_FORWARD,   /* stream the whole message to conn->link (dropped if no link) */
	SB_SKIP,      /* drop the whole message */
	SB_NEED_FULL, /* call again when the whole message is buffered */
	SB_CONSUMED,  /* the handler used the (complete) message; drop it */
	SB_PAUSE,     /* keep the message buffered and stop reading until sbuf_resume() */
	SB_WAIT_MORE, /* keep it and call again when more bytes arrived (looks past it) */
	SB_STOP,      /* the handler closed or re-plumbed the connection: stop now */
} SbufVerdict;

typedef struct SbufMsg {
	uint8_t type;        /* 0 for startup-family packets, which have no type byte */
	uint32_t len;        /* whole message incl. type byte and length field */
	const uint8_t *data; /* start of the message */
	size_t avail;        /* bytes of it buffered now (<= len) */
} SbufMsg;

typedef struct SbufOps {
	SbufVerdict (*on_message)(Conn *conn, const SbufMsg *msg);
	/* the remote end closed, or a read/write error; the handler must close conn */
	void (*on_eof)(Conn *conn, const char *reason);
	/* conn's output queue became empty (its linked connection may read again) */
	void (*on_drained)(Conn *conn);
	/* the TLS handshake finished (NULL: nothing to do) */
	void (*on_tls_ready)(Conn *conn);
	/* a new connection opens with a TLS ClientHello (direct TLS); NULL: treat as bytes */
	void (*on_tls_hello)(Conn *conn);
} SbufOps;

/* 32-bit offsets keep the struct small; the buffer and message limits stay far below. */
#define IOQ_MAX ((size_t)1 << 31)

typedef struct IoQueue {
	uint8_t *data;  /* owned */
	uint32_t start; /* first unconsumed byte */
	uint32_t end;   /* one past the last byte */
	uint32_t cap;
} IoQueue;

typedef enum { CONN_CLIENT, CONN_SERVER } ConnKind;

/*
 * The remote address, TCP v4 or v6 in place. A unix socket's remote end keeps only its family
 * (AF_UNIX): its path is not needed per client, and a server keeps its own copy of the
 * address it connects to (server.h).
 */
typedef union ConnAddr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
} ConnAddr;

struct Conn {
	int fd;
	ConnKind kind;
	uint64_t id;
	const SbufOps *ops;
	/* also the one-shot connect / SSL-answer event of a server before sbuf_attach */
	struct event ev_read;
	/*
	 * Made on the first write the socket does not take whole (rare for a client), so an
	 * idle client does not carry a second event inline.
	 */
	struct event *ev_write;
	bool read_armed;   /* ev_read is added */
	bool write_armed;  /* ev_write is added */
	bool startup;      /* messages have no type byte yet */
	bool paused;       /* handler asked to stop processing input */
	bool paused_full;  /* input arrived while paused: stop watching the socket too */
	bool blocked;      /* stopped reading because the linked connection's output is full */
	bool closing;      /* closed; memory freed by the end-of-loop sweep */
	bool processing;   /* inside sbuf_process: a resume must not re-enter it */
	bool suspended;    /* SUSPEND: not read until RESUME (independent of paused) */
	bool tls_handshaking; /* TLS handshake in progress: events drive it, not messages */
	bool fwd_drop;     /* the current message is being dropped */
	struct TlsConn *tls;  /* owned; NULL for plain connections */
	IoQueue in;
	IoQueue out;
	uint32_t fwd_left; /* bytes of the current message still to stream or drop */
	uint32_t drop_prefix; /* SB_FORWARD: first drop this many bytes (the handler sent a rewrite) */
	Conn *link;        /* the linked connection (client <-> server), or NULL */
	ConnAddr addr;       /* remote address (see ConnAddr) */
	socklen_t addr_len;
	int port;
	char addr_text[56];  /* remote address (or a server's host name, cut) for logs and SHOW */
	usec_t connect_time; /* wall clock */
	usec_t request_time; /* monotonic: last message seen */
	uint64_t bytes_recv;
	uint64_t bytes_sent;
	List sweep_node;
	void (*free_fn)(Conn *conn); /* owner's destructor, run by the sweep */
};

void sbuf_global_init(struct event_base *base, size_t buf_size, size_t max_full_msg);
void sbuf_set_limits(size_t buf_size, size_t max_full_msg);
/*
 * sbuf_loopcnt: how many reads one connection gets per wakeup while its socket has more,
 * so a connection streaming a large result does not hold the loop; 0 means no limit.
 */
void sbuf_set_loop_limit(int reads_per_wakeup);

/* Take over an fd (already non-blocking) and start reading. */
void sbuf_attach(Conn *conn, int fd, ConnKind kind, const SbufOps *ops);
/* Remember the remote end's address (a unix socket's as its family only). */
void sbuf_set_addr(Conn *conn, const struct sockaddr *sa, socklen_t len);
void sbuf_start_reading(Conn *conn);
/* Queue bytes for sending; sbuf_flush writes what the socket takes now. */
void sbuf_queue(Conn *conn, const void *data, size_t len);
void sbuf_flush(Conn *conn);
/* Stop reading (the current message stays buffered) / start again and re-offer it. */
void sbuf_pause(Conn *conn);
void sbuf_resume(Conn *conn);
/* SUSPEND / RESUME: stop or restart reading without touching the handler's pause. */
void sbuf_suspend(Conn *conn, bool on);
/*
 * Switch the connection to TLS as the accepting side (after answering 'S' to an
 * SSLRequest). The handshake runs on socket events; messages flow again once it is done.
 */
void sbuf_start_tls(Conn *conn, SSL_CTX *ctx);
/* The same as the connecting side (to a PostgreSQL server); host for SNI and verify-full. */
bool sbuf_start_tls_client(Conn *conn, SSL_CTX *ctx, const char *host) MUST_CHECK;
/* Process what is buffered (after link changes). */
void sbuf_kick(Conn *conn);
/* Put bytes back in front of the unprocessed input: they are read again, first. */
void sbuf_unread(Conn *conn, const void *data, size_t len);
/* How far the input has been consumed: bytes received, less those buffered or put back. */
uint64_t sbuf_input_position(const Conn *conn);
/*
 * Put back the last len bytes consumed (data, a copy of them), also when the message they
 * end in was being streamed on in pieces: that message is offered again from its start.
 */
void sbuf_rewind(Conn *conn, const void *data, size_t len);
/* Drop n bytes of unprocessed input (a handler that consumed its message and stops). */
void sbuf_consume_current(Conn *conn, size_t n);
/* The unprocessed input, starting at the current message. */
void sbuf_peek(const Conn *conn, const uint8_t **data, size_t *len);
/* Bytes buffered but not yet processed. */
size_t sbuf_pending_input(const Conn *conn);
/* Whether a message of len bytes can be held whole. */
bool sbuf_can_hold(const Conn *conn, uint32_t len);
/* Close the socket now and queue the object for freeing at the end of the loop. */
/* The local end of the socket: numeric address and port, "unix" (port 0), or "" if unknown. */
void conn_local_addr(const Conn *conn, char *buf, size_t len, int *port);
/* Whole seconds since the connection was made, for the "(age=Ns)" of log lines. */
long long conn_age_seconds(const Conn *conn);
void sbuf_close(Conn *conn);
/* Free everything queued by sbuf_close. Called once per loop iteration. */
void sbuf_sweep(void);

#endif
