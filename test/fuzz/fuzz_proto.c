/*
 * libFuzzer target for the wire codec: the bounded PktReader getters and
 * proto_error_field (proto.h), and the PktBuf writers (pktbuf.h) checked by reading
 * their output back. Input: one mode byte, then
 *   'R' reader: a count byte, that many opcode bytes, then the message body the opcodes
 *       read from (in an exactly-sized heap buffer); every error field code is looked up;
 *   'W' writer: '\n'-separated strings written as ErrorResponse, ParameterStatus, DataRow
 *       and SASLInitialResponse into a PktBuf whose size limit also comes from the input,
 *       then parsed back and compared.
 * Any other mode byte picks one by its parity.
 */
#include "fuzz_common.h"

#include "pg_wire.h"
#include "pktbuf.h"
#include "proto.h"

#define FUZZ_PROTO_MAX_OPS 64
#define FUZZ_PROTO_MAX_STRINGS 8

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	return 0;
}

/* ---- reader ---- */

/* A string the reader returned must lie inside the body and end with its NUL there. */
static void fuzz_proto_check_inside(const uint8_t *body, size_t len, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	FUZZ_CHECK(p >= body && p < body + len);
	FUZZ_CHECK(memchr(p, '\0', (size_t)(body + len - p)) != NULL);
}

/* Run one opcode: low 3 bits pick the getter, the high 5 the byte count for get_bytes. */
static void fuzz_proto_op(PktReader *r, uint8_t op)
{
	size_t before = r->pos, left = proto_remaining(r), want;
	const uint8_t *bytes;
	const char *s;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	bool ok;

	switch (op & 7) {
	case 0:
		ok = proto_get_u8(r, &u8);
		FUZZ_CHECK(!ok || u8 == r->data[before]);
		want = 1;
		break;
	case 1:
		ok = proto_get_u16(r, &u16);
		FUZZ_CHECK(!ok || u16 == ((r->data[before] << 8) | r->data[before + 1]));
		want = 2;
		break;
	case 2:
		ok = proto_get_u32(r, &u32);
		FUZZ_CHECK(!ok || u32 == proto_read_be32(r->data + before));
		want = 4;
		break;
	case 3: {
		const uint8_t *nul = memchr(r->data + before, '\0', left);
		want = nul ? (size_t)(nul - (r->data + before)) + 1 : left + 1;
		ok = proto_get_cstring(r, &s);
		FUZZ_CHECK(!ok || s == (const char *)r->data + before);
		break;
	}
	default:
		want = op >> 3 == 31 ? SIZE_MAX : (size_t)(op >> 3) * (op & 1 ? 16 : 1);
		ok = proto_get_bytes(r, want, &bytes);
		FUZZ_CHECK(!ok || bytes == r->data + before);
		break;
	}
	FUZZ_CHECK(r->pos <= r->len);
	FUZZ_CHECK(ok == (want <= left));
	FUZZ_CHECK(r->pos == (ok ? before + want : before));
}

static void fuzz_proto_reader(const uint8_t *data, size_t size)
{
	PktReader r;
	if (size < 1)
		return;
	size_t nops = data[0] % FUZZ_PROTO_MAX_OPS;
	if (nops > size - 1)
		nops = size - 1;
	const uint8_t *ops = data + 1;
	size_t len = size - 1 - nops;
	uint8_t *body = fuzz_memdup(data + 1 + nops, len);

	proto_reader_init(&r, body, len);
	for (size_t i = 0; i < nops; i++)
		fuzz_proto_op(&r, ops[i]);
	for (int code = 0; code < 256; code++) {
		const char *v = proto_error_field(body, len, (char)code);
		if (v)
			fuzz_proto_check_inside(body, len, v);
	}
	free(body);
}

/* ---- writers, read back ---- */

/* Check the framing of the message at *pos (type byte + length) and step past it. */
static bool fuzz_proto_next_msg(const PktBuf *pb, size_t *pos, uint8_t type, PktReader *body)
{
	uint32_t len;
	if (pb->len - *pos < 5 || pb->data[*pos] != type)
		return false;
	len = proto_read_be32(pb->data + *pos + 1);
	if (len < 4 || len > pb->len - *pos - 1)
		return false;
	proto_reader_init(body, pb->data + *pos + 5, len - 4);
	*pos += 1 + len;
	return true;
}

static void fuzz_proto_check_error(const PktBuf *pb, size_t *pos, char *const *str)
{
	PktReader r;
	FUZZ_CHECK(fuzz_proto_next_msg(pb, pos, PG_MSG_ERROR_RESPONSE, &r));
	const char *sev = proto_error_field(r.data, r.len, 'S');
	const char *code = proto_error_field(r.data, r.len, 'C');
	const char *msg = proto_error_field(r.data, r.len, 'M');
	FUZZ_CHECK(sev && strcmp(sev, str[0]) == 0);
	FUZZ_CHECK(code && strcmp(code, str[1]) == 0);
	FUZZ_CHECK(msg && strcmp(msg, str[2]) == 0);
	FUZZ_CHECK(r.data[r.len - 1] == '\0');
}

static void fuzz_proto_check_param(const PktBuf *pb, size_t *pos, char *const *str)
{
	PktReader r;
	const char *name, *value;
	FUZZ_CHECK(fuzz_proto_next_msg(pb, pos, PG_MSG_PARAMETER_STATUS, &r));
	FUZZ_CHECK(proto_get_cstring(&r, &name) && strcmp(name, str[3]) == 0);
	FUZZ_CHECK(proto_get_cstring(&r, &value) && strcmp(value, str[4]) == 0);
	FUZZ_CHECK(proto_remaining(&r) == 0);
}

static void fuzz_proto_check_row(const PktBuf *pb, size_t *pos, const char *const *row, int n)
{
	PktReader r;
	uint16_t ncols;
	uint32_t flen;
	const uint8_t *v;
	FUZZ_CHECK(fuzz_proto_next_msg(pb, pos, PG_MSG_DATA_ROW, &r));
	FUZZ_CHECK(proto_get_u16(&r, &ncols) && ncols == n);
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(proto_get_u32(&r, &flen));
		if (!row[i]) {
			FUZZ_CHECK(flen == 0xffffffffu);
			continue;
		}
		FUZZ_CHECK(flen == strlen(row[i]) && proto_get_bytes(&r, flen, &v));
		FUZZ_CHECK(memcmp(v, row[i], flen) == 0);
	}
	FUZZ_CHECK(proto_remaining(&r) == 0);
}

static void fuzz_proto_check_sasl(const PktBuf *pb, size_t *pos, const uint8_t *raw, size_t n)
{
	PktReader r;
	const char *mech;
	uint32_t len;
	const uint8_t *v;
	FUZZ_CHECK(fuzz_proto_next_msg(pb, pos, PG_MSG_PASSWORD, &r));
	FUZZ_CHECK(proto_get_cstring(&r, &mech) && strcmp(mech, "SCRAM-SHA-256") == 0);
	FUZZ_CHECK(proto_get_u32(&r, &len) && len == n && proto_get_bytes(&r, n, &v));
	FUZZ_CHECK(n == 0 || memcmp(v, raw, n) == 0);
	FUZZ_CHECK(proto_remaining(&r) == 0);
}

static void fuzz_proto_writer(const uint8_t *data, size_t size)
{
	char *str[FUZZ_PROTO_MAX_STRINGS];
	PktBuf pb;
	int n = 0;
	size_t limit = size ? (size_t)data[0] * 8 : 0; /* 0: the default (1 GiB) */

	while (n < FUZZ_PROTO_MAX_STRINGS) {
		size_t first, rest_len;
		const uint8_t *rest;
		fuzz_split(data, size, '\n', &first, &rest, &rest_len);
		str[n++] = fuzz_strndup(data, first);
		data = rest;
		size = rest_len;
	}
	pktbuf_init(&pb, limit % 7 + 1, limit);
	pktbuf_put_error_response(&pb, str[0], str[1], str[2]);
	pktbuf_put_parameter_status(&pb, str[3], str[4]);
	const char *row[4] = { str[5], NULL, str[6], str[7] };
	pktbuf_put_data_row(&pb, 4, row);
	pktbuf_put_sasl_initial_response(&pb, "SCRAM-SHA-256", (const char *)data, size);
	FUZZ_CHECK(pb.len <= pb.cap && pb.cap <= pb.max_size);
	if (!pb.failed) {
		size_t pos = 0;
		fuzz_proto_check_error(&pb, &pos, str);
		fuzz_proto_check_param(&pb, &pos, str);
		fuzz_proto_check_row(&pb, &pos, row, 4);
		fuzz_proto_check_sasl(&pb, &pos, data, size);
		FUZZ_CHECK(pos == pb.len);
	}
	pktbuf_free(&pb);
	for (int i = 0; i < n; i++)
		free(str[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool reader = data[0] == 'R' || (data[0] != 'W' && data[0] % 2 == 0);
	if (reader)
		fuzz_proto_reader(data + 1, size - 1);
	else
		fuzz_proto_writer(data + 1, size - 1);
	return 0;
}
