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
#include <openssl/evp.h>

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

/* ---- the volume digest ------------------------------------------------------------------------ */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The digest as the definition gives it, straight from the bytes, with OpenSSL alone. */
static void digest_direct(const uint8_t *vol, uint64_t size, char out[BACKUP_SHA256_HEX])
{
	uint16_t lanes[1024] = {0};
	uint8_t bytes[2048], d[32];

	for (uint64_t off = 0, i = 0; off < size; off += 65536, i++) {
		uint64_t n = size - off < 65536 ? size - off : 65536;
		uint8_t prefix[16], sha[32], v[2048];
		unsigned int len = 32;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		bool zero = true;

		for (uint64_t k = 0; k < n && zero; k++)
			zero = vol[off + k] == 0;
		if (zero) {
			EVP_MD_CTX_free(ctx);
			continue;
		}
		put64(prefix, i);
		put64(prefix + 8, n);
		assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
		EVP_DigestUpdate(ctx, prefix, 16);
		EVP_DigestUpdate(ctx, vol + off, n);
		EVP_DigestFinal_ex(ctx, sha, &len);
		assert_int_equal(EVP_DigestInit_ex(ctx, EVP_shake256(), NULL), 1);
		EVP_DigestUpdate(ctx, sha, 32);
		assert_int_equal(EVP_DigestFinalXOF(ctx, v, sizeof(v)), 1);
		EVP_MD_CTX_free(ctx);
		for (int l = 0; l < 1024; l++)
			lanes[l] = (uint16_t)(lanes[l] + (v[2 * l] | v[2 * l + 1] << 8));
	}
	for (int l = 0; l < 1024; l++) {
		bytes[2 * l] = (uint8_t)lanes[l];
		bytes[2 * l + 1] = (uint8_t)(lanes[l] >> 8);
	}
	assert_int_equal(sha256_buf(bytes, sizeof(bytes), d), 0);
	sha256_hex(d, out);
}

static void state_hex(const struct lthash *st, char out[BACKUP_SHA256_HEX])
{
	uint8_t d[SHA256_LEN];

	assert_int_equal(lthash_digest(st, d), 0);
	sha256_hex(d, out);
}

static void test_volume_digest(void **state)
{
	const uint64_t size = 5 * BK_SUB + 12 * KiB; /* a short last sub-block */
	uint8_t *v0 = calloc(1, size), *v1 = calloc(1, 8 * BK_SUB);
	char want[BACKUP_SHA256_HEX], got[BACKUP_SHA256_HEX];
	struct lthash st = {{0}}, back;
	struct vhasher h;
	uint8_t stored[LTHASH_STORED_LEN];
	uint64_t sz;

	assert_non_null(v0);
	assert_non_null(v1);

	/* nothing but zeros: the state is zero, the digest that of 2048 zero bytes
	 * (`head -c 2048 /dev/zero | sha256sum`) */
	digest_direct(v0, size, want);
	assert_string_equal(want,
	                    "e5a00aa9991ac8a5ee3109844d84a55583bd20572ad3ffcd42792f3c36b183ad");
	state_hex(&st, got);
	assert_string_equal(got, want);

	/* data in sub-blocks 1 and 5 (the short one); fed in pieces, zeros as NULL */
	memset(v0 + BK_SUB + 100, 0x5a, 3000);
	memset(v0 + 5 * BK_SUB + 10, 0xa5, 10);
	digest_direct(v0, size, want);
	assert_int_equal(vhasher_init(&h, &st, size, 0), 0);
	assert_int_equal(vhasher_feed(&h, false, 0, NULL, BK_SUB + 100), 0);
	assert_int_equal(vhasher_feed(&h, false, BK_SUB + 100, v0 + BK_SUB + 100, 3000), 0);
	assert_int_equal(vhasher_feed(&h, false, BK_SUB + 3100, NULL, 4 * BK_SUB - 3100), 0);
	assert_int_equal(vhasher_feed(&h, false, 5 * BK_SUB, v0 + 5 * BK_SUB, 12 * KiB), 0);
	assert_int_equal(vhasher_finish(&h), 0);
	vhasher_release(&h);
	state_hex(&st, got);
	assert_string_equal(got, want);
	/* zeros fed as data are zeros too */
	{
		struct lthash st2 = {{0}};
		assert_int_equal(vhasher_init(&h, &st2, size, 0), 0);
		assert_int_equal(vhasher_feed(&h, false, 0, v0, size), 0);
		assert_int_equal(vhasher_finish(&h), 0);
		vhasher_release(&h);
		assert_memory_equal(&st2, &st, sizeof(st));
	}

	/* an incremental: sub-block 1 changed, 3 written, 5 zeroed, and the volume grew to 8
	 * sub-blocks: out go the old values of 1, 3 (zero: nothing), 5; in the new ones */
	memcpy(v1, v0, size);
	memset(v1 + BK_SUB + 200, 0x11, 10);
	memset(v1 + 3 * BK_SUB, 0x22, BK_SUB);
	memset(v1 + 5 * BK_SUB, 0, 12 * KiB);
	memset(v1 + 7 * BK_SUB + 1, 0x33, 1);
	assert_int_equal(vhasher_init(&h, &st, 8 * BK_SUB, size), 0);
	assert_int_equal(vhasher_feed(&h, true, BK_SUB, v0 + BK_SUB, BK_SUB), 0);
	assert_int_equal(vhasher_feed(&h, false, BK_SUB, v1 + BK_SUB, BK_SUB), 0);
	assert_int_equal(vhasher_feed(&h, true, 3 * BK_SUB, v0 + 3 * BK_SUB, BK_SUB), 0);
	assert_int_equal(vhasher_feed(&h, false, 3 * BK_SUB, v1 + 3 * BK_SUB, BK_SUB), 0);
	assert_int_equal(vhasher_feed(&h, true, 5 * BK_SUB, v0 + 5 * BK_SUB, 12 * KiB), 0);
	assert_int_equal(vhasher_feed(&h, false, 5 * BK_SUB, v1 + 5 * BK_SUB, 3 * BK_SUB), 0);
	assert_int_equal(vhasher_finish(&h), 0);
	vhasher_release(&h);
	digest_direct(v1, 8 * BK_SUB, want);
	state_hex(&st, got);
	assert_string_equal(got, want);

	/* misuse: a skipped byte, a sub-block not fed from its start, past the end, half fed */
	assert_int_equal(vhasher_init(&h, &st, size, size), 0);
	assert_int_equal(vhasher_feed(&h, false, 0, v0, 100), 0);
	assert_int_equal(vhasher_feed(&h, false, 200, v0, 100), -EINVAL);
	assert_int_equal(vhasher_feed(&h, true, 5, v0, 100), -EINVAL);
	assert_int_equal(vhasher_feed(&h, true, size - 10, NULL, 20), -EINVAL);
	assert_int_equal(vhasher_finish(&h), -EINVAL);
	vhasher_release(&h);

	/* stored form */
	lthash_serialize(&st, 8 * BK_SUB, stored);
	assert_int_equal(lthash_parse(stored, sizeof(stored), &back, &sz), 0);
	assert_int_equal(sz, 8 * BK_SUB);
	assert_memory_equal(&back, &st, sizeof(st));
	assert_int_equal(lthash_parse(stored, sizeof(stored) - 1, &back, &sz), -EILSEQ);
	stored[3] ^= 1;
	assert_int_equal(lthash_parse(stored, sizeof(stored), &back, &sz), -EILSEQ);
	free(v0);
	free(v1);
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

/* Checks every plan must pass: each stream (new: DATA and ZERO; old: OLD) in offset order
 * without overlap, sizes, block boundaries, the byte counts. */
static void plan_sane(const struct chunk_plan *p, uint64_t chunk_max)
{
	uint64_t end_new = 0, end_old = 0, rb = 0, db = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct chunk *c = &p->v[i];
		uint64_t *end = c->kind == CHUNK_OLD ? &end_old : &end_new;
		assert_true(c->len > 0);
		assert_true(c->off >= *end);
		if (i)
			assert_true(c->off >= p->v[i - 1].off);
		if (c->kind != CHUNK_ZERO) {
			assert_true(c->len <= chunk_max);
			assert_true(c->off / BK_BLOCK == (c->off + c->len - 1) / BK_BLOCK);
			rb += c->len;
		} else {
			assert_true(c->len <= BK_ZERO_CHUNK_MAX);
		}
		if (c->kind == CHUNK_DATA)
			db += c->len;
		*end = c->off + c->len;
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
	assert_int_equal(extent_list_add(&l, 40 * MiB + 8 * KiB, 4 * KiB, true), 0);
	assert_int_equal(extent_list_normalize(&l, size), 0);
	assert_int_equal(chunk_plan_build(&l, size, 1 * MiB, true, 0, NULL, &p), 0);
	plan_sane(&p, 1 * MiB);
	for (size_t i = 0; i < p.n; i++) {
		assert_int_equal(p.v[i].off, covered); /* a full plan covers everything once */
		covered += p.v[i].len;
	}
	assert_int_equal(covered, size);
	/* the small extent grows to its whole sub-block */
	assert_int_equal(p.data_bytes, 3 * MiB + BK_SUB);
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
	assert_int_equal(p.v[5].off, 40 * MiB);
	assert_int_equal(p.v[5].len, BK_SUB);
	assert_int_equal(p.v[6].kind, CHUNK_ZERO);
	assert_int_equal(p.v[6].off + p.v[6].len, size);
	chunk_plan_release(&p);

	/* a chunk larger than a block is cut at the block */
	assert_int_equal(chunk_plan_build(&l, size, 64 * MiB, true, 0, NULL, &p), 0);
	plan_sane(&p, BK_BLOCK);
	assert_int_equal(p.v[1].len, 1 * MiB); /* 3 MiB .. 4 MiB */
	assert_int_equal(p.v[2].len, 2 * MiB); /* 4 MiB .. 6 MiB */
	chunk_plan_release(&p);
	extent_list_release(&l);

	/* an empty volume: zero chunks only, cut at 1 GiB */
	assert_int_equal(chunk_plan_build(&l, 3ULL << 30, MiB, true, 0, NULL, &p), 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.read_bytes, 0);
	chunk_plan_release(&p);
	assert_int_equal(chunk_plan_build(&l, MiB, 0, true, 0, NULL, &p), -EINVAL);
}

static void test_chunk_plan_incremental(void **state)
{
	const uint64_t size = 16 * MiB;
	struct extent_list l = {0};
	struct chunk_plan p = {0};

	/* data in sub-blocks; a small zeroed piece inside one sub-block */
	assert_int_equal(extent_list_add(&l, 1 * MiB, 512 * KiB, true), 0);
	assert_int_equal(extent_list_add(&l, BK_BLOCK + 4 * KiB, 8 * KiB, false), 0);
	assert_int_equal(extent_list_normalize(&l, size), 0);
	assert_int_equal(chunk_plan_build(&l, size, 1 * MiB, false, size, NULL, &p), 0);
	plan_sane(&p, 1 * MiB);
	/* old and new of the same sub-blocks; the partial zero is read as data */
	assert_int_equal(p.n, 4);
	assert_int_equal(p.v[0].kind, CHUNK_OLD);
	assert_int_equal(p.v[0].off, 1 * MiB);
	assert_int_equal(p.v[0].len, 512 * KiB);
	assert_int_equal(p.v[1].kind, CHUNK_DATA);
	assert_int_equal(p.v[1].off, 1 * MiB);
	assert_int_equal(p.v[2].kind, CHUNK_OLD);
	assert_int_equal(p.v[2].off, BK_BLOCK);
	assert_int_equal(p.v[2].len, BK_SUB);
	assert_int_equal(p.v[3].kind, CHUNK_DATA);
	assert_int_equal(p.v[3].off, BK_BLOCK);
	assert_int_equal(p.v[3].len, BK_SUB);
	assert_int_equal(p.data_bytes, 512 * KiB + BK_SUB);
	assert_int_equal(p.read_bytes, 2 * (512 * KiB + BK_SUB));
	chunk_plan_release(&p);
	extent_list_release(&l);

	/* a zero extent of whole sub-blocks with ragged ends: zeros inside, data at the ends */
	assert_int_equal(extent_list_add(&l, 10 * KiB, 2 * MiB, false), 0);
	assert_int_equal(extent_list_normalize(&l, size), 0);
	assert_int_equal(chunk_plan_build(&l, size, 4 * MiB, false, size, NULL, &p), 0);
	plan_sane(&p, 4 * MiB);
	/* old [0, 2 MiB + 64 KiB); new: data [0, 64K), zero [64K, 2M), data [2M, 2M + 64K) */
	assert_int_equal(p.n, 4);
	assert_int_equal(p.v[0].kind, CHUNK_OLD);
	assert_int_equal(p.v[0].len, 2 * MiB + BK_SUB);
	assert_int_equal(p.v[1].kind, CHUNK_DATA);
	assert_int_equal(p.v[1].len, BK_SUB);
	assert_int_equal(p.v[2].kind, CHUNK_ZERO);
	assert_int_equal(p.v[2].off, BK_SUB);
	assert_int_equal(p.v[2].len, 2 * MiB - BK_SUB);
	assert_int_equal(p.v[3].kind, CHUNK_DATA);
	assert_int_equal(p.v[3].off, 2 * MiB);
	chunk_plan_release(&p);
	extent_list_release(&l);

	/* grown from 10 MiB + 32 KiB: the old last sub-block and all after it are new */
	assert_int_equal(chunk_plan_build(&l, size, 1 * MiB, false, 10 * MiB + 32 * KiB, NULL, &p),
	                 0);
	plan_sane(&p, 1 * MiB);
	assert_int_equal(p.data_bytes, 6 * MiB);
	assert_int_equal(p.read_bytes, 6 * MiB + 32 * KiB);
	assert_int_equal(p.v[0].kind, CHUNK_OLD);
	assert_int_equal(p.v[0].off, 10 * MiB);
	assert_int_equal(p.v[0].len, 32 * KiB);
	chunk_plan_release(&p);

	/* shrunk to 8 MiB + 4 KiB: the old values from the new end's sub-block on go out */
	assert_int_equal(chunk_plan_build(&l, 8 * MiB + 4 * KiB, 4 * MiB, false, size, NULL, &p),
	                 0);
	plan_sane(&p, 4 * MiB);
	assert_int_equal(p.data_bytes, 4 * KiB);
	assert_int_equal(p.read_bytes, 4 * KiB + (size - 8 * MiB));

	/* the base had data only in [4 MiB, 8 MiB): old values elsewhere are zero */
	chunk_plan_release(&p);
	{
		struct extent_list alloc = {0}, ch = {0};
		assert_int_equal(extent_list_add(&alloc, BK_BLOCK, BK_BLOCK, true), 0);
		assert_int_equal(extent_list_add(&ch, 1 * MiB, 4 * KiB, true), 0);
		assert_int_equal(extent_list_add(&ch, BK_BLOCK + 4 * KiB, 4 * KiB, true), 0);
		assert_int_equal(extent_list_normalize(&ch, size), 0);
		assert_int_equal(chunk_plan_build(&ch, size, 1 * MiB, false, size, &alloc, &p), 0);
		plan_sane(&p, 1 * MiB);
		assert_int_equal(p.n, 3); /* data, old, data */
		assert_int_equal(p.v[0].kind, CHUNK_DATA);
		assert_int_equal(p.v[1].kind, CHUNK_OLD);
		assert_int_equal(p.v[1].off, BK_BLOCK);
		assert_int_equal(p.v[1].len, BK_SUB);
		extent_list_release(&alloc);
		extent_list_release(&ch);
	}

	/* nothing changed: nothing to do */
	chunk_plan_release(&p);
	assert_int_equal(chunk_plan_build(&l, size, 1 * MiB, false, size, NULL, &p), 0);
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
static int model_backup(const struct model *m, const uint8_t *base, uint64_t base_size,
                        struct lthash *st, const char *from, const char *to, uint64_t *bytes)
{
	struct extent_list l = {0};
	struct chunk_plan p = {0};
	struct dstream_writer w;
	struct vhasher h;
	uint8_t sha[SHA256_LEN];
	int fd = memfd();

	model_diff(m, base, &l);
	assert_int_equal(
	        chunk_plan_build(&l, m->size, 256 * KiB, base == NULL, base_size, NULL, &p), 0);
	plan_sane(&p, 256 * KiB);
	assert_int_equal(vhasher_init(&h, st, m->size, base_size), 0);
	assert_int_equal(dstream_writer_init(&w, fd, 1), 0);
	assert_int_equal(dstream_write_header(&w, from, to, m->size), 0);
	*bytes = 0;
	for (size_t i = 0; i < p.n; i++) {
		const struct chunk *c = &p.v[i];
		if (c->kind == CHUNK_OLD) {
			assert_int_equal(vhasher_feed(&h, true, c->off, base + c->off, c->len), 0);
			continue;
		}
		const uint8_t *d = c->kind == CHUNK_ZERO ? NULL : m->data + c->off;
		assert_int_equal(vhasher_feed(&h, false, c->off, d, c->len), 0);
		if (!d)
			assert_int_equal(dstream_write_zero(&w, c->off, c->len), 0);
		else
			assert_int_equal(dstream_write_runs(&w, c->off, d, c->len, bytes), 0);
	}
	assert_int_equal(vhasher_finish(&h), 0);
	vhasher_release(&h);
	assert_int_equal(dstream_write_end(&w, sha), 0);
	dstream_writer_release(&w);
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
	char digest[3][BACKUP_SHA256_HEX], want[BACKUP_SHA256_HEX];
	struct lthash st = {{0}};
	uint64_t bytes[3];
	int fds[3];

	assert_non_null(m.data);
	assert_non_null(restored);

	/* point 0: scattered data; a full backup */
	model_write(&m, 0, 100 * KiB, 1);
	model_write(&m, 2 * BK_BLOCK + 300 * KiB, 1 * MiB, 2);
	model_write(&m, size - 64 * KiB, 64 * KiB, 3);
	points[0] = malloc(size);
	memcpy(points[0], m.data, size);
	fds[0] = model_backup(&m, NULL, 0, &st, NULL, "p0", &bytes[0]);
	state_hex(&st, digest[0]);
	/* zeros are never data: non-zero 4 KiB runs, nothing else */
	assert_int_equal(bytes[0], 100 * KiB + 1 * MiB + 64 * KiB);

	/* point 1: overwrite, zero a piece (a discard), touch a new sub-block */
	model_write(&m, 10 * KiB, 20 * KiB, 4);
	memset(m.data + 2 * BK_BLOCK + 320 * KiB, 0, 64 * KiB);
	model_write(&m, BK_BLOCK + 5, 7, 5);
	points[1] = malloc(size);
	memcpy(points[1], m.data, size);
	fds[1] = model_backup(&m, points[0], size, &st, "p0", "p1", &bytes[1]);
	state_hex(&st, digest[1]);
	assert_int_equal(bytes[1], 64 * KiB + 4 * KiB);

	/* point 2: one byte */
	m.data[size - 1] ^= 0xff;
	points[2] = malloc(size);
	memcpy(points[2], m.data, size);
	fds[2] = model_backup(&m, points[1], size, &st, "p1", "p2", &bytes[2]);
	state_hex(&st, digest[2]);
	assert_int_equal(bytes[2], 64 * KiB);

	/* replay the chain: each point comes back, and each digest is that point's */
	for (int i = 0; i < 3; i++) {
		model_apply(fds[i], restored, size);
		assert_memory_equal(restored, points[i], size);
		digest_direct(points[i], size, want);
		assert_string_equal(digest[i], want);
		close(fds[i]);
		free(points[i]);
	}
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
	assert_false(json_object_object_get_ex(o, "op", NULL));  /* internal */
	assert_false(json_object_object_get_ex(o, "set", NULL)); /* not made in a set */
	json_object_put(o);

	/* one of a set: its set and group kept and shown */
	str_copy(r.set, sizeof(r.set), "22222222-3333-4444-8555-666666666666");
	str_copy(r.group, sizeof(r.group), "cairn-0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11");
	text = backup_record_format(&r);
	assert_int_equal(backup_record_parse(text, &back, &err), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	free(text);
	o = backup_record_to_json(&r);
	assert_string_equal(json_get_string(o, "set"), r.set);
	assert_string_equal(json_get_string(o, "group"), r.group);
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
	        "{\"id\":\"i\",\"volume\":\"v\",\"volume_id\":\"x\",\"kind\":\"full\","
	        "\"target\":\"pool\",\"status\":\"available\",\"set\":\"s\"}",
	};
	static const char *const why[] = {
	        "not a JSON object",
	        "no 'id'",
	        "unknown kind 'partial'",
	        "unknown target 'tape'",
	        "'size' is not a non-negative integer",
	        "incremental without a parent",
	        "'id' is not a string",
	        "a set without its group",
	};
	struct backup_record r;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct cairn_err err = {0};
		assert_int_equal(backup_record_parse(bad[i], &r, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, why[i]));
	}
}

/* ---- retention ------------------------------------------------------------------------------ */

/* A volume's backups, oldest first: id "bN", created at the given time, parent "bP" or none. */
static void ret_rec(struct backup_record *r, int id, const char *created, int parent,
                    enum backup_status st)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "b%d", id);
	str_copy(r->created, sizeof(r->created), created);
	if (parent >= 0)
		snprintf(r->parent, sizeof(r->parent), "b%d", parent);
	r->kind = parent >= 0 ? BACKUP_KIND_INCREMENTAL : BACKUP_KIND_FULL;
	r->status = st;
}

static void expect_keep(const struct backup_record *v, size_t n, struct bk_retention rules,
                        const char *want)
{
	bool keep[16];
	char got[17];

	assert_true(n < sizeof(got));
	assert_int_equal(bk_retention_select(v, n, &rules, keep), 0);
	for (size_t i = 0; i < n; i++)
		got[i] = keep[i] ? 'k' : '-';
	got[n] = '\0';
	assert_string_equal(got, want);
}

static void test_retention(void **state)
{
	struct backup_record v[10];
	bool keep[10];

	/* two chains: a full on Monday 2026-11-16 with incrementals, a full on Thursday
	 * 2026-11-26 (ISO weeks 47 and 48) with incrementals; one failed in between */
	ret_rec(&v[0], 0, "2026-11-16T01:00:00.000Z", -1, BACKUP_STATUS_AVAILABLE);
	ret_rec(&v[1], 1, "2026-11-16T13:00:00.000Z", 0, BACKUP_STATUS_AVAILABLE);
	ret_rec(&v[2], 2, "2026-11-17T01:00:00.000Z", 1, BACKUP_STATUS_AVAILABLE);
	ret_rec(&v[3], 3, "2026-11-22T23:59:59.000Z", 2, BACKUP_STATUS_AVAILABLE);
	ret_rec(&v[4], 4, "2026-11-25T01:00:00.000Z", 3, BACKUP_STATUS_FAILED);
	ret_rec(&v[5], 5, "2026-11-26T01:00:00.000Z", -1, BACKUP_STATUS_AVAILABLE);
	ret_rec(&v[6], 6, "2026-11-26T09:00:00.000Z", 5, BACKUP_STATUS_AVAILABLE);
	ret_rec(&v[7], 7, "2026-11-26T17:00:00.000Z", 6, BACKUP_STATUS_AVAILABLE);

	/* no rule: every good one, never a failed one */
	expect_keep(v, 8, (struct bk_retention){0}, "kkkk-kkk");
	/* the newest two, and the base they are built on */
	expect_keep(v, 8, (struct bk_retention){.last = 2}, "-----kkk");
	/* the newest of the last two days with backups: 26th (b7), 22nd (b3) with its chain */
	expect_keep(v, 8, (struct bk_retention){.daily = 2}, "kkkk-kkk");
	expect_keep(v, 8, (struct bk_retention){.daily = 1}, "-----kkk");
	/* ISO weeks: week 48 (b7) and week 47 (b3, Sunday the 22nd, not the Monday after) */
	expect_keep(v, 8, (struct bk_retention){.weekly = 1}, "-----kkk");
	expect_keep(v, 8, (struct bk_retention){.weekly = 2}, "kkkk-kkk");

	/* a chain whose newest is kept keeps it all; an unkept newer chain does not pin */
	ret_rec(&v[0], 0, "2026-11-01T00:00:00.000Z", -1, BACKUP_STATUS_AVAILABLE);
	ret_rec(&v[1], 1, "2026-11-02T00:00:00.000Z", -1, BACKUP_STATUS_AVAILABLE);
	ret_rec(&v[2], 2, "2026-11-03T00:00:00.000Z", 1, BACKUP_STATUS_AVAILABLE);
	expect_keep(v, 3, (struct bk_retention){.last = 1}, "-kk");
	expect_keep(v, 3, (struct bk_retention){.last = 3}, "kkk");

	/* a time it cannot read is an error, not a silent delete */
	str_copy(v[2].created, sizeof(v[2].created), "yesterday");
	assert_int_equal(bk_retention_select(v, 3, &(struct bk_retention){.daily = 1}, keep),
	                 -EINVAL);
	(void)state;
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
	        cmocka_unit_test(test_volume_digest),
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
	        cmocka_unit_test(test_retention),
	        cmocka_unit_test(test_manifest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
