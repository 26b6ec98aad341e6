/*
 * Bounded reader over one received message: every getter checks the bytes remaining and
 * returns false instead of reading past the end. Never trust a wire length.
 */
#ifndef PGSPLIT_PROTO_H
#define PGSPLIT_PROTO_H

#include "common.h"

/*
 * The largest message the pooler reads whole in order to look inside it: a server's
 * error, notice or parameter report, a login message, a console command. Larger ones
 * are relayed in pieces or refused, so one message cannot grow a buffer without bound.
 */
#define PROTO_INSPECT_MAX 65536
/*
 * A client Query is read whole to look for the statements the pooler answers or rewrites
 * itself (SET pgsplit.min_lsn, DEALLOCATE) only up to this length; those are short.
 */
#define PROTO_SHORT_QUERY_MAX 512

typedef struct PktReader {
	const uint8_t *data;
	size_t len;
	size_t pos;
} PktReader;

static inline void proto_reader_init(PktReader *r, const uint8_t *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
}

static inline size_t proto_remaining(const PktReader *r)
{
	return r->len - r->pos;
}

bool proto_get_u8(PktReader *r, uint8_t *out) MUST_CHECK;
bool proto_get_u16(PktReader *r, uint16_t *out) MUST_CHECK;
bool proto_get_u32(PktReader *r, uint32_t *out) MUST_CHECK;
/* A NUL-terminated string inside the message; *out points into the message. */
bool proto_get_cstring(PktReader *r, const char **out) MUST_CHECK;
bool proto_get_bytes(PktReader *r, size_t n, const uint8_t **out) MUST_CHECK;

static inline uint32_t proto_read_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Find field `code` (e.g. 'C' for SQLSTATE, 'M' message) in an ErrorResponse/NoticeResponse body. */
const char *proto_error_field(const uint8_t *body, size_t len, char code);

#endif
