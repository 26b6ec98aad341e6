/*
 * Message builder (see pktbuf.h). Lengths are patched in by pktbuf_end(), so writers never
 * compute sizes by hand. Overflowing max_size marks the buffer failed instead of growing
 * without bound.
 */
#include "pktbuf.h"
#include "pg_wire.h"

#include <stdlib.h>
#include <string.h>

void pktbuf_init(PktBuf *pb, size_t initial, size_t max_size)
{
	memset(pb, 0, sizeof(*pb));
	pb->cap = initial ? initial : 256;
	pb->data = xmalloc(pb->cap);
	pb->max_size = max_size ? max_size : (size_t)1 << 30;
}

void pktbuf_free(PktBuf *pb)
{
	free(pb->data);
	memset(pb, 0, sizeof(*pb));
}

static bool pktbuf_reserve(PktBuf *pb, size_t more)
{
	if (pb->failed)
		return false;
	if (pb->len + more <= pb->cap)
		return true;
	size_t need = pb->len + more;
	if (need > pb->max_size) {
		pb->failed = true;
		return false;
	}
	size_t cap = pb->cap * 2;
	while (cap < need)
		cap *= 2;
	if (cap > pb->max_size)
		cap = pb->max_size;
	pb->data = xrealloc(pb->data, cap);
	pb->cap = cap;
	return true;
}

void pktbuf_put_bytes(PktBuf *pb, const void *data, size_t len)
{
	if (!pktbuf_reserve(pb, len))
		return;
	if (len)
		memcpy(pb->data + pb->len, data, len);
	pb->len += len;
}

void pktbuf_put_u8(PktBuf *pb, uint8_t v)
{
	pktbuf_put_bytes(pb, &v, 1);
}

void pktbuf_put_u16(PktBuf *pb, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	pktbuf_put_bytes(pb, b, 2);
}

void pktbuf_put_u32(PktBuf *pb, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	pktbuf_put_bytes(pb, b, 4);
}

void pktbuf_put_cstring(PktBuf *pb, const char *s)
{
	pktbuf_put_bytes(pb, s, strlen(s) + 1);
}

void pktbuf_begin(PktBuf *pb, uint8_t type)
{
	if (type)
		pktbuf_put_u8(pb, type);
	pb->msg_start = pb->len;
	pktbuf_put_u32(pb, 0); /* length, patched by pktbuf_end */
}

void pktbuf_end(PktBuf *pb)
{
	if (pb->failed)
		return;
	uint32_t len = (uint32_t)(pb->len - pb->msg_start);
	uint8_t *p = pb->data + pb->msg_start;
	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
}

static void put_error_fields(PktBuf *pb, uint8_t type, const char *severity, const char *sqlstate, const char *message,
			     const char *detail)
{
	pktbuf_begin(pb, type);
	pktbuf_put_u8(pb, 'S');
	pktbuf_put_cstring(pb, severity);
	pktbuf_put_u8(pb, 'V');
	pktbuf_put_cstring(pb, severity);
	pktbuf_put_u8(pb, 'C');
	pktbuf_put_cstring(pb, sqlstate);
	pktbuf_put_u8(pb, 'M');
	pktbuf_put_cstring(pb, message);
	if (detail) {
		pktbuf_put_u8(pb, 'D');
		pktbuf_put_cstring(pb, detail);
	}
	pktbuf_put_u8(pb, 0);
	pktbuf_end(pb);
}

void pktbuf_put_error_response(PktBuf *pb, const char *severity, const char *sqlstate, const char *message)
{
	put_error_fields(pb, PG_MSG_ERROR_RESPONSE, severity, sqlstate, message, NULL);
}

void pktbuf_put_error_detail(PktBuf *pb, const char *sqlstate, const char *message, const char *detail)
{
	put_error_fields(pb, PG_MSG_ERROR_RESPONSE, "ERROR", sqlstate, message, detail);
}

void pktbuf_put_notice_response(PktBuf *pb, const char *severity, const char *sqlstate, const char *message)
{
	put_error_fields(pb, PG_MSG_NOTICE_RESPONSE, severity, sqlstate, message, NULL);
}

void pktbuf_put_ready_for_query(PktBuf *pb, char status)
{
	pktbuf_begin(pb, PG_MSG_READY_FOR_QUERY);
	pktbuf_put_u8(pb, (uint8_t)status);
	pktbuf_end(pb);
}

void pktbuf_put_auth_request(PktBuf *pb, uint32_t code, const void *data, size_t len)
{
	pktbuf_begin(pb, PG_MSG_AUTH);
	pktbuf_put_u32(pb, code);
	pktbuf_put_bytes(pb, data, len);
	pktbuf_end(pb);
}

void pktbuf_put_parameter_status(PktBuf *pb, const char *name, const char *value)
{
	pktbuf_begin(pb, PG_MSG_PARAMETER_STATUS);
	pktbuf_put_cstring(pb, name);
	pktbuf_put_cstring(pb, value);
	pktbuf_end(pb);
}

void pktbuf_put_backend_key_data(PktBuf *pb, uint32_t pid, uint32_t key)
{
	pktbuf_begin(pb, PG_MSG_BACKEND_KEY_DATA);
	pktbuf_put_u32(pb, pid);
	pktbuf_put_u32(pb, key);
	pktbuf_end(pb);
}

void pktbuf_put_query(PktBuf *pb, const char *sql)
{
	pktbuf_begin(pb, PG_MSG_QUERY);
	pktbuf_put_cstring(pb, sql);
	pktbuf_end(pb);
}

void pktbuf_put_password_message(PktBuf *pb, const char *password)
{
	pktbuf_begin(pb, PG_MSG_PASSWORD);
	pktbuf_put_cstring(pb, password);
	pktbuf_end(pb);
}

void pktbuf_put_sasl_initial_response(PktBuf *pb, const char *mechanism, const char *data, size_t len)
{
	pktbuf_begin(pb, PG_MSG_PASSWORD);
	pktbuf_put_cstring(pb, mechanism);
	pktbuf_put_u32(pb, (uint32_t)len);
	pktbuf_put_bytes(pb, data, len);
	pktbuf_end(pb);
}

void pktbuf_put_sasl_response(PktBuf *pb, const char *data, size_t len)
{
	pktbuf_begin(pb, PG_MSG_PASSWORD);
	pktbuf_put_bytes(pb, data, len);
	pktbuf_end(pb);
}

void pktbuf_put_cancel_request(PktBuf *pb, uint32_t pid, uint32_t key)
{
	pktbuf_begin(pb, 0);
	pktbuf_put_u32(pb, PG_CANCEL_REQUEST_CODE);
	pktbuf_put_u32(pb, pid);
	pktbuf_put_u32(pb, key);
	pktbuf_end(pb);
}

void pktbuf_put_terminate(PktBuf *pb)
{
	pktbuf_begin(pb, PG_MSG_TERMINATE);
	pktbuf_end(pb);
}

void pktbuf_put_negotiate_protocol_version(PktBuf *pb, uint32_t newest_minor, const char *const *unsupported, int n)
{
	pktbuf_begin(pb, PG_MSG_NEGOTIATE_PROTOCOL);
	pktbuf_put_u32(pb, newest_minor);
	pktbuf_put_u32(pb, (uint32_t)n);
	for (int i = 0; i < n; i++)
		pktbuf_put_cstring(pb, unsupported[i]);
	pktbuf_end(pb);
}

void pktbuf_put_row_description(PktBuf *pb, int ncols, const char *const *names, const uint32_t *type_oids)
{
	pktbuf_begin(pb, PG_MSG_ROW_DESCRIPTION);
	pktbuf_put_u16(pb, (uint16_t)ncols);
	for (int i = 0; i < ncols; i++) {
		int16_t typlen = type_oids[i] == PG_OID_INT8 ? 8 : type_oids[i] == PG_OID_INT4 ? 4 : -1;
		pktbuf_put_cstring(pb, names[i]);
		pktbuf_put_u32(pb, 0);         /* table oid */
		pktbuf_put_u16(pb, 0);         /* column number */
		pktbuf_put_u32(pb, type_oids[i]);
		pktbuf_put_u16(pb, (uint16_t)typlen);
		pktbuf_put_u32(pb, 0xffffffffu); /* type modifier -1 */
		pktbuf_put_u16(pb, 0);         /* text format */
	}
	pktbuf_end(pb);
}

void pktbuf_put_data_row(PktBuf *pb, int ncols, const char *const *values)
{
	pktbuf_begin(pb, PG_MSG_DATA_ROW);
	pktbuf_put_u16(pb, (uint16_t)ncols);
	for (int i = 0; i < ncols; i++) {
		if (!values[i]) {
			pktbuf_put_u32(pb, 0xffffffffu);
			continue;
		}
		size_t n = strlen(values[i]);
		pktbuf_put_u32(pb, (uint32_t)n);
		pktbuf_put_bytes(pb, values[i], n);
	}
	pktbuf_end(pb);
}

void pktbuf_put_command_complete(PktBuf *pb, const char *tag)
{
	pktbuf_begin(pb, PG_MSG_COMMAND_COMPLETE);
	pktbuf_put_cstring(pb, tag);
	pktbuf_end(pb);
}

void pktbuf_put_empty_query_response(PktBuf *pb)
{
	pktbuf_begin(pb, PG_MSG_EMPTY_QUERY);
	pktbuf_end(pb);
}
