/* SPDX-License-Identifier: MIT */
/*
 * backup: the volume digest, a homomorphic sum (LtHash16) of the 64 KiB sub-blocks of the
 * volume (SHA-256 itself is in common/sha256.c).
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backup/backup-internal.h"

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

/* A sub-block's SHA-256 from its first non-zero byte on: le64(i) || le64(n) || the zeros
 * before that byte. */
static int sub_sha_start(struct sha256 *sha, uint64_t sub, uint64_t len, uint64_t zeros)
{
	uint8_t prefix[16];
	int r;

	r = sha256_init(sha);
	if (r < 0)
		return r;
	put_le64(prefix, sub);
	put_le64(prefix + 8, len);
	sha256_update(sha, prefix, sizeof(prefix));
	sha256_update_zeros(sha, zeros);
	return 0;
}

/* The sub-block hashing so far holds its first non-zero byte: start its SHA-256. */
static int cursor_start(struct hcursor *c)
{
	int r = sub_sha_start(&c->sha, c->sub, sub_len(c, c->sub), c->zeros);

	if (r >= 0)
		c->started = true;
	return r;
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

/* ---- the digest of what a restore writes ----------------------------------------------------- */

static uint64_t wsum_hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

int wsum_init(struct wsum *w, uint64_t size)
{
	memset(w, 0, sizeof(*w));
	w->size = size;
	w->sub = UINT64_MAX;
	return 0;
}

void wsum_release(struct wsum *w)
{
	if (w->started)
		sha256_release(&w->sha);
	free(w->tab);
	free(w->partial);
	memset(w, 0, sizeof(*w));
	w->sub = UINT64_MAX;
}

static uint64_t wsum_sub_len(const struct wsum *w, uint64_t i)
{
	uint64_t start = i * BK_SUB;

	return w->size - start < BK_SUB ? w->size - start : BK_SUB;
}

/* The slot of sub-block i, or SIZE_MAX. */
static size_t wsum_find(const struct wsum *w, uint64_t i)
{
	size_t mask = w->cap - 1;

	if (!w->cap)
		return SIZE_MAX;
	for (size_t s = (size_t)wsum_hash(i) & mask;; s = (s + 1) & mask) {
		if (!w->tab[s].key)
			return SIZE_MAX;
		if (w->tab[s].key == i + 1)
			return s;
	}
}

static int wsum_value(const uint8_t sha[SHA256_LEN], struct lthash *ret)
{
	return lthash_expand(sha, ret);
}

static int wsum_grow(struct wsum *w)
{
	size_t ncap = w->cap ? w->cap * 2 : 64;
	struct wsum_entry *t = calloc(ncap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t k = 0; k < w->cap; k++) {
		if (!w->tab[k].key)
			continue;
		size_t s = (size_t)wsum_hash(w->tab[k].key - 1) & (ncap - 1);
		while (t[s].key)
			s = (s + 1) & (ncap - 1);
		t[s] = w->tab[k];
	}
	free(w->tab);
	w->tab = t;
	w->cap = ncap;
	return 0;
}

/* Take sub-block i's value out and forget it (it is zero now). */
static int wsum_del(struct wsum *w, uint64_t i)
{
	size_t s = wsum_find(w, i), mask = w->cap - 1;
	struct lthash v;
	int r;

	if (s == SIZE_MAX)
		return 0;
	r = wsum_value(w->tab[s].sha, &v);
	if (r < 0)
		return r;
	lthash_sub(&w->state, &v);
	/* linear probing: shift back the entries that probed past the hole */
	for (size_t j = (s + 1) & mask;; j = (j + 1) & mask) {
		size_t home;

		if (!w->tab[j].key)
			break;
		home = (size_t)wsum_hash(w->tab[j].key - 1) & mask;
		if (((j - home) & mask) >= ((j - s) & mask)) {
			w->tab[s] = w->tab[j];
			s = j;
		}
	}
	w->tab[s].key = 0;
	w->n--;
	return 0;
}

/* Sub-block i now holds the content whose inner SHA-256 is sha. */
static int wsum_put(struct wsum *w, uint64_t i, const uint8_t sha[SHA256_LEN])
{
	size_t s = wsum_find(w, i);
	struct lthash v;
	int r;

	if (s != SIZE_MAX) {
		if (memcmp(w->tab[s].sha, sha, SHA256_LEN) == 0)
			return 0;
		r = wsum_value(w->tab[s].sha, &v);
		if (r < 0)
			return r;
		lthash_sub(&w->state, &v);
	} else {
		if ((w->n + 1) * 2 > w->cap && (r = wsum_grow(w)) < 0)
			return r;
		s = (size_t)wsum_hash(i) & (w->cap - 1);
		while (w->tab[s].key)
			s = (s + 1) & (w->cap - 1);
		w->tab[s].key = i + 1;
		w->n++;
	}
	memcpy(w->tab[s].sha, sha, SHA256_LEN);
	r = wsum_value(sha, &v);
	if (r < 0)
		return r;
	lthash_add(&w->state, &v);
	return 0;
}

/* Whole zero sub-blocks [a, b): their old values out. */
static int wsum_zero_range(struct wsum *w, uint64_t a, uint64_t b)
{
	uint64_t *keys;
	size_t nk = 0;
	int r = 0;

	if (!w->n)
		return 0;
	if (b - a <= w->cap) {
		for (uint64_t i = a; i < b && r >= 0; i++)
			r = wsum_del(w, i);
		return r;
	}
	/* a long run over a small table: look at the table, not at every index */
	keys = malloc(w->n * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t s = 0; s < w->cap; s++)
		if (w->tab[s].key && w->tab[s].key - 1 >= a && w->tab[s].key - 1 < b)
			keys[nk++] = w->tab[s].key - 1;
	for (size_t k = 0; k < nk && r >= 0; k++)
		r = wsum_del(w, keys[k]);
	free(keys);
	return r;
}

static int wsum_mark_partial(struct wsum *w, uint64_t i)
{
	if (w->npartial && w->partial[w->npartial - 1] == i)
		return 0;
	if (w->npartial >= WSUM_PARTIAL_MAX) {
		w->lost = true; /* cheaper to read the whole volume back */
		return 0;
	}
	if (w->npartial == w->partial_cap) {
		size_t ncap = w->partial_cap ? w->partial_cap * 2 : 16;
		uint64_t *p = realloc(w->partial, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		w->partial = p;
		w->partial_cap = ncap;
	}
	w->partial[w->npartial++] = i;
	return 0;
}

/* The sub-block being fed was not fed whole: its value comes from the volume. */
static int wsum_abandon(struct wsum *w)
{
	int r = 0;

	if (w->sub != UINT64_MAX)
		r = wsum_mark_partial(w, w->sub);
	if (w->started)
		sha256_release(&w->sha);
	w->started = false;
	w->sub = UINT64_MAX;
	w->zeros = 0;
	return r;
}

static int wsum_start(struct wsum *w)
{
	int r = sub_sha_start(&w->sha, w->sub, wsum_sub_len(w, w->sub), w->zeros);

	if (r >= 0)
		w->started = true;
	return r;
}

static int wsum_close(struct wsum *w)
{
	uint8_t sha[SHA256_LEN];
	uint64_t i = w->sub;

	w->sub = UINT64_MAX;
	w->zeros = 0;
	if (!w->started)
		return wsum_del(w, i);
	sha256_final(&w->sha, sha);
	w->started = false;
	return wsum_put(w, i, sha);
}

int wsum_feed(struct wsum *w, uint64_t off, const void *data, uint64_t len)
{
	const uint8_t *p = data;
	int r;

	if (w->lost || !len)
		return 0;
	if (len > w->size || off > w->size - len)
		return -EINVAL;
	if (off < w->pass_end) {
		/* out of order or overlapping within one stream: not one cairn writes */
		w->lost = true;
		return wsum_abandon(w);
	}
	w->pass_end = off + len;
	while (len) {
		uint64_t i = off / BK_SUB;
		uint64_t start = i * BK_SUB, slen = wsum_sub_len(w, i);
		uint64_t n = slen - (off - start) < len ? slen - (off - start) : len;
		bool zero = !p || buf_is_zero(p, (size_t)n);

		if (w->sub != UINT64_MAX && (w->sub != i || w->pos != off) &&
		    (r = wsum_abandon(w)) < 0)
			return r;
		if (w->sub == UINT64_MAX) {
			if (off != start) {
				/* starts inside a sub-block: the rest of it is on the volume */
				r = wsum_mark_partial(w, i);
				if (r < 0)
					return r;
				goto next;
			}
			if (zero && n == slen) {
				/* whole zero sub-blocks: their old values go */
				uint64_t whole = !p ? len / BK_SUB : 1;
				if (whole > 1 && start + whole * BK_SUB > w->size)
					whole--;
				if (whole > 1)
					n = whole * BK_SUB;
				r = wsum_zero_range(w, i, i + (whole > 1 ? whole : 1));
				if (r < 0)
					return r;
				goto next;
			}
			w->sub = i;
			w->pos = start;
			w->zeros = 0;
		}
		if (zero && !w->started) {
			w->zeros += n;
		} else {
			if (!w->started && (r = wsum_start(w)) < 0)
				return r;
			if (zero)
				sha256_update_zeros(&w->sha, n);
			else
				sha256_update(&w->sha, p, (size_t)n);
		}
		w->pos += n;
		if (w->pos == start + slen && (r = wsum_close(w)) < 0)
			return r;
	next:
		off += n;
		len -= n;
		if (p)
			p += n;
	}
	return 0;
}

int wsum_pass_end(struct wsum *w)
{
	int r = wsum_abandon(w);

	w->pass_end = 0;
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

size_t wsum_partial_take(struct wsum *w, uint64_t **ret)
{
	size_t n = 0;

	*ret = w->partial;
	if (!w->npartial)
		return 0;
	qsort(w->partial, w->npartial, sizeof(*w->partial), cmp_u64);
	for (size_t k = 0; k < w->npartial; k++)
		if (!n || w->partial[n - 1] != w->partial[k])
			w->partial[n++] = w->partial[k];
	*ret = w->partial;
	w->npartial = 0;
	return n;
}

int wsum_set(struct wsum *w, uint64_t i, const void *data)
{
	uint64_t n = wsum_sub_len(w, i);
	uint8_t prefix[16], sha[SHA256_LEN];
	struct sha256 s;
	int r;

	if (i * BK_SUB >= w->size)
		return -EINVAL;
	if (buf_is_zero(data, (size_t)n))
		return wsum_del(w, i);
	r = sha256_init(&s);
	if (r < 0)
		return r;
	put_le64(prefix, i);
	put_le64(prefix + 8, n);
	sha256_update(&s, prefix, sizeof(prefix));
	sha256_update(&s, data, (size_t)n);
	sha256_final(&s, sha);
	return wsum_put(w, i, sha);
}

int wsum_digest(struct wsum *w, uint8_t out[SHA256_LEN])
{
	if (w->lost)
		return -EDOM;
	if (w->sub != UINT64_MAX || w->npartial)
		return -EINVAL;
	return lthash_digest(&w->state, out);
}
