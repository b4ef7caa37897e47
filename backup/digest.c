/* SPDX-License-Identifier: MIT */
/*
 * backup: SHA-256 through OpenSSL's libcrypto (SHA-NI where the CPU has it), and the
 * volume digest: SHA-256 over the SHA-256 of each 4 MiB block.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backup/backup-internal.h"

/* ---- SHA-256 ------------------------------------------------------------------------------ */

static const uint8_t zeros_64k[64 * 1024];

int sha256_init(struct sha256 *s)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	s->ctx = ctx;
	return 0;
}

void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(s->ctx, data, len);
}

void sha256_update_zeros(struct sha256 *s, uint64_t len)
{
	while (len) {
		size_t n = len < sizeof(zeros_64k) ? (size_t)len : sizeof(zeros_64k);
		EVP_DigestUpdate(s->ctx, zeros_64k, n);
		len -= n;
	}
}

void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN])
{
	unsigned int len = SHA256_LEN;

	EVP_DigestFinal_ex(s->ctx, out, &len);
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

void sha256_release(struct sha256 *s)
{
	if (s->ctx)
		EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

int sha256_buf(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	unsigned int n = SHA256_LEN;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	return 0;
}

void sha256_hex(const uint8_t d[SHA256_LEN], char out[BACKUP_SHA256_HEX])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * SHA256_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sha256_from_hex(const char *hex, uint8_t out[SHA256_LEN])
{
	if (!hex || strlen(hex) != 2 * SHA256_LEN)
		return -EINVAL;
	for (int i = 0; i < SHA256_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int sha256_fd(int fd, uint8_t out[SHA256_LEN])
{
	struct sha256 s;
	const size_t cap = 1024 * 1024;
	_cleanup_(freep) uint8_t *buf = malloc(cap);
	off_t off = 0;
	int r;

	if (!buf)
		return -ENOMEM;
	r = sha256_init(&s);
	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = pread(fd, buf, cap, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			sha256_release(&s);
			return r;
		}
		if (n == 0)
			break;
		sha256_update(&s, buf, (size_t)n);
		off += n;
	}
	sha256_final(&s, out);
	return 0;
}

/* ---- block lists -------------------------------------------------------------------------- */

uint64_t blocklist_count(uint64_t size)
{
	return size / BK_BLOCK + (size % BK_BLOCK ? 1 : 0);
}

int blocklist_init(struct blocklist *b, uint64_t size)
{
	uint64_t n = blocklist_count(size);

	memset(b, 0, sizeof(*b));
	if (n > SIZE_MAX / SHA256_LEN)
		return -EFBIG;
	b->h = calloc(n ? n : 1, SHA256_LEN);
	if (!b->h)
		return -ENOMEM;
	b->size = size;
	b->n = n;
	return 0;
}

void blocklist_release(struct blocklist *b)
{
	free(b->h);
	memset(b, 0, sizeof(*b));
}

uint64_t blocklist_block_len(const struct blocklist *b, uint64_t i)
{
	uint64_t start = i * BK_BLOCK;

	if (i >= b->n)
		return 0;
	return b->size - start < BK_BLOCK ? b->size - start : BK_BLOCK;
}

static int zero_hash(uint64_t len, uint8_t out[SHA256_LEN])
{
	struct sha256 s;
	int r = sha256_init(&s);

	if (r < 0)
		return r;
	sha256_update_zeros(&s, len);
	sha256_final(&s, out);
	return 0;
}

int blocklist_resize(struct blocklist *b, uint64_t size)
{
	uint64_t n = blocklist_count(size), old_n = b->n;
	uint8_t full[SHA256_LEN];
	void *h;
	int r;

	if (n > SIZE_MAX / SHA256_LEN)
		return -EFBIG;
	h = realloc(b->h, (n ? n : 1) * SHA256_LEN);
	if (!h)
		return -ENOMEM;
	b->h = h;
	b->n = n;
	b->size = size;
	if (n > old_n) {
		r = zero_hash(BK_BLOCK, full);
		if (r < 0)
			return r;
		for (uint64_t i = old_n; i < n; i++) {
			uint64_t len = blocklist_block_len(b, i);
			if (len == BK_BLOCK)
				memcpy(b->h[i], full, SHA256_LEN);
			else if ((r = zero_hash(len, b->h[i])) < 0)
				return r;
		}
	}
	return 0;
}

int blocklist_digest(const struct blocklist *b, uint8_t out[SHA256_LEN])
{
	struct sha256 s;
	int r = sha256_init(&s);

	if (r < 0)
		return r;
	for (uint64_t i = 0; i < b->n; i++)
		sha256_update(&s, b->h[i], SHA256_LEN);
	sha256_final(&s, out);
	return 0;
}

#define BLOCKS_MAGIC     "cairn-blocks v1\n"
#define BLOCKS_MAGIC_LEN 16

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int blocklist_serialize(const struct blocklist *b, uint8_t **ret, size_t *ret_len)
{
	size_t len = BLOCKS_MAGIC_LEN + 8 + (size_t)b->n * SHA256_LEN;
	uint8_t *p = malloc(len);

	if (!p)
		return -ENOMEM;
	memcpy(p, BLOCKS_MAGIC, BLOCKS_MAGIC_LEN);
	put_le64(p + BLOCKS_MAGIC_LEN, b->size);
	if (b->n)
		memcpy(p + BLOCKS_MAGIC_LEN + 8, b->h, (size_t)b->n * SHA256_LEN);
	*ret = p;
	*ret_len = len;
	return 0;
}

int blocklist_parse(const uint8_t *data, size_t len, struct blocklist *ret)
{
	struct blocklist b;
	uint64_t size;
	int r;

	if (len < BLOCKS_MAGIC_LEN + 8 || memcmp(data, BLOCKS_MAGIC, BLOCKS_MAGIC_LEN))
		return -EILSEQ;
	size = get_le64(data + BLOCKS_MAGIC_LEN);
	if (blocklist_count(size) > (len - BLOCKS_MAGIC_LEN - 8) / SHA256_LEN ||
	    len != BLOCKS_MAGIC_LEN + 8 + blocklist_count(size) * SHA256_LEN)
		return -EILSEQ;
	r = blocklist_init(&b, size);
	if (r < 0)
		return r;
	if (b.n)
		memcpy(b.h, data + BLOCKS_MAGIC_LEN + 8, (size_t)b.n * SHA256_LEN);
	*ret = b;
	return 0;
}

/* ---- the block hasher ---------------------------------------------------------------------- */

int bhasher_init(struct bhasher *h, struct blocklist *bl)
{
	memset(h, 0, sizeof(*h));
	h->bl = bl;
	h->cur = UINT64_MAX;
	return zero_hash(BK_BLOCK, h->zero_full);
}

static void bhasher_close_block(struct bhasher *h)
{
	sha256_final(&h->sha, h->bl->h[h->cur]);
	h->sha_live = false;
	h->cur = UINT64_MAX;
}

int bhasher_feed(struct bhasher *h, uint64_t off, const void *data, uint64_t len)
{
	const uint8_t *p = data;
	int r;

	if (len > h->bl->size || off > h->bl->size - len)
		return -EINVAL;
	while (len) {
		uint64_t b = off / BK_BLOCK;
		uint64_t start = b * BK_BLOCK;
		uint64_t blen = blocklist_block_len(h->bl, b);
		uint64_t in = off - start;
		uint64_t n = blen - in < len ? blen - in : len;

		if (h->cur != UINT64_MAX && h->cur != b)
			return -EINVAL; /* the previous block was left half fed */
		if (h->cur == UINT64_MAX) {
			if (in != 0)
				return -EINVAL; /* a block must be fed from its start */
			if (!p && n == BK_BLOCK) {
				memcpy(h->bl->h[b], h->zero_full, SHA256_LEN);
				off += n;
				len -= n;
				continue;
			}
			r = sha256_init(&h->sha);
			if (r < 0)
				return r;
			h->sha_live = true;
			h->cur = b;
			h->pos = start;
		}
		if (off != h->pos)
			return -EINVAL;
		if (p)
			sha256_update(&h->sha, p, (size_t)n);
		else
			sha256_update_zeros(&h->sha, n);
		h->pos += n;
		off += n;
		len -= n;
		if (p)
			p += n;
		if (h->pos == start + blen)
			bhasher_close_block(h);
	}
	return 0;
}

int bhasher_finish(struct bhasher *h)
{
	if (h->cur != UINT64_MAX)
		return -EINVAL;
	return 0;
}

void bhasher_release(struct bhasher *h)
{
	if (h->sha_live)
		sha256_release(&h->sha);
	h->sha_live = false;
	h->cur = UINT64_MAX;
}
