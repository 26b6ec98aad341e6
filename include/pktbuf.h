/*
 * Message builder with a sticky failure flag: callers append any number of messages and
 * check pktbuf.failed once. One typed writer per message type, so the compiler checks
 * every field; no format strings.
 */
#ifndef PGSPLIT_PKTBUF_H
#define PGSPLIT_PKTBUF_H

#include "common.h"

typedef struct PktBuf {
	uint8_t *data; /* owned, grows up to max_size */
	size_t len;
	size_t cap;
	size_t max_size;
	size_t msg_start; /* offset of the message being built */
	bool failed;      /* set on overflow; all later writes are ignored */
} PktBuf;

void pktbuf_init(PktBuf *pb, size_t initial, size_t max_size);
void pktbuf_free(PktBuf *pb);

/* Raw building blocks. type 0 starts a message without a type byte (startup family). */
void pktbuf_begin(PktBuf *pb, uint8_t type);
void pktbuf_end(PktBuf *pb);
void pktbuf_put_u8(PktBuf *pb, uint8_t v);
void pktbuf_put_u16(PktBuf *pb, uint16_t v);
void pktbuf_put_u32(PktBuf *pb, uint32_t v);
void pktbuf_put_bytes(PktBuf *pb, const void *data, size_t len);
void pktbuf_put_cstring(PktBuf *pb, const char *s);

/* Typed writers, one per message. */
void pktbuf_put_error_response(PktBuf *pb, const char *severity, const char *sqlstate, const char *message);
/* An ERROR with a DETAIL field. */
void pktbuf_put_error_detail(PktBuf *pb, const char *sqlstate, const char *message, const char *detail);
void pktbuf_put_notice_response(PktBuf *pb, const char *severity, const char *sqlstate, const char *message);
void pktbuf_put_ready_for_query(PktBuf *pb, char status);
void pktbuf_put_auth_request(PktBuf *pb, uint32_t code, const void *data, size_t len);
void pktbuf_put_parameter_status(PktBuf *pb, const char *name, const char *value);
void pktbuf_put_backend_key_data(PktBuf *pb, uint32_t pid, uint32_t key);
void pktbuf_put_query(PktBuf *pb, const char *sql);
void pktbuf_put_password_message(PktBuf *pb, const char *password);
void pktbuf_put_sasl_initial_response(PktBuf *pb, const char *mechanism, const char *data, size_t len);
void pktbuf_put_sasl_response(PktBuf *pb, const char *data, size_t len);
void pktbuf_put_cancel_request(PktBuf *pb, uint32_t pid, uint32_t key);
void pktbuf_put_terminate(PktBuf *pb);
void pktbuf_put_negotiate_protocol_version(PktBuf *pb, uint32_t newest_minor, const char *const *unsupported, int n);
void pktbuf_put_row_description(PktBuf *pb, int ncols, const char *const *names, const uint32_t *type_oids);
/* values[i] == NULL is SQL NULL */
void pktbuf_put_data_row(PktBuf *pb, int ncols, const char *const *values);
void pktbuf_put_command_complete(PktBuf *pb, const char *tag);
void pktbuf_put_empty_query_response(PktBuf *pb);

#endif
