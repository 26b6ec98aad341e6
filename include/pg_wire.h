/*
 * PostgreSQL v3 frontend/backend protocol constants, written from the protocol chapter of
 * the PostgreSQL documentation ("Message Formats").
 */
#ifndef PGSPLIT_PG_WIRE_H
#define PGSPLIT_PG_WIRE_H

#define PG_PROTO_MAJOR(v) ((v) >> 16)
#define PG_PROTO_MINOR(v) ((v)&0xffff)
#define PG_PROTO_V3 196608u /* 3.0 */
#define PG_CANCEL_REQUEST_CODE 80877102u
#define PG_SSL_REQUEST_CODE 80877103u
#define PG_GSSENC_REQUEST_CODE 80877104u

/* Authentication request codes ('R' message). */
#define PG_AUTH_OK 0
#define PG_AUTH_CLEARTEXT 3
#define PG_AUTH_MD5 5
#define PG_AUTH_SASL 10
#define PG_AUTH_SASL_CONTINUE 11
#define PG_AUTH_SASL_FINAL 12

/* Frontend message types. */
#define PG_MSG_QUERY 'Q'
#define PG_MSG_PARSE 'P'
#define PG_MSG_BIND 'B'
#define PG_MSG_DESCRIBE 'D'
#define PG_MSG_EXECUTE 'E'
#define PG_MSG_CLOSE 'C'
#define PG_MSG_SYNC 'S'
#define PG_MSG_FLUSH 'H'
#define PG_MSG_FUNCTION_CALL 'F'
#define PG_MSG_TERMINATE 'X'
#define PG_MSG_PASSWORD 'p'
#define PG_MSG_COPY_DATA 'd'
#define PG_MSG_COPY_DONE 'c'
#define PG_MSG_COPY_FAIL 'f'

/* Backend message types. */
#define PG_MSG_AUTH 'R'
#define PG_MSG_PARAMETER_STATUS 'S'
#define PG_MSG_BACKEND_KEY_DATA 'K'
#define PG_MSG_READY_FOR_QUERY 'Z'
#define PG_MSG_ERROR_RESPONSE 'E'
#define PG_MSG_NOTICE_RESPONSE 'N'
#define PG_MSG_NOTIFICATION 'A'
#define PG_MSG_ROW_DESCRIPTION 'T'
#define PG_MSG_DATA_ROW 'D'
#define PG_MSG_COMMAND_COMPLETE 'C'
#define PG_MSG_COPY_IN_RESPONSE 'G'
#define PG_MSG_COPY_OUT_RESPONSE 'H'
#define PG_MSG_COPY_BOTH_RESPONSE 'W'
#define PG_MSG_NEGOTIATE_PROTOCOL 'v'
#define PG_MSG_EMPTY_QUERY 'I'
#define PG_MSG_PARSE_COMPLETE '1'
#define PG_MSG_BIND_COMPLETE '2'
#define PG_MSG_CLOSE_COMPLETE '3'
#define PG_MSG_PARAMETER_DESCRIPTION 't'
#define PG_MSG_NO_DATA 'n'

/* Type OIDs used by the admin console's RowDescription. */
#define PG_OID_INT8 20
#define PG_OID_INT4 23
#define PG_OID_TEXT 25
#define PG_OID_NUMERIC 1700
#define PG_OID_TIMESTAMPTZ 1184

/* SQLSTATEs the pooler itself reports. */
#define SQLSTATE_PROTOCOL_VIOLATION "08P01"
#define SQLSTATE_TOO_MANY_CONNECTIONS "53300"
#define SQLSTATE_ADMIN_SHUTDOWN "57P01"
#define SQLSTATE_INVALID_PASSWORD "28P01"
#define SQLSTATE_INVALID_AUTH "28000"
#define SQLSTATE_CANNOT_CONNECT "08006"
#define SQLSTATE_CANNOT_CONNECT_NOW "57P03"
#define SQLSTATE_QUERY_CANCELED "57014"
#define SQLSTATE_FEATURE_NOT_SUPPORTED "0A000"
#define SQLSTATE_SYNTAX_ERROR "42601"
#define SQLSTATE_INSUFFICIENT_PRIVILEGE "42501"
#define SQLSTATE_INVALID_DATABASE "3D000"
#define SQLSTATE_READ_ONLY_TRANSACTION "25006"
#define SQLSTATE_PROGRAM_LIMIT_EXCEEDED "54000"
#define SQLSTATE_INVALID_PARAMETER_VALUE "22023"

#endif
