/*
 * libFuzzer target for the value syntax of [databases], [users] and [peers] lines and
 * the scalar parsers (connstr.h). Input: one selector byte, then "<name>\n<value>", the
 * name being the entry's key (without a newline, all of it is the name, the value empty).
 * Selector: 'd' database, 'u' user, 'p' peer, 'r' replicas list, 'i' integer, 's'
 * seconds, 'b' boolean, 'n' enum name; any other byte picks one by its value.
 * Successful parses are checked against what the header promises.
 */
#include "fuzz_common.h"

#include "connstr.h"

#define FUZZ_CONNSTR_ERRLEN 200

typedef void (*FuzzConnstrFn)(const char *name, const char *value);

static char fuzz_connstr_err[FUZZ_CONNSTR_ERRLEN];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	return 0;
}

/* A failed parse must say why, within the error buffer. */
static void fuzz_connstr_check_err(void)
{
	FUZZ_CHECK(memchr(fuzz_connstr_err, '\0', sizeof(fuzz_connstr_err)) != NULL);
	FUZZ_CHECK(fuzz_connstr_err[0] != '\0');
}

static void fuzz_connstr_check_hosts(const HostPort *list, int n)
{
	FUZZ_CHECK(n >= 0 && (n == 0 || list != NULL));
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(list[i].host != NULL && list[i].host[0] != '\0');
		FUZZ_CHECK(list[i].port >= 0 && list[i].port <= 65535);
	}
}

static void fuzz_connstr_database(const char *name, const char *value)
{
	DatabaseDef *db = NULL;
	if (!connstr_parse_database(name, value, &db, fuzz_connstr_err, FUZZ_CONNSTR_ERRLEN)) {
		fuzz_connstr_check_err();
		return;
	}
	FUZZ_CHECK(db != NULL && strcmp(db->name, name) == 0);
	fuzz_connstr_check_hosts(db->replicas, db->n_replicas);
	FUZZ_CHECK(db->routing != ROUTING_REPLICA || db->n_replicas > 0);
	FUZZ_CHECK(db->port >= 0 && db->port <= 65535);
	connstr_free_database(db);
}

static void fuzz_connstr_user(const char *name, const char *value)
{
	UserDef *u = NULL;
	if (!connstr_parse_user(name, value, &u, fuzz_connstr_err, FUZZ_CONNSTR_ERRLEN)) {
		fuzz_connstr_check_err();
		return;
	}
	FUZZ_CHECK(u != NULL && strcmp(u->name, name) == 0);
	connstr_free_user(u);
}

static void fuzz_connstr_peer(const char *name, const char *value)
{
	PeerDef *p = NULL;
	if (!connstr_parse_peer(name, value, &p, fuzz_connstr_err, FUZZ_CONNSTR_ERRLEN)) {
		fuzz_connstr_check_err();
		return;
	}
	FUZZ_CHECK(p != NULL && p->peer_id >= 1);
	FUZZ_CHECK(p->port >= 0 && p->port <= 65535);
	connstr_free_peer(p);
}

static void fuzz_connstr_replicas(const char *name, const char *value)
{
	HostPort *list = NULL;
	int n = -1;
	(void)name;
	if (!connstr_parse_replicas(value, &list, &n, fuzz_connstr_err, FUZZ_CONNSTR_ERRLEN)) {
		fuzz_connstr_check_err();
		return;
	}
	fuzz_connstr_check_hosts(list, n);
	for (int i = 0; i < n; i++)
		free(list[i].host);
	free(list);
}

static void fuzz_connstr_scalars(const char *name, const char *value)
{
	long long v;
	usec_t us;
	int b;
	(void)name;
	if (connstr_parse_int(value, -1000, 1000000, &v))
		FUZZ_CHECK(v >= -1000 && v <= 1000000);
	if (connstr_parse_int(value, INT64_MIN, INT64_MAX, &v))
		FUZZ_CHECK(connstr_parse_int(value, v, v, &v));
	if (connstr_parse_seconds(value, &us))
		FUZZ_CHECK(us >= 0);
	if (connstr_parse_bool(value, &b))
		FUZZ_CHECK(b == 0 || b == 1);
}

static void fuzz_connstr_names(const char *name, const char *value)
{
	char buf[64];
	int v;
	(void)name;
	if (connstr_lookup_name(connstr_pool_mode_names, value, &v))
		FUZZ_CHECK(connstr_name_of(connstr_pool_mode_names, v) != NULL);
	/* a short buffer: the list must be cut, never overrun */
	connstr_format_names(connstr_pool_mode_names, buf, (size_t)(strlen(value) % sizeof(buf)));
}

static FuzzConnstrFn fuzz_connstr_pick(uint8_t selector)
{
	static const struct {
		uint8_t tag;
		FuzzConnstrFn fn;
	} table[] = {
		{ 'd', fuzz_connstr_database }, { 'u', fuzz_connstr_user },
		{ 'p', fuzz_connstr_peer },     { 'r', fuzz_connstr_replicas },
		{ 'i', fuzz_connstr_scalars },  { 's', fuzz_connstr_scalars },
		{ 'b', fuzz_connstr_scalars },  { 'n', fuzz_connstr_names },
	};
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		if (table[i].tag == selector)
			return table[i].fn;
	}
	return table[selector % ARRAY_SIZE(table)].fn;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *value;
	size_t name_len, value_len;

	if (size < 1)
		return 0;
	FuzzConnstrFn fn = fuzz_connstr_pick(data[0]);
	fuzz_split(data + 1, size - 1, '\n', &name_len, &value, &value_len);
	char *name = fuzz_strndup(data + 1, name_len);
	char *val = fuzz_strndup(value, value_len);
	memset(fuzz_connstr_err, 0, sizeof(fuzz_connstr_err));
	fn(name, val);
	free(name);
	free(val);
	return 0;
}
