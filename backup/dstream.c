/* SPDX-License-Identifier: MIT */
/*
 * backup: the `rbd export-diff` stream (Ceph's doc/dev/rbd-diff.rst), written and read
 * here without Ceph's code. Writes are ordered; every byte written is also hashed, so the
 * file's SHA-256 costs no second read.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backup/backup-internal.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- writer ------------------------------------------------------------------------------- */

/* Write all of iov (short writes and EINTR retried). */
static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int writer_flush(struct dstream_writer *w, const void *data, size_t len)
{
	struct iovec iov[2];
	int n = 0, r;

	if (w->used)
		iov[n++] = (struct iovec){w->hdr, w->used};
	if (len)
		iov[n++] = (struct iovec){(void *)data, len};
	if (!n)
		return 0;
	r = write_all(w->fd, iov, n);
	if (r < 0)
		return r;
	sha256_update(&w->sha, w->hdr, w->used);
	sha256_update(&w->sha, data, len);
	w->bytes += w->used + len;
	w->used = 0;
	if (w->bytes - w->synced >= DSTREAM_SYNC_EVERY) {
		/*
		 * Start writing back what came since the last time, and wait for (and drop
		 * from the page cache) the window before it: the final fsync has little left
		 * to do, and a large backup does not fill the page cache. Errors are the final
		 * fsync's to report.
		 */
		sync_file_range(w->fd, (off64_t)w->synced, (off64_t)(w->bytes - w->synced),
		                SYNC_FILE_RANGE_WRITE);
		if (w->synced > w->prev) {
			sync_file_range(w->fd, (off64_t)w->prev, (off64_t)(w->synced - w->prev),
			                SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
			                        SYNC_FILE_RANGE_WAIT_AFTER);
			posix_fadvise(w->fd, (off_t)w->prev, (off_t)(w->synced - w->prev),
			              POSIX_FADV_DONTNEED);
		}
		w->prev = w->synced;
		w->synced = w->bytes;
	}
	return 0;
}

/* Room for n more header bytes in hdr. */
static int writer_room(struct dstream_writer *w, size_t n)
{
	if (w->used + n <= sizeof(w->hdr))
		return 0;
	return writer_flush(w, NULL, 0);
}

int dstream_writer_init(struct dstream_writer *w, int fd, int version)
{
	memset(w, 0, sizeof(*w));
	if (version != 1 && version != 2)
		return -EINVAL;
	w->fd = fd;
	w->version = version;
	return sha256_init(&w->sha);
}

/* tag, (v2: le64 payload length) */
static void put_tag(struct dstream_writer *w, char tag, uint64_t payload)
{
	w->hdr[w->used++] = (uint8_t)tag;
	if (w->version == 2) {
		put_le64(w->hdr + w->used, payload);
		w->used += 8;
	}
}

static int put_snap(struct dstream_writer *w, char tag, const char *snap)
{
	size_t len = strlen(snap);
	int r;

	if (len > DSTREAM_SNAP_MAX)
		return -ENAMETOOLONG;
	r = writer_room(w, 1 + 8 + 4 + len);
	if (r < 0)
		return r;
	put_tag(w, tag, 4 + len);
	put_le32(w->hdr + w->used, (uint32_t)len);
	w->used += 4;
	memcpy(w->hdr + w->used, snap, len);
	w->used += len;
	return 0;
}

int dstream_write_header(struct dstream_writer *w, const char *from_snap, const char *to_snap,
                         uint64_t size)
{
	int r;

	memcpy(w->hdr, w->version == 1 ? DSTREAM_V1_BANNER : DSTREAM_V2_BANNER, DSTREAM_BANNER_LEN);
	w->used = DSTREAM_BANNER_LEN;
	if (from_snap && (r = put_snap(w, 'f', from_snap)) < 0)
		return r;
	if (to_snap && (r = put_snap(w, 't', to_snap)) < 0)
		return r;
	r = writer_room(w, 1 + 8 + 8);
	if (r < 0)
		return r;
	put_tag(w, 's', 8);
	put_le64(w->hdr + w->used, size);
	w->used += 8;
	return 0;
}

static int flush_zero(struct dstream_writer *w)
{
	int r;

	if (!w->zero_pending)
		return 0;
	r = writer_room(w, 1 + 8 + 16);
	if (r < 0)
		return r;
	put_tag(w, 'z', 16);
	put_le64(w->hdr + w->used, w->zoff);
	put_le64(w->hdr + w->used + 8, w->zlen);
	w->used += 16;
	w->zero_pending = false;
	return 0;
}

int dstream_write_data(struct dstream_writer *w, uint64_t off, uint64_t len, const void *data)
{
	int r;

	if (!len)
		return 0;
	r = flush_zero(w);
	if (r < 0)
		return r;
	r = writer_room(w, 1 + 8 + 16);
	if (r < 0)
		return r;
	put_tag(w, 'w', 16 + len);
	put_le64(w->hdr + w->used, off);
	put_le64(w->hdr + w->used + 8, len);
	w->used += 16;
	return writer_flush(w, data, (size_t)len);
}

int dstream_write_runs(struct dstream_writer *w, uint64_t off, const void *data, uint64_t len,
                       uint64_t *data_bytes)
{
	const uint8_t *buf = data;
	uint64_t pos = 0;
	int r;

	while (pos < len) {
		uint64_t n = len - pos < DSTREAM_RUN ? len - pos : DSTREAM_RUN, end = pos + n;
		bool z = buf_is_zero(buf + pos, (size_t)n);

		while (end < len) {
			uint64_t m = len - end < DSTREAM_RUN ? len - end : DSTREAM_RUN;
			if (buf_is_zero(buf + end, (size_t)m) != z)
				break;
			end += m;
		}
		if (z) {
			r = dstream_write_zero(w, off + pos, end - pos);
		} else {
			r = dstream_write_data(w, off + pos, end - pos, buf + pos);
			*data_bytes += end - pos;
		}
		if (r < 0)
			return r;
		pos = end;
	}
	return 0;
}

int dstream_write_zero(struct dstream_writer *w, uint64_t off, uint64_t len)
{
	int r;

	if (!len)
		return 0;
	if (w->zero_pending && w->zoff + w->zlen == off) {
		w->zlen += len;
		return 0;
	}
	r = flush_zero(w);
	if (r < 0)
		return r;
	w->zero_pending = true;
	w->zoff = off;
	w->zlen = len;
	return 0;
}

int dstream_write_end(struct dstream_writer *w, uint8_t ret_sha[SHA256_LEN])
{
	int r = flush_zero(w);

	if (r < 0)
		return r;
	r = writer_room(w, 1);
	if (r < 0)
		return r;
	w->hdr[w->used++] = 'e'; /* no length, in v2 too */
	r = writer_flush(w, NULL, 0);
	if (r < 0)
		return r;
	sha256_final(&w->sha, ret_sha);
	return 0;
}

void dstream_writer_release(struct dstream_writer *w)
{
	sha256_release(&w->sha);
}

/* ---- reader ------------------------------------------------------------------------------- */

#define READER_CAP (1024 * 1024)

/* Make n bytes available at buf + pos; -EILSEQ-worthy shortfall returns 0 (EOF) or < n. */
static int reader_fill(struct dstream_reader *r, size_t n, size_t *ret_avail)
{
	if (r->len - r->pos >= n) {
		*ret_avail = r->len - r->pos;
		return 0;
	}
	if (r->pos) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	while (r->len < n) {
		ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		r->len += (size_t)got;
	}
	*ret_avail = r->len - r->pos;
	return 0;
}

static int bad(struct dstream_reader *r, struct cairn_err *err, const char *what)
{
	return err_set(err, -EILSEQ, "%s at stream offset %llu", what,
	               (unsigned long long)r->rec_start);
}

/* Exactly n header bytes (n <= cap). */
static int reader_take(struct dstream_reader *r, void *out, size_t n, struct cairn_err *err,
                       const char *what)
{
	size_t avail;
	int ret = reader_fill(r, n, &avail);

	if (ret < 0)
		return err_set(err, ret, "cannot read the stream: %s", strerror(-ret));
	if (avail < n)
		return bad(r, err, what);
	memcpy(out, r->buf + r->pos, n);
	r->pos += n;
	r->consumed += n;
	return 0;
}

int dstream_reader_init(struct dstream_reader *r, int fd, struct cairn_err *err)
{
	char banner[DSTREAM_BANNER_LEN];

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->ordered = true;
	r->cap = READER_CAP;
	r->buf = malloc(r->cap);
	if (!r->buf)
		return err_set(err, -ENOMEM, "out of memory");
	if (reader_take(r, banner, sizeof(banner), err, "truncated banner") < 0)
		return err->code;
	if (memcmp(banner, DSTREAM_V1_BANNER, DSTREAM_BANNER_LEN) == 0)
		r->version = 1;
	else if (memcmp(banner, DSTREAM_V2_BANNER, DSTREAM_BANNER_LEN) == 0)
		r->version = 2;
	else
		return err_set(err, -EILSEQ, "not an rbd diff stream (bad banner)");
	return 0;
}

static int skip_bytes(struct dstream_reader *r, uint64_t n, struct cairn_err *err)
{
	while (n) {
		size_t avail;
		int ret = reader_fill(r, 1, &avail);
		if (ret < 0)
			return err_set(err, ret, "cannot read the stream: %s", strerror(-ret));
		if (!avail)
			return bad(r, err, "truncated record");
		size_t k = avail < n ? avail : (size_t)n;
		r->pos += k;
		r->consumed += k;
		n -= k;
	}
	return 0;
}

int dstream_read_data(struct dstream_reader *r, void *buf, uint64_t len, struct cairn_err *err)
{
	uint8_t *p = buf;

	if (len > r->pending)
		return err_set(err, -EINVAL, "reading %llu bytes of a record that has %llu left",
		               (unsigned long long)len, (unsigned long long)r->pending);
	while (len) {
		size_t avail;
		int ret = reader_fill(r, 1, &avail);
		if (ret < 0)
			return err_set(err, ret, "cannot read the stream: %s", strerror(-ret));
		if (!avail)
			return bad(r, err, "truncated data");
		size_t k = avail < len ? avail : (size_t)len;
		memcpy(p, r->buf + r->pos, k);
		r->pos += k;
		r->consumed += k;
		r->pending -= k;
		p += k;
		len -= k;
	}
	return 0;
}

static int check_extent(struct dstream_reader *r, uint64_t off, uint64_t len, struct cairn_err *err)
{
	if (!r->have_size)
		return bad(r, err, "data record before the size record");
	if (len > r->size || off > r->size - len)
		return bad(r, err, "data record past the end of the image");
	if (off < r->last_end)
		r->ordered = false;
	r->last_end = off + len;
	return 0;
}

int dstream_next(struct dstream_reader *r, struct dstream_rec *rec, struct cairn_err *err)
{
	uint8_t tag, b[16];
	uint64_t payload = 0;
	int ret;

	if (r->ended)
		return 0;
	if (r->pending) {
		ret = skip_bytes(r, r->pending, err);
		if (ret < 0)
			return ret;
		r->pending = 0;
	}
	rec->tag = 0;
	rec->snap[0] = '\0';
	rec->size = rec->off = rec->len = 0;
	for (;;) {
		r->rec_start = r->consumed;
		ret = reader_take(r, &tag, 1, err, "truncated stream (no end record)");
		if (ret < 0)
			return ret;
		if (tag == 'e') {
			size_t avail;
			r->ended = true;
			rec->tag = 'e';
			ret = reader_fill(r, 1, &avail);
			if (ret < 0)
				return err_set(err, ret, "cannot read the stream: %s",
				               strerror(-ret));
			if (avail)
				return bad(r, err, "data after the end record");
			return 0;
		}
		if (r->version == 2) {
			ret = reader_take(r, b, 8, err, "truncated record length");
			if (ret < 0)
				return ret;
			payload = get_le64(b);
		}
		switch (tag) {
		case 'f':
		case 't': {
			uint32_t len;
			ret = reader_take(r, b, 4, err, "truncated snapshot record");
			if (ret < 0)
				return ret;
			len = get_le32(b);
			if (len > DSTREAM_SNAP_MAX)
				return bad(r, err, "snapshot name too long");
			if (r->version == 2 && payload != 4ULL + len)
				return bad(r, err, "snapshot record length does not match");
			ret = reader_take(r, rec->snap, len, err, "truncated snapshot name");
			if (ret < 0)
				return ret;
			rec->snap[len] = '\0';
			if (memchr(rec->snap, '\0', len))
				return bad(r, err, "snapshot name with a NUL byte");
			rec->tag = (char)tag;
			return 1;
		}
		case 's':
			if (r->version == 2 && payload != 8)
				return bad(r, err, "size record length does not match");
			ret = reader_take(r, b, 8, err, "truncated size record");
			if (ret < 0)
				return ret;
			rec->tag = 's';
			rec->size = get_le64(b);
			r->size = rec->size;
			r->have_size = true;
			return 1;
		case 'w':
		case 'z':
			ret = reader_take(r, b, 16, err, "truncated data record");
			if (ret < 0)
				return ret;
			rec->tag = (char)tag;
			rec->off = get_le64(b);
			rec->len = get_le64(b + 8);
			if (r->version == 2 && payload != (tag == 'w' ? 16 + rec->len : 16))
				return bad(r, err, "data record length does not match");
			if (tag == 'w' && (rec->len > DSTREAM_DATA_MAX || rec->len == 0))
				return bad(r, err, "data record of a bad length");
			ret = check_extent(r, rec->off, rec->len, err);
			if (ret < 0)
				return ret;
			if (tag == 'w')
				r->pending = rec->len;
			return 1;
		default:
			if (r->version == 1)
				return bad(r, err, "unknown record tag");
			/* v2: skip what we do not know */
			ret = skip_bytes(r, payload, err);
			if (ret < 0)
				return ret;
			continue;
		}
	}
}

void dstream_reader_release(struct dstream_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}
