/*
 * Bounded readers for received messages (see proto.h). No I/O, no allocation.
 */
#include "proto.h"

#include <string.h>

bool proto_get_u8(PktReader *r, uint8_t *out)
{
	if (proto_remaining(r) < 1)
		return false;
	*out = r->data[r->pos++];
	return true;
}

bool proto_get_u16(PktReader *r, uint16_t *out)
{
	if (proto_remaining(r) < 2)
		return false;
	*out = (uint16_t)((r->data[r->pos] << 8) | r->data[r->pos + 1]);
	r->pos += 2;
	return true;
}

bool proto_get_u32(PktReader *r, uint32_t *out)
{
	if (proto_remaining(r) < 4)
		return false;
	*out = proto_read_be32(r->data + r->pos);
	r->pos += 4;
	return true;
}

bool proto_get_cstring(PktReader *r, const char **out)
{
	const uint8_t *start = r->data + r->pos;
	const uint8_t *nul = memchr(start, 0, proto_remaining(r));
	if (!nul)
		return false;
	*out = (const char *)start;
	r->pos += (size_t)(nul - start) + 1;
	return true;
}

bool proto_get_bytes(PktReader *r, size_t n, const uint8_t **out)
{
	if (proto_remaining(r) < n)
		return false;
	*out = r->data + r->pos;
	r->pos += n;
	return true;
}

const char *proto_error_field(const uint8_t *body, size_t len, char code)
{
	PktReader r;
	proto_reader_init(&r, body, len);
	for (;;) {
		uint8_t field;
		const char *value;
		if (!proto_get_u8(&r, &field) || field == 0)
			return NULL;
		if (!proto_get_cstring(&r, &value))
			return NULL;
		if (field == (uint8_t)code)
			return value;
	}
}
