/*
 * Unit tests for the codec (pktbuf writers, bounded readers) and the parameter cache.
 */
#include "lsn.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "proto.h"
#include "tap.h"
#include "varcache.h"
#include "intern.h"
#include "hashindex.h"

#include <stdlib.h>

static void test_error_response_roundtrip(void)
{
	PktBuf pb;
	pktbuf_init(&pb, 8, 0);
	pktbuf_put_error_response(&pb, "FATAL", "08P01", "no such database: x");
	CHECK(!pb.failed);
	CHECK(pb.data[0] == 'E');
	CHECK(proto_read_be32(pb.data + 1) == pb.len - 1);
	CHECK_STR(proto_error_field(pb.data + 5, pb.len - 5, 'C'), "08P01");
	CHECK_STR(proto_error_field(pb.data + 5, pb.len - 5, 'M'), "no such database: x");
	CHECK(proto_error_field(pb.data + 5, pb.len - 5, 'D') == NULL);
	pktbuf_free(&pb);
}

static void test_reader_bounds(void)
{
	const uint8_t data[] = { 0, 0, 0, 7, 'a', 'b' };
	PktReader r;
	uint32_t v;
	const char *s;
	proto_reader_init(&r, data, sizeof(data));
	CHECK(proto_get_u32(&r, &v) && v == 7);
	CHECK(!proto_get_cstring(&r, &s)); /* no NUL inside the bounds */
	uint16_t w;
	CHECK(proto_get_u16(&r, &w));
	CHECK(!proto_get_u16(&r, &w));
	const uint8_t *bytes;
	CHECK(!proto_get_bytes(&r, 1, &bytes));
}

static void test_pktbuf_overflow_is_sticky(void)
{
	PktBuf pb;
	pktbuf_init(&pb, 8, 16);
	pktbuf_put_query(&pb, "SELECT 1 FROM a_long_table_name");
	CHECK(pb.failed);
	pktbuf_put_u8(&pb, 1);
	CHECK(pb.failed);
	pktbuf_free(&pb);
}

static void test_varcache_sync(void)
{
	VarCache client = { 0 }, server = { 0 };
	char sql[512];
	varcache_configure("search_path");
	int tz = varcache_lookup("timezone");
	int sp = varcache_lookup("SEARCH_PATH");
	CHECK(tz >= 0 && sp >= 0);
	/* the router reads this one by its fixed index on every transaction */
	CHECK(varcache_lookup("default_transaction_read_only") == VARCACHE_DEFAULT_TRANSACTION_READ_ONLY);
	varcache_set(&client, tz, "Europe/Paris");
	varcache_set(&server, tz, "UTC");
	varcache_set(&client, sp, "it's");
	CHECK(varcache_sync_sql(&client, &server, sql, sizeof(sql)) > 0);
	CHECK_STR(sql, "SELECT pg_catalog.set_config(E'TimeZone',E'Europe/Paris',false);"
		       "SELECT pg_catalog.set_config(E'search_path',E'it''s',false);");
	varcache_set(&server, tz, "Europe/Paris");
	varcache_set(&server, sp, "it's");
	CHECK(varcache_sync_sql(&client, &server, sql, sizeof(sql)) == 0);
	CHECK(varcache_sync_sql(&client, &(VarCache){ 0 }, sql, 10) == -1);
	/* equal values are shared: one copy of each, freed with its last holder */
	CHECK(varcache_get(&client, tz) == varcache_get(&server, tz));
	CHECK(intern_count_now() == 2);
	VarCache third = { 0 };
	varcache_fill_missing(&third, &client);
	CHECK(varcache_get(&third, sp) == varcache_get(&client, sp));
	varcache_set(&third, tz, "UTC");
	CHECK_STR(varcache_get(&third, tz), "UTC");
	CHECK(intern_count_now() == 3);
	varcache_set(&third, tz, NULL);
	CHECK(varcache_get(&third, tz) == NULL && intern_count_now() == 2);
	varcache_clear(&client);
	varcache_clear(&server);
	CHECK(intern_count_now() == 1); /* "it's", still held by third */
	varcache_clear(&third);
	CHECK(intern_count_now() == 0);
	CHECK(varcache_get(&third, 100) == NULL);
}

static void test_lsn_text(void)
{
	uint64_t v = 0;
	char buf[32];
	CHECK(lsn_parse("16/B374D848", &v) && v == ((uint64_t)0x16 << 32 | 0xB374D848u));
	lsn_format(v, buf, sizeof(buf));
	CHECK_STR(buf, "16/B374D848");
	CHECK(lsn_parse("0/0", &v) && v == 0);
	CHECK(lsn_parse("FFFFFFFF/FFFFFFFF", &v) && v == UINT64_MAX);
	const char *bad[] = { "", "/", "1/", "/1", " 1/2", "1/ 2", "0x1/2", "+1/2", "-1/0", "1/2 ",
			      "123456789/1", "1/123456789", "1/2/3", "g/1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(!lsn_parse(bad[i], &v), bad[i]);
}

/* Values seen on PostgreSQL 15: insert 0/5024018 while a caught-up replica replayed 0/5024000. */
static void test_lsn_last_record_end(void)
{
	const uint64_t blk = 8192, seg = 16u << 20;
	CHECK(lsn_last_record_end(0x5024018, blk, seg) == 0x5024000);
	CHECK(lsn_last_record_end(0x5024028, blk, seg) == 0x5024028); /* a record ended 40 bytes in */
	CHECK(lsn_last_record_end(0x5000028, blk, seg) == 0x5000000); /* long header, segment start */
	CHECK(lsn_last_record_end(0x5000018, blk, seg) == 0x5000018);
	CHECK(lsn_last_record_end(0x5024019, blk, seg) == 0x5024019);
	CHECK(lsn_last_record_end(0x5024018, 0, seg) == 0x5024018); /* sizes not known */
	CHECK(lsn_last_record_end(0x5024018, blk, 0) == 0x5024018);
	CHECK(lsn_last_record_end(0x18, blk, seg) == 0x18);
}

typedef struct Entry {
	HashLink link;
	int key;
} Entry;

static Entry *index_find(const HashIndex *ix, int key)
{
	uint64_t h = hashindex_hash_ptrs(NULL, NULL, (void *)(intptr_t)key);
	for (HashLink *l = hashindex_first(ix, h); l; l = hashindex_next(l))
		if (((Entry *)l)->key == key)
			return (Entry *)l;
	return NULL;
}

/* The registry's index: every entry found while the table grows, removed ones gone. */
static void test_hashindex(void)
{
	enum { N = 5000 };
	static Entry e[N];
	HashIndex ix = { 0 };
	Entry stray = { { NULL, 0 }, -1 };
	hashindex_remove(&ix, &stray.link); /* not in it (and no table yet): left alone */
	for (int i = 0; i < N; i++) {
		e[i].key = i;
		hashindex_add(&ix, &e[i].link, hashindex_hash_ptrs(NULL, NULL, (void *)(intptr_t)i));
	}
	int found = 0;
	for (int i = 0; i < N; i++)
		found += index_find(&ix, i) == &e[i];
	CHECK(found == N && ix.count == N && ix.n_buckets >= N);
	for (int i = 0; i < N; i += 2)
		hashindex_remove(&ix, &e[i].link);
	hashindex_remove(&ix, &stray.link);
	int even = 0, odd = 0;
	for (int i = 0; i < N; i++) {
		if (i % 2 == 0)
			even += index_find(&ix, i) != NULL;
		else
			odd += index_find(&ix, i) == &e[i];
	}
	CHECK(even == 0 && odd == N / 2 && ix.count == N / 2);
	CHECK(hashindex_hash_str("app") != hashindex_hash_str("apq"));
	hashindex_free(&ix);
	CHECK(ix.buckets == NULL && hashindex_first(&ix, 1) == NULL);
}

TAP_MAIN({ "lsn_text", test_lsn_text }, { "lsn_last_record_end", test_lsn_last_record_end }, { "error_response_roundtrip", test_error_response_roundtrip }, { "reader_bounds", test_reader_bounds },
	 { "pktbuf_overflow_is_sticky", test_pktbuf_overflow_is_sticky }, { "varcache_sync", test_varcache_sync },
	 { "hashindex", test_hashindex })
