/* SPDX-License-Identifier: MIT */
/*
 * backup: from the extents rbd_diff_iterate2 reports to the chunks the data mover moves.
 * Pure: no cluster, unit-tested.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup-internal.h"

int extent_list_add(struct extent_list *l, uint64_t off, uint64_t len, bool data)
{
	if (!len)
		return 0;
	if (off + len < off)
		return -ERANGE;
	/* the common case: the next extent of the same kind, touching the last one */
	if (l->n && l->v[l->n - 1].data == data && l->v[l->n - 1].off + l->v[l->n - 1].len == off) {
		l->v[l->n - 1].len += len;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct extent *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct extent){.off = off, .len = len, .data = data};
	return 0;
}

void extent_list_release(struct extent_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int extent_cmp(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	/* data first, so it wins an overlap at the same start */
	return (int)y->data - (int)x->data;
}

int extent_list_normalize(struct extent_list *l, uint64_t size)
{
	struct extent_list out = {0};
	uint64_t end = 0; /* everything before end is decided */
	int r;

	if (!l->n)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), extent_cmp);

	/*
	 * Data wins overlaps: first lay down the data extents (merged), then fill in the zero
	 * extents only where no data is.
	 */
	struct extent_list data = {0};
	for (size_t i = 0; i < l->n; i++) {
		uint64_t s = l->v[i].off, e = l->v[i].off + l->v[i].len;
		if (!l->v[i].data || s >= size)
			continue;
		if (e > size)
			e = size;
		if (data.n && s <= data.v[data.n - 1].off + data.v[data.n - 1].len) {
			struct extent *last = &data.v[data.n - 1];
			if (e > last->off + last->len)
				last->len = e - last->off;
			continue;
		}
		r = extent_list_add(&data, s, e - s, true);
		if (r < 0)
			goto fail;
	}

	size_t d = 0;
	for (size_t i = 0; i < l->n; i++) {
		uint64_t s = l->v[i].off, e = l->v[i].off + l->v[i].len;
		if (l->v[i].data || s >= size)
			continue;
		if (e > size)
			e = size;
		if (s < end)
			s = end;
		while (s < e) {
			/* data extents wholly before s are already emitted */
			while (d < data.n && data.v[d].off + data.v[d].len <= s) {
				r = extent_list_add(&out, data.v[d].off, data.v[d].len, true);
				if (r < 0)
					goto fail;
				d++;
			}
			if (d < data.n && data.v[d].off <= s) {
				/* s lies inside data extent d */
				s = data.v[d].off + data.v[d].len;
				continue;
			}
			uint64_t stop = e;
			if (d < data.n && data.v[d].off < stop)
				stop = data.v[d].off;
			r = extent_list_add(&out, s, stop - s, false);
			if (r < 0)
				goto fail;
			s = stop;
		}
		if (e > end)
			end = e;
	}
	for (; d < data.n; d++) {
		r = extent_list_add(&out, data.v[d].off, data.v[d].len, true);
		if (r < 0)
			goto fail;
	}
	extent_list_release(&data);
	extent_list_release(l);
	*l = out;
	return 0;
fail:
	extent_list_release(&data);
	extent_list_release(&out);
	return r;
}

/* ---- chunks -------------------------------------------------------------------------------- */

static int plan_push(struct chunk_plan *p, uint64_t off, uint64_t len, enum chunk_kind kind)
{
	if (!len)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct chunk *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (struct chunk){.off = off, .len = len, .kind = kind};
	if (kind != CHUNK_ZERO)
		p->read_bytes += len;
	if (kind == CHUNK_DATA)
		p->data_bytes += len;
	return 0;
}

/* [off, off + len) cut at block boundaries and at max bytes (ZERO: at BK_ZERO_CHUNK_MAX). */
static int plan_range(struct chunk_plan *p, uint64_t off, uint64_t len, enum chunk_kind kind,
                      uint64_t chunk_max)
{
	int r;

	while (len) {
		uint64_t n;

		if (kind == CHUNK_ZERO) {
			n = len < BK_ZERO_CHUNK_MAX ? len : BK_ZERO_CHUNK_MAX;
		} else {
			uint64_t to_block_end = BK_BLOCK - off % BK_BLOCK;
			n = len < chunk_max ? len : chunk_max;
			if (n > to_block_end)
				n = to_block_end;
		}
		r = plan_push(p, off, n, kind);
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

static uint64_t sub_down(uint64_t x)
{
	return x / BK_SUB * BK_SUB;
}

static uint64_t sub_up(uint64_t x, uint64_t size)
{
	uint64_t r = x % BK_SUB ? sub_down(x) + BK_SUB : x;

	return r > size ? size : r;
}

/* The sub-block aligned extents an incremental covers (see backup-internal.h). */
static int cover_incremental(const struct extent_list *l, uint64_t size, uint64_t old_size,
                             struct extent_list *x)
{
	int r;

	for (size_t i = 0; i < l->n; i++) {
		uint64_t s = l->v[i].off, t = l->v[i].off + l->v[i].len;

		if (s >= size)
			break;
		if (t > size)
			t = size;
		if (l->v[i].data) {
			r = extent_list_add(x, sub_down(s), sub_up(t, size) - sub_down(s), true);
		} else {
			/* zeros only over whole sub-blocks; the partial ends are read as data */
			uint64_t si = sub_up(s, size), ti = t == size ? t : sub_down(t);
			if (si >= ti) {
				r = extent_list_add(x, sub_down(s), sub_up(t, size) - sub_down(s),
				                    true);
			} else {
				r = extent_list_add(x, si, ti - si, false);
				if (r >= 0 && s < si)
					r = extent_list_add(x, sub_down(s), si - sub_down(s), true);
				if (r >= 0 && t > ti)
					r = extent_list_add(x, ti, sub_up(t, size) - ti, true);
			}
		}
		if (r < 0)
			return r;
	}
	if (old_size != size) {
		/* the sub-block that holds the old end changed length, and all after it */
		uint64_t from = sub_down(old_size < size ? old_size : size);
		if (from < size && (r = extent_list_add(x, from, size - from, true)) < 0)
			return r;
	}
	return extent_list_normalize(x, size);
}

static int chunk_cmp(const void *a, const void *b)
{
	const struct chunk *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return (x->kind == CHUNK_OLD ? 0 : 1) - (y->kind == CHUNK_OLD ? 0 : 1);
}

/* The part of [s, t) that alloc covers, in whole sub-blocks, added to out. */
static int add_within(struct extent_list *out, uint64_t s, uint64_t t,
                      const struct extent_list *alloc)
{
	int r;

	if (!alloc)
		return extent_list_add(out, s, t - s, true);
	for (size_t i = 0; i < alloc->n; i++) {
		uint64_t a = alloc->v[i].off, b = alloc->v[i].off + alloc->v[i].len;
		if (!alloc->v[i].data || b <= s)
			continue;
		if (a >= t)
			break;
		a = sub_down(a < s ? s : a);
		b = b > t ? t : b;
		if (b % BK_SUB)
			b = sub_down(b) + BK_SUB;
		if (b > t)
			b = t;
		if (a < s)
			a = s;
		r = extent_list_add(out, a, b - a, true);
		if (r < 0)
			return r;
	}
	return 0;
}

int chunk_plan_build(const struct extent_list *l, uint64_t size, uint64_t chunk_max, bool full,
                     uint64_t old_size, const struct extent_list *old_alloc, struct chunk_plan *ret)
{
	struct chunk_plan p = {0};
	struct extent_list x = {0};
	uint64_t pos = 0;
	int r;

	if (chunk_max == 0)
		return -EINVAL;
	if (chunk_max > BK_BLOCK)
		chunk_max = BK_BLOCK;

	if (full) {
		for (size_t i = 0; i < l->n; i++) {
			uint64_t s = l->v[i].off, t = l->v[i].off + l->v[i].len;
			if (s >= size)
				break;
			if (!l->v[i].data)
				continue;
			r = extent_list_add(&x, sub_down(s), sub_up(t, size) - sub_down(s), true);
			if (r < 0)
				goto fail;
		}
		r = extent_list_normalize(&x, size);
		if (r < 0)
			goto fail;
		for (size_t i = 0; i < x.n; i++) {
			if (x.v[i].off > pos &&
			    (r = plan_range(&p, pos, x.v[i].off - pos, CHUNK_ZERO, chunk_max)) < 0)
				goto fail;
			r = plan_range(&p, x.v[i].off, x.v[i].len, CHUNK_DATA, chunk_max);
			if (r < 0)
				goto fail;
			pos = x.v[i].off + x.v[i].len;
		}
		if (pos < size && (r = plan_range(&p, pos, size - pos, CHUNK_ZERO, chunk_max)) < 0)
			goto fail;
		extent_list_release(&x);
		*ret = p;
		return 0;
	}

	r = cover_incremental(l, size, old_size, &x);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < x.n; i++) {
		r = plan_range(&p, x.v[i].off, x.v[i].len, x.v[i].data ? CHUNK_DATA : CHUNK_ZERO,
		               chunk_max);
		if (r < 0)
			goto fail;
	}
	/* the same sub-blocks at the base, to take their old values out */
	{
		struct extent_list old = {0};
		for (size_t i = 0; i < x.n && r >= 0; i++) {
			uint64_t s = x.v[i].off, t = x.v[i].off + x.v[i].len;
			if (s < old_size)
				r = add_within(&old, s, t < old_size ? t : old_size, old_alloc);
		}
		if (r >= 0 && size < old_size)
			r = add_within(&old, sub_down(size), old_size, old_alloc);
		if (r >= 0)
			r = extent_list_normalize(&old, old_size);
		for (size_t i = 0; i < old.n && r >= 0; i++)
			r = plan_range(&p, old.v[i].off, old.v[i].len, CHUNK_OLD, chunk_max);
		extent_list_release(&old);
		if (r < 0)
			goto fail;
	}
	if (p.n > 1) /* an empty plan has no array: qsort(NULL, 0) is undefined */
		qsort(p.v, p.n, sizeof(*p.v), chunk_cmp);
	extent_list_release(&x);
	*ret = p;
	return 0;
fail:
	extent_list_release(&x);
	chunk_plan_release(&p);
	return r;
}

void chunk_plan_release(struct chunk_plan *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}

bool buf_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i = 0;

	/* word at a time; the tail byte by byte */
	for (; i + 64 <= len; i += 64) {
		uint64_t acc = 0, w[8];
		memcpy(w, p + i, sizeof(w));
		for (int k = 0; k < 8; k++)
			acc |= w[k];
		if (acc)
			return false;
	}
	for (; i < len; i++)
		if (p[i])
			return false;
	return true;
}
