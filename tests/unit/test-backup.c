/* SPDX-License-Identifier: MIT */
/*
 * backup/ without a cluster: SHA-256 against the NIST vectors, the block digest, extent
 * merging and chunk planning, the export-diff stream (exact bytes, round trips, malformed
 * input), records, the manifest — and a whole backup/restore chain of an in-memory volume
 * through the planner, the stream writer and the reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "backup/backup-internal.h"
#include "common/json.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)

/* ---- helpers --------------------------------------------------------------------------------- */

static int memfd(void)
{
	int fd = memfd_create("test-backup", MFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* All bytes of fd from its start; *len set. */
static uint8_t *slurp(int fd, size_t *len)
{
	struct stat st;
	uint8_t *p;

	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	*len = (size_t)st.st_size;
	return p;
}

static int fd_of(const void *data, size_t len)
{
	int fd = memfd();

	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void hex_of(const void *data, size_t len, char out[BACKUP_SHA256_HEX])
{
	uint8_t d[SHA256_LEN];

	assert_int_equal(sha256_buf(data, len, d), 0);
	sha256_hex(d, out);
}

/* ---- SHA-256 --------------------------------------------------------------------------------- */

static void test_sha256_vectors(void **state)
{
	char hex[BACKUP_SHA256_HEX];
	struct sha256 s;
	uint8_t d[SHA256_LEN], back[SHA256_LEN];
	char *million;

	hex_of("", 0, hex);
	assert_string_equal(hex,
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hex_of("abc", 3, hex);
	assert_string_equal(hex,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex,
	                    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	/* one million 'a', fed in uneven pieces */
	million = malloc(1000000);
	assert_non_null(million);
	memset(million, 'a', 1000000);
	assert_int_equal(sha256_init(&s), 0);
	for (size_t off = 0; off < 1000000;) {
		size_t n = 1000000 - off < 7777 ? 1000000 - off : 7777;
		sha256_update(&s, million + off, n);
		off += n;
	}
	sha256_final(&s, d);
	sha256_hex(d, hex);
	assert_string_equal(hex,
	                    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	/* zeros fed as zeros equal zeros fed as data */
	memset(million, 0, 300000);
	hex_of(million, 300000, hex);
	assert_int_equal(sha256_init(&s), 0);
	sha256_update_zeros(&s, 300000);
	sha256_final(&s, d);
	assert_int_equal(sha256_from_hex(hex, back), 0);
	assert_memory_equal(d, back, SHA256_LEN);
	free(million);

	/* hex parsing */
	assert_int_equal(sha256_from_hex("abc", back), -EINVAL);
	assert_int_equal(
	        sha256_from_hex("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	                        back),
	        -EINVAL);
	assert_int_equal(
	        sha256_from_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
	                        back),
	        0);
	sha256_hex(back, hex);
	assert_string_equal(hex,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

	/* a file */
	{
		int fd = fd_of("abc", 3);
		assert_int_equal(sha256_fd(fd, d), 0);
		sha256_hex(d, hex);
		assert_string_equal(
		        hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
		close(fd);
	}
}

/* ---- the block digest ------------------------------------------------------------------------- */

/* The digest the definition gives, straight from the bytes. */
static void digest_direct(const uint8_t *vol, uint64_t size, uint8_t out[SHA256_LEN])
{
	struct sha256 top;

	assert_int_equal(sha256_init(&top), 0);
	for (uint64_t off = 0; off < size; off += BK_BLOCK) {
		uint64_t n = size - off < BK_BLOCK ? size - off : BK_BLOCK;
		uint8_t h[SHA256_LEN];
		assert_int_equal(sha256_buf(vol + off, (size_t)n, h), 0);
		sha256_update(&top, h, SHA256_LEN);
	}
	sha256_final(&top, out);
}

static void test_block_digest(void **state)
{
	const uint64_t size = 3 * BK_BLOCK + 512 * KiB; /* a short last block */
	uint8_t *vol = calloc(1, size);
	uint8_t want[SHA256_LEN], got[SHA256_LEN];
	struct blocklist bl, bl2;
	struct bhasher h;
	uint8_t *ser;
	size_t ser_len;

	assert_non_null(vol);
	memset(vol + BK_BLOCK + 100, 0x5a, 3000);
	memset(vol + 3 * BK_BLOCK + 10, 0xa5, 10);
	digest_direct(vol, size, want);

	/* fed in pieces, holes as NULL, the zero block 0 and 2 as a whole */
	assert_int_equal(blocklist_init(&bl, size), 0);
	assert_int_equal(bl.n, 4);
	assert_int_equal(blocklist_block_len(&bl, 3), 512 * KiB);
	assert_int_equal(bhasher_init(&h, &bl), 0);
	assert_int_equal(bhasher_feed(&h, 0, NULL, BK_BLOCK), 0);
	assert_int_equal(bhasher_feed(&h, BK_BLOCK, NULL, 100), 0);
	assert_int_equal(bhasher_feed(&h, BK_BLOCK + 100, vol + BK_BLOCK + 100, 3000), 0);
	assert_int_equal(bhasher_feed(&h, BK_BLOCK + 3100, NULL, 2 * BK_BLOCK - 3100), 0);
	assert_int_equal(bhasher_feed(&h, 3 * BK_BLOCK, vol + 3 * BK_BLOCK, 512 * KiB), 0);
	assert_int_equal(bhasher_finish(&h), 0);
	bhasher_release(&h);
	assert_int_equal(blocklist_digest(&bl, got), 0);
	assert_memory_equal(got, want, SHA256_LEN);

	/* a skipped byte inside a block, a block not fed from its start, a half block */
	assert_int_equal(bhasher_init(&h, &bl), 0);
	assert_int_equal(bhasher_feed(&h, 0, NULL, 100), 0);
	assert_int_equal(bhasher_feed(&h, 200, NULL, 100), -EINVAL);
	bhasher_release(&h);
	assert_int_equal(bhasher_init(&h, &bl), 0);
	assert_int_equal(bhasher_feed(&h, 5, NULL, 100), -EINVAL);
	assert_int_equal(bhasher_feed(&h, size - 10, NULL, 20), -EINVAL); /* past the end */
	assert_int_equal(bhasher_feed(&h, 0, NULL, 10), 0);
	assert_int_equal(bhasher_finish(&h), -EINVAL);
	bhasher_release(&h);

	/* stored form round trip, and a corrupt one */
	assert_int_equal(blocklist_serialize(&bl, &ser, &ser_len), 0);
	assert_int_equal(blocklist_parse(ser, ser_len, &bl2), 0);
	assert_int_equal(bl2.size, size);
	assert_int_equal(bl2.n, 4);
	assert_memory_equal(bl2.h, bl.h, 4 * SHA256_LEN);
	blocklist_release(&bl2);
	assert_int_equal(blocklist_parse(ser, ser_len - 1, &bl2), -EILSEQ);
	ser[0] ^= 1;
	assert_int_equal(blocklist_parse(ser, ser_len, &bl2), -EILSEQ);
	free(ser);

	/* growing: the new blocks are zero blocks; the old short block is not recomputed here */
	{
		const uint64_t big = 5 * BK_BLOCK;
		uint8_t *vol2 = calloc(1, big);
		assert_non_null(vol2);
		memcpy(vol2, vol, size);
		assert_int_equal(blocklist_resize(&bl, big), 0);
		assert_int_equal(bl.n, 5);
		/* block 3 was 512 KiB long and is 4 MiB now: hash it again as the caller must */
		assert_int_equal(bhasher_init(&h, &bl), 0);
		assert_int_equal(bhasher_feed(&h, 3 * BK_BLOCK, vol2 + 3 * BK_BLOCK, BK_BLOCK), 0);
		assert_int_equal(bhasher_finish(&h), 0);
		bhasher_release(&h);
		digest_direct(vol2, big, want);
		assert_int_equal(blocklist_digest(&bl, got), 0);
		assert_memory_equal(got, want, SHA256_LEN);
		free(vol2);
	}
	blocklist_release(&bl);
	free(vol);
}

/* ---- extents and chunks ---------------------------------------------------------------------- */

static void test_extents_normalize(void **state)
{
	struct extent_list l = {0};

	/* out of order, touching, overlapping data and zero, past the end */
	assert_int_equal(extent_list_add(&l, 8192, 4096, true), 0);
	assert_int_equal(extent_list_add(&l, 0, 4096, true), 0);
	assert_int_equal(extent_list_add(&l, 4096, 4096, true), 0);
	assert_int_equal(extent_list_add(&l, 20000, 10000, false), 0);
	assert_int_equal(extent_list_add(&l, 25000, 1000, true), 0);
	assert_int_equal(extent_list_add(&l, 60000, 10000, true), 0); /* clipped at 64 KiB */
	assert_int_equal(extent_list_add(&l, 70000, 100, true), 0);   /* dropped */
	assert_int_equal(extent_list_add(&l, 0, 0, true), 0);         /* ignored */
	assert_int_equal(extent_list_normalize(&l, 65536), 0);

	assert_int_equal(l.n, 5);
	assert_int_equal(l.v[0].off, 0);
	assert_int_equal(l.v[0].len, 12288);
	assert_true(l.v[0].data);
	assert_int_equal(l.v[1].off, 20000);
	assert_int_equal(l.v[1].len, 5000);
	assert_false(l.v[1].data);
	assert_int_equal(l.v[2].off, 25000);
	assert_int_equal(l.v[2].len, 1000);
	assert_true(l.v[2].data);
	assert_int_equal(l.v[3].off, 26000);
	assert_int_equal(l.v[3].len, 4000);
	assert_false(l.v[3].data);
	assert_int_equal(l.v[4].off, 60000);
	assert_int_equal(l.v[4].len, 65536 - 60000);
	assert_true(l.v[4].data);
	extent_list_release(&l);

	/* overlapping data extents merge; an empty list stays empty */
	assert_int_equal(extent_list_add(&l, 100, 100, true), 0);
	assert_int_equal(extent_list_add(&l, 0, 150, true), 0);
	assert_int_equal(extent_list_normalize(&l, 1000), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].off, 0);
	assert_int_equal(l.v[0].len, 200);
	extent_list_release(&l);
	assert_int_equal(extent_list_normalize(&l, 1000), 0);
	assert_int_equal(l.n, 0);
}

/* Checks every plan must pass: offset order, no overlap, sizes, block boundaries. */
static void plan_sane(const struct chunk_plan *p, uint64_t chunk_max)
{
	uint64_t end = 0, rb = 0, db = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct chunk *c = &p->v[i];
		assert_true(c->len > 0);
		assert_true(c->off >= end);
		if (c->kind != CHUNK_ZERO) {
			assert_true(c->len <= chunk_max);
			assert_true(c->off / BK_BLOCK == (c->off + c->len - 1) / BK_BLOCK);
			rb += c->len;
		} else {
			assert_true(c->len <= BK_ZERO_CHUNK_MAX);
		}
		if (c->kind == CHUNK_DATA)
			db += c->len;
		end = c->off + c->len;
	}
	assert_int_equal(rb, p->read_bytes);
	assert_int_equal(db, p->data_bytes);
}

static void test_chunk_plan_full(void **state)
{
	const uint64_t size = 64 * MiB;
	struct extent_list l = {0};
	struct chunk_plan p = {0};
	uint64_t covered = 0;

	assert_int_equal(extent_list_add(&l, 3 * MiB, 3 * MiB, true), 0); /* crosses 4 MiB */
	assert_int_equal(extent_list_add(&l, 40 * MiB, 4 * KiB, true), 0);
	assert_int_equal(extent_list_normalize(&l, size), 0);
	assert_int_equal(chunk_plan_build(&l, size, 1 * MiB, true, NULL, &p), 0);
	plan_sane(&p, 1 * MiB);
	for (size_t i = 0; i < p.n; i++) {
		assert_int_equal(p.v[i].off, covered); /* a full plan covers everything */
		covered += p.v[i].len;
	}
	assert_int_equal(covered, size);
	assert_int_equal(p.data_bytes, 3 * MiB + 4 * KiB);
	/* zero, data 3-4, data 4-5, data 5-6, zero, data, zero */
	assert_int_equal(p.n, 7);
	assert_int_equal(p.v[0].kind, CHUNK_ZERO);
	assert_int_equal(p.v[0].len, 3 * MiB);
	assert_int_equal(p.v[1].kind, CHUNK_DATA);
	assert_int_equal(p.v[1].off, 3 * MiB);
	assert_int_equal(p.v[1].len, 1 * MiB);
	assert_int_equal(p.v[3].off, 5 * MiB);
	assert_int_equal(p.v[4].kind, CHUNK_ZERO);
	assert_int_equal(p.v[5].kind, CHUNK_DATA);
	assert_int_equal(p.v[6].kind, CHUNK_ZERO);
	assert_int_equal(p.v[6].off + p.v[6].len, size);
	chunk_plan_release(&p);

	/* a chunk larger than a block is cut at the block */
	assert_int_equal(chunk_plan_build(&l, size, 64 * MiB, true, NULL, &p), 0);
	plan_sane(&p, BK_BLOCK);
	assert_int_equal(p.v[1].len, 1 * MiB); /* 3 MiB .. 4 MiB */
	assert_int_equal(p.v[2].len, 2 * MiB); /* 4 MiB .. 6 MiB */
	chunk_plan_release(&p);
	extent_list_release(&l);

	/* an empty volume: one zero chunk; a 3 GiB empty one: cut at 1 GiB */
	assert_int_equal(chunk_plan_build(&l, 3ULL << 30, MiB, true, NULL, &p), 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.read_bytes, 0);
	chunk_plan_release(&p);
	assert_int_equal(chunk_plan_build(&l, MiB, 0, true, NULL, &p), -EINVAL);
}

static void test_chunk_plan_incremental(void **state)
{
	const uint64_t size = 16 * MiB;
	struct extent_list l = {0};
	struct chunk_plan p = {0};
	bool rehash[4] = {false, false, false, true};

	/* block 0: data in the middle; block 1: a zeroed piece; block 2: untouched */
	assert_int_equal(extent_list_add(&l, 1 * MiB, 512 * KiB, true), 0);
	assert_int_equal(extent_list_add(&l, BK_BLOCK + 4 * KiB, 8 * KiB, false), 0);
	assert_int_equal(extent_list_normalize(&l, size), 0);
	assert_int_equal(chunk_plan_build(&l, size, 1 * MiB, false, rehash, &p), 0);
	plan_sane(&p, 1 * MiB);

	/* block 0: hash 0-1M, data 1M-1.5M, hash 1.5M-2M, 2M-3M, 3M-4M */
	assert_int_equal(p.v[0].kind, CHUNK_HASH);
	assert_int_equal(p.v[0].off, 0);
	assert_int_equal(p.v[0].len, 1 * MiB);
	assert_int_equal(p.v[1].kind, CHUNK_DATA);
	assert_int_equal(p.v[1].len, 512 * KiB);
	assert_int_equal(p.v[2].kind, CHUNK_HASH);
	assert_int_equal(p.v[2].off, 1536 * KiB);
	/* every touched block (0, 1 and the rehashed 3) is covered whole, block 2 not at all */
	{
		uint64_t cover[4] = {0};
		for (size_t i = 0; i < p.n; i++) {
			uint64_t b = p.v[i].off / BK_BLOCK;
			assert_true(b != 2);
			cover[b] += p.v[i].len;
		}
		assert_int_equal(cover[0], BK_BLOCK);
		assert_int_equal(cover[1], BK_BLOCK);
		assert_int_equal(cover[3], BK_BLOCK);
	}
	assert_int_equal(p.data_bytes, 512 * KiB);
	assert_int_equal(p.read_bytes, 3 * BK_BLOCK - 8 * KiB);
	chunk_plan_release(&p);

	/* a zero extent over two whole blocks is one chunk */
	extent_list_release(&l);
	assert_int_equal(extent_list_add(&l, 0, 2 * BK_BLOCK, false), 0);
	assert_int_equal(extent_list_normalize(&l, size), 0);
	assert_int_equal(chunk_plan_build(&l, size, 1 * MiB, false, NULL, &p), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.v[0].kind, CHUNK_ZERO);
	assert_int_equal(p.v[0].len, 2 * BK_BLOCK);
	assert_int_equal(p.read_bytes, 0);
	chunk_plan_release(&p);
	extent_list_release(&l);

	/* nothing changed: nothing to do */
	assert_int_equal(chunk_plan_build(&l, size, 1 * MiB, false, NULL, &p), 0);
	assert_int_equal(p.n, 0);
	chunk_plan_release(&p);
}

static void test_buf_is_zero(void **state)
{
	uint8_t b[1000] = {0};

	assert_true(buf_is_zero(b, sizeof(b)));
	assert_true(buf_is_zero(b, 0));
	b[999] = 1;
	assert_false(buf_is_zero(b, sizeof(b)));
	assert_true(buf_is_zero(b, 999));
	b[999] = 0;
	b[70] = 0x80;
	assert_false(buf_is_zero(b, sizeof(b)));
}

/* ---- the stream ------------------------------------------------------------------------------- */

static void test_dstream_v1_bytes(void **state)
{
	/* what `rbd export-diff --from-snap a IMG@b` writes for this diff, byte by byte */
	static const uint8_t want[] = {
	        'r', 'b', 'd',  ' ',  'd',  'i', 'f', 'f', ' ', 'v',  '1', '\n', 'f',
	        1,   0,   0,    0,    'a',                    /* from "a" */
	        't', 2,   0,    0,    0,    'b', 'c',         /* to "bc" */
	        's', 0,   0,    0x10, 0,    0,   0,   0,   0, /* size 1 MiB */
	        'w', 0,   0x10, 0,    0,    0,   0,   0,   0,   3,    0,   0,    0,
	        0,   0,   0,    0,    'x',  'y', 'z', 'z', 0,   0x20, 0,   0,    0,
	        0,   0,   0,    0,    0x30, 0,   0,   0,   0,   0,    0, /* 2 zeros merged */
	        'e',
	};
	int fd = memfd();
	struct dstream_writer w;
	uint8_t sha[SHA256_LEN], want_sha[SHA256_LEN];
	uint8_t *got;
	size_t len;

	assert_int_equal(dstream_writer_init(&w, fd, 1), 0);
	assert_int_equal(dstream_write_header(&w, "a", "bc", 1 * MiB), 0);
	assert_int_equal(dstream_write_data(&w, 4096, 3, "xyz"), 0);
	assert_int_equal(dstream_write_zero(&w, 8192, 4096), 0);
	assert_int_equal(dstream_write_zero(&w, 12288, 8192), 0);
	assert_int_equal(dstream_write_end(&w, sha), 0);
	dstream_writer_release(&w);
	got = slurp(fd, &len);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(sha256_buf(want, sizeof(want), want_sha), 0);
	assert_memory_equal(sha, want_sha, SHA256_LEN); /* the file hash comes for free */
	free(got);
	close(fd);
}

static void test_dstream_v2_bytes(void **state)
{
	static const uint8_t want[] = {
	        'r', 'b', 'd', ' ',  'd',  'i',  'f', 'f', ' ', 'v', '2', '\n', 't', 6, 0,    0, 0,
	        0,   0,   0,   0,    2,    0,    0,   0,   'b', 'c', 's', 8,    0,   0, 0,    0, 0,
	        0,   0,   0,   0,    0x10, 0,    0,   0,   0,   0,   'w', 19,   0,   0, 0,    0, 0,
	        0,   0,   0,   0x10, 0,    0,    0,   0,   0,   0,   3,   0,    0,   0, 0,    0, 0,
	        0,   'x', 'y', 'z',  'z',  16,   0,   0,   0,   0,   0,   0,    0,   0, 0x20, 0, 0,
	        0,   0,   0,   0,    0,    0x10, 0,   0,   0,   0,   0,   0,    'e',
	};
	int fd = memfd();
	struct dstream_writer w;
	uint8_t sha[SHA256_LEN];
	uint8_t *got;
	size_t len;

	assert_int_equal(dstream_writer_init(&w, fd, 2), 0);
	assert_int_equal(dstream_write_header(&w, NULL, "bc", 1 * MiB), 0);
	assert_int_equal(dstream_write_data(&w, 4096, 3, "xyz"), 0);
	assert_int_equal(dstream_write_zero(&w, 8192, 4096), 0);
	assert_int_equal(dstream_write_end(&w, sha), 0);
	dstream_writer_release(&w);
	got = slurp(fd, &len);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
	free(got);
	close(fd);
	assert_int_equal(dstream_writer_init(&w, fd, 3), -EINVAL);
}

/* Read a whole stream: the records as a string like "f:a t:bc s:1048576 w:4096+3 z:..." */
static int read_all(const void *data, size_t len, char *out, size_t outlen, struct cairn_err *err)
{
	int fd = fd_of(data, len);
	struct dstream_reader r;
	struct dstream_rec rec;
	size_t used = 0;
	int ret;

	out[0] = '\0';
	ret = dstream_reader_init(&r, fd, err);
	while (ret >= 0 && (ret = dstream_next(&r, &rec, err)) > 0) {
		char buf[64] = "";
		if (rec.tag == 'f' || rec.tag == 't')
			snprintf(buf, sizeof(buf), "%c:%.40s ", rec.tag, rec.snap);
		else if (rec.tag == 's')
			snprintf(buf, sizeof(buf), "s:%llu ", (unsigned long long)rec.size);
		else
			snprintf(buf, sizeof(buf), "%c:%llu+%llu ", rec.tag,
			         (unsigned long long)rec.off, (unsigned long long)rec.len);
		if (rec.tag == 'w' && rec.len <= 8) {
			char d[9] = "";
			ret = dstream_read_data(&r, d, rec.len, err);
			if (ret < 0)
				break;
			snprintf(buf + strlen(buf) - 1, sizeof(buf) - strlen(buf) + 1, "=%s ", d);
		}
		used += (size_t)snprintf(out + used, outlen - used, "%s", buf);
	}
	dstream_reader_release(&r);
	close(fd);
	return ret;
}

static void test_dstream_read(void **state)
{
	static const uint8_t v1[] = {
	        'r', 'b', 'd', ' ', 'd',  'i', 'f',  'f', ' ', 'v', '1', '\n', 'f', 1,    0,
	        0,   0,   'a', 't', 2,    0,   0,    0,   'b', 'c', 's', 0,    0,   0x10, 0,
	        0,   0,   0,   0,   'w',  0,   0x10, 0,   0,   0,   0,   0,    0,   3,    0,
	        0,   0,   0,   0,   0,    0,   'x',  'y', 'z', 'z', 0,   0x20, 0,   0,    0,
	        0,   0,   0,   0,   0x30, 0,   0,    0,   0,   0,   0,   'e',
	};
	/* v2 with a record of an unknown tag 'Q' (4 bytes of payload), which is skipped */
	static const uint8_t v2[] = {
	        'r', 'b', 'd', ' ', 'd', 'i', 'f', 'f', ' ', 'v',  '2',  '\n', 's', 8,
	        0,   0,   0,   0,   0,   0,   0,   0,   0,   0x10, 0,    0,    0,   0,
	        0,   'Q', 4,   0,   0,   0,   0,   0,   0,   0,    1,    2,    3,   4,
	        'w', 18,  0,   0,   0,   0,   0,   0,   0,   0,    0x10, 0,    0,   0,
	        0,   0,   0,   2,   0,   0,   0,   0,   0,   0,    0,    'o',  'k', 'e',
	};
	struct cairn_err err = {0};
	char out[512];
	uint8_t bad[sizeof(v1) + 1];

	assert_int_equal(read_all(v1, sizeof(v1), out, sizeof(out), &err), 0);
	assert_string_equal(out, "f:a t:bc s:1048576 w:4096+3=xyz z:8192+12288 ");
	assert_int_equal(read_all(v2, sizeof(v2), out, sizeof(out), &err), 0);
	assert_string_equal(out, "s:1048576 w:4096+2=ok ");

	/* a bad banner */
	memcpy(bad, v1, sizeof(v1));
	bad[10] = '3';
	err_clear(&err);
	assert_int_equal(read_all(bad, sizeof(v1), out, sizeof(out), &err), -EILSEQ);
	assert_non_null(strstr(err.msg, "banner"));
	/* truncated: no end record; cut inside the data */
	err_clear(&err);
	assert_int_equal(read_all(v1, sizeof(v1) - 1, out, sizeof(out), &err), -EILSEQ);
	assert_non_null(strstr(err.msg, "no end record"));
	err_clear(&err);
	assert_int_equal(read_all(v1, 52, out, sizeof(out), &err), -EILSEQ);
	/* something after the end */
	memcpy(bad, v1, sizeof(v1));
	bad[sizeof(v1)] = 'x';
	err_clear(&err);
	assert_int_equal(read_all(bad, sizeof(v1) + 1, out, sizeof(out), &err), -EILSEQ);
	assert_non_null(strstr(err.msg, "after the end"));
	/* an unknown tag in v1 */
	memcpy(bad, v1, sizeof(v1));
	bad[12] = 'Q';
	err_clear(&err);
	assert_int_equal(read_all(bad, sizeof(v1), out, sizeof(out), &err), -EILSEQ);
	assert_non_null(strstr(err.msg, "unknown record tag at stream offset 12"));
	/* data past the size: offset 4096 -> 0x100000 */
	memcpy(bad, v1, sizeof(v1));
	bad[37] = 0x10;
	bad[36] = 0;
	err_clear(&err);
	assert_int_equal(read_all(bad, sizeof(v1), out, sizeof(out), &err), -EILSEQ);
	assert_non_null(strstr(err.msg, "past the end"));
	/* v2: a length that does not match */
	{
		uint8_t b2[sizeof(v2)];
		memcpy(b2, v2, sizeof(v2));
		b2[13] = 9;
		err_clear(&err);
		assert_int_equal(read_all(b2, sizeof(v2), out, sizeof(out), &err), -EILSEQ);
		assert_non_null(strstr(err.msg, "length does not match"));
	}
}

/*
 * The whole chain in memory: a volume, a full and two incrementals through the planner, the
 * stream writer and the block hasher; replaying the streams through the reader rebuilds
 * each point, and the recorded digests match the digest of each point.
 */
struct model {
	uint64_t size;
	uint8_t *data;
};

static void model_write(struct model *m, uint64_t off, uint64_t len, uint8_t seed)
{
	for (uint64_t i = 0; i < len; i++)
		m->data[off + i] = (uint8_t)(seed + i * 31 + (i >> 9));
}

/* What diff_iterate would say: whole 64 KiB pieces that differ from base (base NULL: any
 * non-zero piece). */
static void model_diff(const struct model *m, const uint8_t *base, struct extent_list *l)
{
	const uint64_t piece = 64 * KiB;

	for (uint64_t off = 0; off < m->size; off += piece) {
		const uint8_t *now = m->data + off;
		if (base ? memcmp(now, base + off, piece) == 0 : buf_is_zero(now, piece))
			continue;
		assert_int_equal(extent_list_add(l, off, piece, !buf_is_zero(now, piece)), 0);
	}
	assert_int_equal(extent_list_normalize(l, m->size), 0);
}

/* Write one backup stream from the model the way backup_create does. */
static int model_backup(const struct model *m, const uint8_t *base, struct blocklist *bl,
                        const char *from, const char *to, uint8_t digest[SHA256_LEN],
                        uint64_t *bytes)
{
	struct extent_list l = {0};
	struct chunk_plan p = {0};
	struct dstream_writer w;
	struct bhasher h;
	uint8_t sha[SHA256_LEN];
	int fd = memfd();

	model_diff(m, base, &l);
	assert_int_equal(chunk_plan_build(&l, m->size, 256 * KiB, base == NULL, NULL, &p), 0);
	assert_int_equal(bhasher_init(&h, bl), 0);
	assert_int_equal(dstream_writer_init(&w, fd, 1), 0);
	assert_int_equal(dstream_write_header(&w, from, to, m->size), 0);
	*bytes = 0;
	for (size_t i = 0; i < p.n; i++) {
		const struct chunk *c = &p.v[i];
		const uint8_t *d = m->data + c->off;
		bool zero = c->kind == CHUNK_ZERO || buf_is_zero(d, c->len);
		assert_int_equal(bhasher_feed(&h, c->off, zero ? NULL : d, c->len), 0);
		if (c->kind == CHUNK_HASH)
			continue;
		if (zero) {
			assert_int_equal(dstream_write_zero(&w, c->off, c->len), 0);
		} else {
			assert_int_equal(dstream_write_data(&w, c->off, c->len, d), 0);
			*bytes += c->len;
		}
	}
	assert_int_equal(bhasher_finish(&h), 0);
	bhasher_release(&h);
	assert_int_equal(dstream_write_end(&w, sha), 0);
	dstream_writer_release(&w);
	assert_int_equal(blocklist_digest(bl, digest), 0);
	chunk_plan_release(&p);
	extent_list_release(&l);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Replay a stream onto vol. */
static void model_apply(int fd, uint8_t *vol, uint64_t size)
{
	struct cairn_err err = {0};
	struct dstream_reader r;
	struct dstream_rec rec;
	int ret;

	assert_int_equal(dstream_reader_init(&r, fd, &err), 0);
	while ((ret = dstream_next(&r, &rec, &err)) > 0) {
		if (rec.tag == 's')
			assert_int_equal(rec.size, size);
		else if (rec.tag == 'z')
			memset(vol + rec.off, 0, rec.len);
		else if (rec.tag == 'w')
			assert_int_equal(dstream_read_data(&r, vol + rec.off, rec.len, &err), 0);
	}
	assert_int_equal(ret, 0);
	dstream_reader_release(&r);
}

static void test_chain_round_trip(void **state)
{
	const uint64_t size = 3 * BK_BLOCK + 1 * MiB;
	struct model m = {.size = size, .data = calloc(1, size)};
	uint8_t *points[3], *restored = calloc(1, size);
	uint8_t digest[3][SHA256_LEN], want[SHA256_LEN];
	struct blocklist bl;
	uint64_t bytes[3];
	int fds[3];

	assert_non_null(m.data);
	assert_non_null(restored);
	assert_int_equal(blocklist_init(&bl, size), 0);

	/* point 0: scattered data; a full backup */
	model_write(&m, 0, 100 * KiB, 1);
	model_write(&m, 2 * BK_BLOCK + 300 * KiB, 1 * MiB, 2);
	model_write(&m, size - 64 * KiB, 64 * KiB, 3);
	points[0] = malloc(size);
	memcpy(points[0], m.data, size);
	fds[0] = model_backup(&m, NULL, &bl, NULL, "p0", digest[0], &bytes[0]);
	/* zeros are never data: whole 64 KiB pieces that hold any data, nothing else */
	assert_int_equal(bytes[0], 128 * KiB + 17 * 64 * KiB + 64 * KiB);

	/* point 1: overwrite, zero a piece (a discard), touch a new block */
	model_write(&m, 10 * KiB, 20 * KiB, 4);
	memset(m.data + 2 * BK_BLOCK + 320 * KiB, 0, 64 * KiB);
	model_write(&m, BK_BLOCK + 5, 7, 5);
	points[1] = malloc(size);
	memcpy(points[1], m.data, size);
	fds[1] = model_backup(&m, points[0], &bl, "p0", "p1", digest[1], &bytes[1]);
	assert_int_equal(bytes[1], 64 * KiB + 64 * KiB);

	/* point 2: one byte */
	m.data[size - 1] ^= 0xff;
	points[2] = malloc(size);
	memcpy(points[2], m.data, size);
	fds[2] = model_backup(&m, points[1], &bl, "p1", "p2", digest[2], &bytes[2]);
	assert_int_equal(bytes[2], 64 * KiB);

	/* replay the chain: each point comes back, with its digest */
	for (int i = 0; i < 3; i++) {
		model_apply(fds[i], restored, size);
		assert_memory_equal(restored, points[i], size);
		digest_direct(points[i], size, want);
		assert_memory_equal(digest[i], want, SHA256_LEN);
		close(fds[i]);
		free(points[i]);
	}
	blocklist_release(&bl);
	free(restored);
	free(m.data);
}

/* ---- records --------------------------------------------------------------------------------- */

static void fill_record(struct backup_record *r)
{
	memset(r, 0, sizeof(*r));
	str_copy(r->id, sizeof(r->id), "6f1c1b7e-2f5e-4b71-9d2a-0c9d7b1c3e55");
	str_copy(r->volume, sizeof(r->volume), "web1");
	str_copy(r->volume_id, sizeof(r->volume_id), "0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11");
	r->kind = BACKUP_KIND_INCREMENTAL;
	r->target = BACKUP_TARGET_FILE;
	str_copy(r->parent, sizeof(r->parent), "11111111-2222-4333-8444-555555555555");
	r->status = BACKUP_STATUS_AVAILABLE;
	r->size = 256 * MiB;
	r->bytes = 4 * MiB;
	bk_snap_name(r->snapshot, r->id);
	str_copy(r->label, sizeof(r->label), "nightly \"quoted\"");
	str_copy(r->created, sizeof(r->created), "2026-11-26T12:00:00.123Z");
	str_copy(r->updated, sizeof(r->updated), "2026-11-26T12:00:01.456Z");
	memset(r->checksum_file, 'a', 64);
	memset(r->checksum_volume, 'b', 64);
	str_copy(r->path, sizeof(r->path), "/var/lib/cairn/backups/x.diff");
	str_copy(r->op, sizeof(r->op), "op-1");
}

static void test_record_round_trip(void **state)
{
	struct backup_record r, back;
	struct cairn_err err = {0};
	struct json_object *o, *v;
	char *text;

	fill_record(&r);
	text = backup_record_format(&r);
	assert_non_null(text);
	assert_int_equal(backup_record_parse(text, &back, &err), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	free(text);

	/* a full one: parent null, no label, no file checksum */
	r.kind = BACKUP_KIND_FULL;
	memset(r.parent, 0, sizeof(r.parent));
	memset(r.label, 0, sizeof(r.label));
	memset(r.checksum_file, 0, sizeof(r.checksum_file));
	r.target = BACKUP_TARGET_POOL;
	str_copy(r.why_full, sizeof(r.why_full), "volume 'web1' has no earlier good backup");
	text = backup_record_format(&r);
	assert_non_null(strstr(text, "\"parent\":null"));
	assert_int_equal(backup_record_parse(text, &back, &err), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	free(text);

	o = backup_record_to_json(&r);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "incremental", &v));
	assert_false(json_object_get_boolean(v));
	assert_string_equal(json_get_string(o, "kind"), "full");
	assert_string_equal(json_get_string(o, "target"), "pool");
	assert_string_equal(json_get_string(o, "why_full"),
	                    "volume 'web1' has no earlier good backup");
	assert_true(json_object_object_get_ex(o, "checksums", &v));
	assert_string_equal(json_get_string(v, "volume_algorithm"), BACKUP_VOLUME_DIGEST);
	assert_false(json_object_object_get_ex(o, "op", NULL)); /* internal */
	json_object_put(o);

	for (int i = 0; i < BACKUP_KIND_MAX; i++)
		assert_int_equal(backup_kind_from_string(backup_kind_to_string(i)), i);
	for (int i = 0; i < BACKUP_STATUS_MAX; i++)
		assert_int_equal(backup_status_from_string(backup_status_to_string(i)), i);
	assert_int_equal(backup_status_from_string("done"), -EINVAL);
	assert_null(backup_kind_to_string(BACKUP_KIND_MAX));
}

static void test_record_errors(void **state)
{
	static const char *const bad[] = {
	        "[]",
	        "{\"volume\":\"v\",\"volume_id\":\"x\",\"kind\":\"full\",\"target\":\"pool\","
	        "\"status\":\"available\"}",
	        "{\"id\":\"i\",\"volume\":\"v\",\"volume_id\":\"x\",\"kind\":\"partial\","
	        "\"target\":\"pool\",\"status\":\"available\"}",
	        "{\"id\":\"i\",\"volume\":\"v\",\"volume_id\":\"x\",\"kind\":\"full\","
	        "\"target\":\"tape\",\"status\":\"available\"}",
	        "{\"id\":\"i\",\"volume\":\"v\",\"volume_id\":\"x\",\"kind\":\"full\","
	        "\"target\":\"pool\",\"status\":\"available\",\"size\":-1}",
	        "{\"id\":\"i\",\"volume\":\"v\",\"volume_id\":\"x\",\"kind\":\"incremental\","
	        "\"target\":\"pool\",\"status\":\"available\"}",
	        "{\"id\":7,\"volume\":\"v\",\"volume_id\":\"x\",\"kind\":\"full\","
	        "\"target\":\"pool\",\"status\":\"available\"}",
	};
	static const char *const why[] = {
	        "not a JSON object",
	        "no 'id'",
	        "unknown kind 'partial'",
	        "unknown target 'tape'",
	        "'size' is not a non-negative integer",
	        "incremental without a parent",
	        "'id' is not a string",
	};
	struct backup_record r;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct cairn_err err = {0};
		assert_int_equal(backup_record_parse(bad[i], &r, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, why[i]));
	}
}

/* ---- manifest -------------------------------------------------------------------------------- */

static void test_manifest(void **state)
{
	char dir[] = "/tmp/test-backup-XXXXXX";
	const char *vid = "0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11";
	struct cairn_err err = {0};
	struct json_object *m = NULL, *arr;
	struct backup_record r;
	char *path, *file;

	assert_non_null(mkdtemp(dir));
	path = bk_manifest_path(dir, vid);
	/* none yet: an empty one */
	assert_int_equal(manifest_load(dir, vid, "web1", &m, &err), 0);
	fill_record(&r);
	file = bk_file_name(vid, r.id);
	assert_string_equal(file, "0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11."
	                          "6f1c1b7e-2f5e-4b71-9d2a-0c9d7b1c3e55.diff");
	assert_int_equal(manifest_add(m, &r, file), 0);
	str_copy(r.id, sizeof(r.id), "22222222-2222-4222-8222-222222222222");
	assert_int_equal(manifest_add(m, &r, "second"), 0);
	assert_int_equal(manifest_store(dir, vid, m, &err), 0);
	json_object_put(m);
	assert_int_equal(access(path, R_OK), 0);

	/* back in the same order, then one removed */
	assert_int_equal(manifest_load(dir, vid, "web1", &m, &err), 0);
	assert_true(json_object_object_get_ex(m, "backups", &arr));
	assert_int_equal(json_object_array_length(arr), 2);
	assert_string_equal(json_get_string(json_object_array_get_idx(arr, 1), "file"), "second");
	assert_non_null(manifest_find(m, "6f1c1b7e-2f5e-4b71-9d2a-0c9d7b1c3e55"));
	assert_string_equal(json_get_string(manifest_find(m, r.id), "file_sha256"),
	                    r.checksum_file);
	assert_int_equal(manifest_remove(m, "6f1c1b7e-2f5e-4b71-9d2a-0c9d7b1c3e55"), 1);
	assert_int_equal(manifest_remove(m, "6f1c1b7e-2f5e-4b71-9d2a-0c9d7b1c3e55"), 0);
	assert_null(manifest_find(m, "6f1c1b7e-2f5e-4b71-9d2a-0c9d7b1c3e55"));
	/* the last one gone: the file goes */
	assert_int_equal(manifest_remove(m, r.id), 1);
	assert_int_equal(manifest_store(dir, vid, m, &err), 0);
	json_object_put(m);
	assert_int_equal(access(path, F_OK), -1);

	/* corrupt */
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "{\"backups\": 3}", 14), 14);
		close(fd);
		err_clear(&err);
		assert_int_equal(manifest_load(dir, vid, "web1", &m, &err), -EILSEQ);
		assert_non_null(strstr(err.msg, "corrupt"));
		unlink(path);
	}
	/* no temporary file is ever left */
	{
		char *tmp = str_printf("%s.tmp", path);
		assert_int_equal(access(tmp, F_OK), -1);
		free(tmp);
	}
	free(file);
	free(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sha256_vectors),
	        cmocka_unit_test(test_block_digest),
	        cmocka_unit_test(test_extents_normalize),
	        cmocka_unit_test(test_chunk_plan_full),
	        cmocka_unit_test(test_chunk_plan_incremental),
	        cmocka_unit_test(test_buf_is_zero),
	        cmocka_unit_test(test_dstream_v1_bytes),
	        cmocka_unit_test(test_dstream_v2_bytes),
	        cmocka_unit_test(test_dstream_read),
	        cmocka_unit_test(test_chain_round_trip),
	        cmocka_unit_test(test_record_round_trip),
	        cmocka_unit_test(test_record_errors),
	        cmocka_unit_test(test_manifest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
