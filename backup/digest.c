/* SPDX-License-Identifier: MIT */
/*
 * backup: SHA-256 through OpenSSL's libcrypto (SHA-NI where the CPU has it), and the
 * volume digest: a homomorphic sum (LtHash16) of the 64 KiB sub-blocks of the volume.
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

/* ---- LtHash16 ------------------------------------------------------------------------------- */

void lthash_add(struct lthash *s, const struct lthash *v)
{
	for (int i = 0; i < LTHASH_LANES; i++)
		s->lane[i] = (uint16_t)(s->lane[i] + v->lane[i]);
}

void lthash_sub(struct lthash *s, const struct lthash *v)
{
	for (int i = 0; i < LTHASH_LANES; i++)
		s->lane[i] = (uint16_t)(s->lane[i] - v->lane[i]);
}

int lthash_expand(const uint8_t sha[SHA256_LEN], struct lthash *ret)
{
	uint8_t out[LTHASH_BYTES];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_shake256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, sha, SHA256_LEN) == 1 &&
	     EVP_DigestFinalXOF(ctx, out, sizeof(out)) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -ENOMEM;
	for (int i = 0; i < LTHASH_LANES; i++)
		ret->lane[i] = (uint16_t)(out[2 * i] | out[2 * i + 1] << 8);
	return 0;
}

static void lthash_bytes(const struct lthash *s, uint8_t out[LTHASH_BYTES])
{
	for (int i = 0; i < LTHASH_LANES; i++) {
		out[2 * i] = (uint8_t)(s->lane[i] & 0xff);
		out[2 * i + 1] = (uint8_t)(s->lane[i] >> 8);
	}
}

int lthash_digest(const struct lthash *s, uint8_t out[SHA256_LEN])
{
	uint8_t b[LTHASH_BYTES];

	lthash_bytes(s, b);
	return sha256_buf(b, sizeof(b), out);
}

#define LTHASH_MAGIC     "cairn-lthash v1\n"
#define LTHASH_MAGIC_LEN 16

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

void lthash_serialize(const struct lthash *s, uint64_t size, uint8_t out[LTHASH_STORED_LEN])
{
	memcpy(out, LTHASH_MAGIC, LTHASH_MAGIC_LEN);
	put_le64(out + LTHASH_MAGIC_LEN, size);
	lthash_bytes(s, out + LTHASH_MAGIC_LEN + 8);
}

int lthash_parse(const uint8_t *data, size_t len, struct lthash *ret, uint64_t *ret_size)
{
	const uint8_t *b = data + LTHASH_MAGIC_LEN + 8;

	if (len != LTHASH_STORED_LEN || memcmp(data, LTHASH_MAGIC, LTHASH_MAGIC_LEN))
		return -EILSEQ;
	*ret_size = get_le64(data + LTHASH_MAGIC_LEN);
	for (int i = 0; i < LTHASH_LANES; i++)
		ret->lane[i] = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8);
	return 0;
}

/* ---- the volume hasher ------------------------------------------------------------------------- */

static void cursor_init(struct hcursor *c, uint64_t size)
{
	memset(c, 0, sizeof(*c));
	c->size = size;
	c->sub = UINT64_MAX;
}

int vhasher_init(struct vhasher *h, struct lthash *state, uint64_t new_size, uint64_t old_size)
{
	memset(h, 0, sizeof(*h));
	h->state = state;
	cursor_init(&h->add, new_size);
	cursor_init(&h->sub, old_size);
	return 0;
}

static uint64_t sub_len(const struct hcursor *c, uint64_t i)
{
	uint64_t start = i * BK_SUB;

	return c->size - start < BK_SUB ? c->size - start : BK_SUB;
}

/* The sub-block hashing so far holds its first non-zero byte: start its SHA-256. */
static int cursor_start(struct hcursor *c)
{
	uint8_t prefix[16];
	int r;

	r = sha256_init(&c->sha);
	if (r < 0)
		return r;
	put_le64(prefix, c->sub);
	put_le64(prefix + 8, sub_len(c, c->sub));
	sha256_update(&c->sha, prefix, sizeof(prefix));
	sha256_update_zeros(&c->sha, c->zeros);
	c->started = true;
	return 0;
}

static int cursor_close(struct vhasher *h, struct hcursor *c, bool old)
{
	uint8_t sha[SHA256_LEN];
	struct lthash v;
	int r = 0;

	if (c->started) {
		sha256_final(&c->sha, sha);
		c->started = false;
		r = lthash_expand(sha, &v);
		if (r >= 0) {
			if (old)
				lthash_sub(h->state, &v);
			else
				lthash_add(h->state, &v);
		}
	}
	c->sub = UINT64_MAX;
	c->zeros = 0;
	return r;
}

int vhasher_feed(struct vhasher *h, bool old, uint64_t off, const void *data, uint64_t len)
{
	struct hcursor *c = old ? &h->sub : &h->add;
	const uint8_t *p = data;
	int r;

	if (len > c->size || off > c->size - len)
		return -EINVAL;
	while (len) {
		uint64_t i = off / BK_SUB;
		uint64_t start = i * BK_SUB, slen = sub_len(c, i);
		uint64_t n = slen - (off - start) < len ? slen - (off - start) : len;
		bool zero = !p || buf_is_zero(p, (size_t)n);

		if (c->sub != UINT64_MAX && c->sub != i)
			return -EINVAL; /* the previous sub-block was left half fed */
		if (c->sub == UINT64_MAX) {
			if (off != start)
				return -EINVAL; /* a sub-block is fed from its start */
			if (zero && n == slen) {
				/* a whole zero sub-block adds nothing; a zero run skips ahead */
				uint64_t whole = (len / BK_SUB) * BK_SUB;
				if (!p && whole > n && start + whole <= c->size)
					n = whole;
				off += n;
				len -= n;
				if (p)
					p += n;
				continue;
			}
			c->sub = i;
			c->pos = start;
			c->zeros = 0;
		}
		if (off != c->pos)
			return -EINVAL;
		if (zero && !c->started) {
			c->zeros += n;
		} else {
			if (!c->started && (r = cursor_start(c)) < 0)
				return r;
			if (zero)
				sha256_update_zeros(&c->sha, n);
			else
				sha256_update(&c->sha, p, (size_t)n);
		}
		c->pos += n;
		off += n;
		len -= n;
		if (p)
			p += n;
		if (c->pos == start + slen && (r = cursor_close(h, c, old)) < 0)
			return r;
	}
	return 0;
}

int vhasher_finish(struct vhasher *h)
{
	if (h->add.sub != UINT64_MAX || h->sub.sub != UINT64_MAX)
		return -EINVAL;
	return 0;
}

void vhasher_release(struct vhasher *h)
{
	if (h->add.started)
		sha256_release(&h->add.sha);
	if (h->sub.started)
		sha256_release(&h->sub.sha);
	h->add.started = h->sub.started = false;
	h->add.sub = h->sub.sub = UINT64_MAX;
}
