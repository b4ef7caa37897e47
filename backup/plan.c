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

int chunk_plan_build(const struct extent_list *l, uint64_t size, uint64_t chunk_max, bool full,
                     const bool *rehash, struct chunk_plan *ret)
{
	struct chunk_plan p = {0};
	uint64_t nblocks = blocklist_count(size);
	_cleanup_(freep) bool *touched = NULL;
	uint64_t pos = 0;
	int r;

	if (chunk_max == 0)
		return -EINVAL;
	if (chunk_max > BK_BLOCK)
		chunk_max = BK_BLOCK;

	if (full) {
		for (size_t i = 0; i < l->n; i++) {
			const struct extent *e = &l->v[i];
			if (e->off >= size)
				break;
			if (!e->data)
				continue;
			if (e->off > pos &&
			    (r = plan_range(&p, pos, e->off - pos, CHUNK_ZERO, chunk_max)) < 0)
				goto fail;
			r = plan_range(&p, e->off, e->len, CHUNK_DATA, chunk_max);
			if (r < 0)
				goto fail;
			pos = e->off + e->len;
		}
		if (pos < size && (r = plan_range(&p, pos, size - pos, CHUNK_ZERO, chunk_max)) < 0)
			goto fail;
		*ret = p;
		return 0;
	}

	/* incremental: which blocks are recomputed */
	touched = calloc(nblocks ? nblocks : 1, sizeof(bool));
	if (!touched)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		uint64_t first = l->v[i].off / BK_BLOCK;
		uint64_t last = (l->v[i].off + l->v[i].len - 1) / BK_BLOCK;
		for (uint64_t b = first; b <= last && b < nblocks; b++)
			touched[b] = true;
	}
	if (rehash)
		for (uint64_t b = 0; b < nblocks; b++)
			touched[b] |= rehash[b];

	/* walk blocks and extents together; fill untouched parts of touched blocks with HASH */
	size_t i = 0;
	for (uint64_t b = 0; b < nblocks; b++) {
		uint64_t bstart = b * BK_BLOCK;
		uint64_t bend = bstart + BK_BLOCK < size ? bstart + BK_BLOCK : size;

		if (!touched[b]) {
			/* no extent can start here (it would have touched the block) */
			continue;
		}
		pos = bstart;
		/* an extent that began in an earlier block and reaches in here */
		while (pos < bend) {
			while (i < l->n && l->v[i].off + l->v[i].len <= pos)
				i++;
			if (i < l->n && l->v[i].off <= pos) {
				uint64_t e = l->v[i].off + l->v[i].len;
				if (e > bend)
					e = bend;
				r = plan_range(&p, pos, e - pos,
				               l->v[i].data ? CHUNK_DATA : CHUNK_ZERO, chunk_max);
				if (r < 0)
					goto fail;
				pos = e;
				continue;
			}
			uint64_t stop = bend;
			if (i < l->n && l->v[i].off < stop)
				stop = l->v[i].off;
			r = plan_range(&p, pos, stop - pos, CHUNK_HASH, chunk_max);
			if (r < 0)
				goto fail;
			pos = stop;
		}
	}
	/* merge ZERO chunks that touch (they were cut at block boundaries above) */
	size_t w = 0;
	for (size_t k = 0; k < p.n; k++) {
		if (w && p.v[k].kind == CHUNK_ZERO && p.v[w - 1].kind == CHUNK_ZERO &&
		    p.v[w - 1].off + p.v[w - 1].len == p.v[k].off &&
		    p.v[w - 1].len + p.v[k].len <= BK_ZERO_CHUNK_MAX) {
			p.v[w - 1].len += p.v[k].len;
			continue;
		}
		p.v[w++] = p.v[k];
	}
	p.n = w;
	*ret = p;
	return 0;
fail:
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
