/* SPDX-License-Identifier: MIT */
/*
 * backup: restore — the chain of a backup into a new volume or over the original one,
 * and the volume's digest against the recorded one: the digest of what is written, as it
 * is written (struct wsum, struct vhasher), or, asked for, of the volume read back.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backup/backup-internal.h"
#include "common/json.h"

#define CHAIN_MAX 10000

void chain_release(struct chain *ch)
{
	free(ch->v);
	memset(ch, 0, sizeof(*ch));
}

/* The chain that ends at id: -ENOENT naming the missing link, -EINVAL for a bad one. */
int chain_load(struct cluster *c, const char *id, struct chain *ret, struct cairn_err *err)
{
	struct chain ch = {0};
	size_t cap = 0;
	char want[UUID_STR_LEN], child[UUID_STR_LEN] = "";
	int r;

	str_copy(want, sizeof(want), id);
	for (;;) {
		struct backup_record rec;
		struct cairn_err lerr = {0};

		if (ch.n >= CHAIN_MAX) {
			chain_release(&ch);
			return err_set(err, -ELOOP, "the chain of backup '%s' is too long or loops",
			               id);
		}
		r = bk_record_load(c, want, &rec, NULL, &lerr);
		if (r == -ENOENT && child[0]) {
			chain_release(&ch);
			return err_set(err, -ENOENT,
			               "the chain of backup '%s' is broken: backup '%s' needs its "
			               "base '%s', which is missing",
			               id, child, want);
		}
		if (r < 0) {
			chain_release(&ch);
			return err_set(err, r, "%s", lerr.msg);
		}
		if (rec.status != BACKUP_STATUS_AVAILABLE) {
			chain_release(&ch);
			if (!child[0])
				return err_set(err, -EINVAL, "backup '%s' is %s, not available", id,
				               backup_status_to_string(rec.status));
			return err_set(err, -ENOENT,
			               "the chain of backup '%s' is broken: its base '%s' is %s",
			               id, want, backup_status_to_string(rec.status));
		}
		if (ch.n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct backup_record *v = realloc(ch.v, ncap * sizeof(*v));
			if (!v) {
				chain_release(&ch);
				return err_set(err, -ENOMEM, "out of memory");
			}
			ch.v = v;
			cap = ncap;
		}
		ch.v[ch.n++] = rec;
		if (rec.kind == BACKUP_KIND_FULL)
			break;
		str_copy(child, sizeof(child), rec.id);
		str_copy(want, sizeof(want), rec.parent);
	}
	/* oldest first */
	for (size_t i = 0; i < ch.n / 2; i++) {
		struct backup_record t = ch.v[i];
		ch.v[i] = ch.v[ch.n - 1 - i];
		ch.v[ch.n - 1 - i] = t;
	}
	*ret = ch;
	return 0;
}

int bk_chain_files_check(const struct backup_record *v, size_t n, struct cairn_err *err)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_(closep) int fd = -1;
		uint8_t sha[SHA256_LEN];
		char hex[BACKUP_SHA256_HEX];
		int r;

		fd = open(v[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			return err_set(err, -ENOENT, "backup '%s': its file '%s' is missing",
			               v[i].id, v[i].path);
		if (fd < 0)
			return err_set(err, -errno, "backup '%s': cannot open '%s': %s", v[i].id,
			               v[i].path, strerror(errno));
		r = sha256_fd(fd, sha);
		if (r < 0)
			return err_set(err, r, "backup '%s': cannot read '%s': %s", v[i].id,
			               v[i].path, strerror(-r));
		sha256_hex(sha, hex);
		if (strcmp(hex, v[i].checksum_file) != 0)
			return err_set(err, -EILSEQ,
			               "backup '%s' is corrupt: file '%s' has sha256 %s, %s was "
			               "recorded",
			               v[i].id, v[i].path, hex, v[i].checksum_file);
	}
	return 0;
}

/* The sub-blocks a stream wrote only in part: their whole content, read back. */
static int sum_partials(struct wsum *ws, rbd_image_t dst, const char *name, struct cairn_err *err)
{
	_cleanup_(freep) uint8_t *buf = NULL;
	uint64_t *v;
	size_t n = wsum_partial_take(ws, &v);
	int r;

	if (!n)
		return 0;
	buf = malloc(BK_SUB);
	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	log_debug("restore into '%s': %zu sub-blocks written in part, read back", name, n);
	for (size_t k = 0; k < n; k++) {
		uint64_t off = v[k] * BK_SUB;
		uint64_t len = ws->size - off < BK_SUB ? ws->size - off : BK_SUB;
		ssize_t got = rbd_read(dst, off, (size_t)len, (char *)buf);

		if (got >= 0 && (uint64_t)got != len)
			got = -EIO;
		if (got < 0)
			return err_set(err, (int)got, "cannot read volume '%s' at offset %llu: %s",
			               name, (unsigned long long)off, strerror((int)-got));
		r = wsum_set(ws, v[k], buf);
		if (r < 0)
			return err_set(err, r, "cannot hash volume '%s' at offset %llu: %s", name,
			               (unsigned long long)off, strerror(-r));
	}
	return 0;
}

/*
 * Replay one export-diff file into dst; ws (NULL: none) sums what it writes. must_cover:
 * dst holds other data (restore over the original) and this is the full stream: any
 * range it does not write keeps that data, so the sum cannot know it (ws->lost).
 */
static int apply_file(const struct backup_record *b, const char *expect_from, rbd_image_t dst,
                      uint64_t dst_size, bool zero_needed, struct wsum *ws, bool must_cover,
                      const char *name, const struct cairn_config *conf,
                      struct cairn_progress *progress, uint64_t *done, uint64_t total,
                      struct bk_lock *lease, struct cairn_err *err)
{
	_cleanup_(closep) int fd = -1;
	struct dstream_reader rd;
	struct dstream_rec rec;
	struct aio_writer *aw = NULL;
	uint64_t chunk = conf->backup.chunk < BK_BLOCK ? conf->backup.chunk : BK_BLOCK;
	char to[128];
	bool seen_from = false, seen_to = false;
	uint64_t covered = 0, stream_size = 0;
	int r, r2;

	fd = open(b->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, -errno, "backup '%s': cannot open '%s': %s", b->id, b->path,
		               strerror(errno));
	r = dstream_reader_init(&rd, fd, err);
	if (r < 0) {
		dstream_reader_release(&rd);
		return err_set(err, r, "backup '%s': file '%s' is corrupt", b->id, b->path);
	}
	r = aiow_new(dst, conf->backup.in_flight, chunk, &aw);
	if (r < 0) {
		dstream_reader_release(&rd);
		return err_set(err, r, "out of memory");
	}
	bk_snap_name(to, b->id);
	while ((r = dstream_next(&rd, &rec, err)) > 0) {
		switch (rec.tag) {
		case 'f':
			seen_from = true;
			if (!expect_from || strcmp(rec.snap, expect_from) != 0)
				r = err_set(err, -EILSEQ,
				            "backup '%s': file '%s' starts from snapshot '%s', not "
				            "'%s'",
				            b->id, b->path, rec.snap,
				            expect_from ? expect_from : "(none)");
			break;
		case 't':
			seen_to = true;
			if (strcmp(rec.snap, to) != 0)
				r = err_set(
				        err, -EILSEQ,
				        "backup '%s': file '%s' ends at snapshot '%s', not '%s'",
				        b->id, b->path, rec.snap, to);
			break;
		case 's':
			if (rec.size > dst_size)
				r = err_set(
				        err, -EILSEQ,
				        "backup '%s': file '%s' says size %llu, larger than the "
				        "volume",
				        b->id, b->path, (unsigned long long)rec.size);
			stream_size = rec.size;
			if (ws && ws->size != rec.size && must_cover)
				ws->lost = true;
			break;
		case 'z':
		case 'w':
			if (ws && must_cover && rec.off != covered)
				ws->lost = true; /* a gap: what was there stays */
			covered = rec.off + rec.len;
			break;
		}
		if (r >= 0 && rec.tag == 'z') {
			if (zero_needed)
				r = aiow_zero(aw, rec.off, rec.len, err);
			/* zeros either way: a new volume is blank */
			if (r >= 0 && ws && (r = wsum_feed(ws, rec.off, NULL, rec.len)) < 0)
				r = err_set(err, r, "backup '%s': cannot hash at offset %llu: %s",
				            b->id, (unsigned long long)rec.off, strerror(-r));
		} else if (r >= 0 && rec.tag == 'w') {
			for (uint64_t pos = 0; pos < rec.len && r >= 0;) {
				uint64_t n = rec.len - pos < chunk ? rec.len - pos : chunk;
				uint8_t *buf;
				r = aiow_buffer(aw, &buf, err);
				if (r >= 0)
					r = dstream_read_data(&rd, buf, n, err);
				if (r >= 0)
					r = aiow_write(aw, buf, rec.off + pos, n, err);
				/* hashed while the write is in flight (both only read buf) */
				if (r >= 0 && ws && (r = wsum_feed(ws, rec.off + pos, buf, n)) < 0)
					r = err_set(err, r,
					            "backup '%s': cannot hash at offset %llu: %s",
					            b->id, (unsigned long long)(rec.off + pos),
					            strerror(-r));
				pos += n;
				*done += n;
				progress_report(progress, *done, total);
				failpoint("restore.chunk");
			}
		}
		if (r >= 0)
			r = bk_lock_renew(lease, err);
		if (r < 0)
			break;
		if (progress_cancelled(progress)) {
			r = err_set(err, -ECANCELED, "restore of backup '%s' cancelled", b->id);
			break;
		}
	}
	if (r >= 0 && (!seen_to || seen_from != (expect_from != NULL)))
		r = err_set(err, -EILSEQ, "backup '%s': file '%s' lacks its %s snapshot record",
		            b->id, b->path, seen_to ? "from" : "to");
	if (r >= 0 && ws && must_cover && covered != stream_size)
		ws->lost = true;
	if (r >= 0 && ws && (r = wsum_pass_end(ws)) < 0)
		r = err_set(err, r, "out of memory");
	r2 = aiow_drain(aw, err);
	if (r >= 0)
		r = r2;
	aiow_free(aw);
	if (r >= 0 && ws && !ws->lost)
		r = sum_partials(ws, dst, name, err);
	dstream_reader_release(&rd);
	if (r < 0 && err->code == -EILSEQ && !strstr(err->msg, b->id)) {
		/* a malformed stream: say which backup */
		char msg[sizeof(err->msg)];
		str_copy(msg, sizeof(msg), err->msg);
		err->code = 0;
		err_set(err, -EILSEQ, "backup '%s': file '%s' is corrupt: %s", b->id, b->path, msg);
	}
	return r;
}

/* The backup image's snapshot into dst; digest (NULL: none) gets the digest of all of it,
 * hashed as it is copied (the plan covers the whole volume). */
static int apply_pool(struct cluster *c, const struct backup_record *b, rbd_image_t dst,
                      bool zero_needed, uint8_t *digest, const struct cairn_config *conf,
                      struct cairn_progress *progress, uint64_t *done, uint64_t *total,
                      struct bk_lock *lease, struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image src = {0};
	struct extent_list l = {0};
	struct chunk_plan plan = {0};
	struct copier cp = {0};
	struct lthash state = {{0}};
	struct vhasher h;
	rados_ioctx_t bio;
	char image[128], snap[128], what[128];
	int r;

	r = cluster_ioctx(c, POOL_ROLE_BACKUPS, &bio, err);
	if (r < 0)
		return r;
	bk_image_name(image, b->volume_id);
	bk_image_snap_name(snap, b->id);
	r = bk_open_snap(c, bio, image, snap, &src);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, "backup '%s': snapshot '%s@%s' is missing", b->id,
		               image, snap);
	if (r < 0)
		return err_set(err, r, "backup '%s': cannot open '%s@%s': %s", b->id, image, snap,
		               strerror(-r));
	r = bk_diff_extents(src.img, NULL, b->size, &l, err);
	if (r < 0)
		return r;
	r = chunk_plan_build(&l, b->size, conf->backup.chunk, true, 0, NULL, &plan);
	extent_list_release(&l);
	if (r < 0)
		return err_set(err, r, "out of memory");
	snprintf(what, sizeof(what), "restore of backup '%s'", b->id);
	cp.src = src.img;
	cp.dst = dst;
	cp.dst_zero = zero_needed;
	cp.window = conf->backup.in_flight;
	cp.chunk_max = conf->backup.chunk < BK_BLOCK ? conf->backup.chunk : BK_BLOCK;
	cp.progress = progress;
	*total = plan.read_bytes + (digest ? 0 : b->size); /* read back: once more */
	cp.progress_total = *total;
	cp.failpoint = "restore.chunk";
	cp.lease = lease;
	cp.what = what;
	vhasher_init(&h, &state, b->size, 0);
	if (digest)
		cp.hasher = &h;
	progress_report(progress, 0, *total);
	r = copier_run(&cp, &plan, err);
	*done = plan.read_bytes;
	chunk_plan_release(&plan);
	if (r >= 0 && digest) {
		r = vhasher_finish(&h);
		if (r < 0)
			err_set(err, r, "%s: a sub-block was not hashed whole", what);
		else if ((r = lthash_digest(&state, digest)) < 0)
			err_set(err, r, "out of memory");
	}
	vhasher_release(&h);
	return r;
}

static uint64_t chain_data_bytes(const struct chain *ch)
{
	uint64_t t = 0;

	for (size_t i = 0; i < ch->n; i++)
		t += ch->v[i].bytes;
	return t;
}

int backup_restore(struct cluster *c, const char *id, const struct backup_restore_params *p,
                   struct cairn_progress *progress, struct json_object **ret_volume,
                   struct cairn_err *err)
{
	enum backup_restore_check check = p ? p->check : BACKUP_RESTORE_CHECK_WRITTEN;
	const struct cairn_config *conf = cluster_config(c);
	struct backup_restore_params none = {0};
	struct chain ch = {0};
	struct vol_record vol = {0};
	struct bk_lock lock = {0};
	_cleanup_(json_putp) struct json_object *targets = NULL;
	_cleanup_(rbd_closep) rbd_image_t dst = NULL;
	const struct backup_record *b;
	rados_ioctx_t vio;
	char name[NAME_MAX_LEN + 1], op[UUID_STR_LEN], vop[UUID_STR_LEN + 8], pid[24];
	char hex[BACKUP_SHA256_HEX];
	uint8_t digest[SHA256_LEN];
	uint64_t done = 0, total, cur_size = 0;
	bool have_vol = false, created = false, intent = false, rbd_locked = false;
	bool readback = check == BACKUP_RESTORE_CHECK_READBACK, have_digest = false;
	struct wsum ws;
	int r;

	if ((unsigned)check >= BACKUP_RESTORE_CHECK_MAX)
		return err_set(err, -EINVAL, "unknown restore check %d", (int)check);
	wsum_init(&ws, 0);
	if (!p)
		p = &none;
	if (p->original && p->volume)
		return err_set(err, -EINVAL, "give either a new volume name or original, not both");
	r = chain_load(c, id, &ch, err);
	if (r < 0)
		return r;
	b = &ch.v[ch.n - 1];
	wsum_init(&ws, b->size);
	if (!b->checksum_volume[0]) {
		r = err_set(err, -EILSEQ, "backup '%s' has no recorded checksum", id);
		goto out;
	}
	if (p->op_id && *p->op_id)
		str_copy(op, sizeof(op), p->op_id);
	else
		uuid_generate_str(op);
	snprintf(vop, sizeof(vop), "%.36s-vol", op);

	/* the file chain is checked whole before anything is written */
	if (b->target == BACKUP_TARGET_FILE) {
		r = bk_chain_files_check(ch.v, ch.n, err);
		if (r < 0)
			goto out;
	}

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	targets = json_object_new_object();
	if (!targets || json_add_string(targets, "backup_id", b->id) < 0 ||
	    json_add_string(targets, "pid", pid) < 0 ||
	    json_add_string(targets, "volume_op", vop) < 0) {
		r = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (p->original) {
		r = bk_volume_load_id(c, b->volume_id, &vol, err);
		if (r == -ENOENT) {
			err->code = 0;
			r = err_set(err, -ENOENT,
			            "the volume of backup '%s' ('%s') is gone: restore into a new "
			            "volume",
			            id, b->volume);
		}
		if (r < 0)
			goto out;
		have_vol = true;
		str_copy(name, sizeof(name), vol.name);
		r = bk_lock_acquire(c, vol.id, vol.name, op, &lock, err);
		if (r < 0)
			goto out;
		if (vol.size < b->size) {
			struct json_object *v = NULL;
			r = vol_extend(c, vol.name, b->size, &v, err);
			json_object_put(v);
			if (r < 0)
				goto out;
		}
		if (json_add_string(targets, "volume", vol.name) < 0 ||
		    json_add_string(targets, "volume_id", vol.id) < 0 ||
		    json_add_string(targets, "new", "0") < 0) {
			r = err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	} else {
		if (p->volume)
			str_copy(name, sizeof(name), p->volume);
		else
			bk_restore_name(name, b);
		r = name_validate(name, "volume", err);
		if (r < 0)
			goto out;
		/* our liveness for the reconciler: held (and renewed) until the end */
		r = bk_lock_acquire(c, op, name, op, &lock, err);
		if (r < 0)
			goto out;
		if (json_add_string(targets, "volume", name) < 0 ||
		    json_add_string(targets, "new", "1") < 0) {
			r = err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	r = intent_begin(c, op, "backup.restore", targets, err);
	if (r < 0)
		goto out;
	intent = true;
	if (!p->original) {
		struct vol_create_params vp = {.name = name, .size = b->size, .op_id = vop};
		struct json_object *v = NULL;

		r = vol_create(c, &vp, &v, err);
		json_object_put(v);
		if (r < 0)
			goto out;
		created = true;
		r = bk_volume_load(c, name, &vol, err);
		if (r < 0)
			goto out;
		have_vol = true;
		failpoint("restore.created");
	}

	r = bk_volume_io(c, &vol, &vio, err);
	if (r < 0)
		goto out;
	r = rbd_open(vio, vol.rbd_image, &dst, NULL);
	if (r < 0) {
		r = err_set(err, r, "cannot open volume '%s': %s", name, strerror(-r));
		goto out;
	}
	if (p->original) {
		char what[NAME_MAX_LEN + 16];

		snprintf(what, sizeof(what), "volume '%s'", name);
		r = bk_check_unused(vio, dst, what, err);
		if (r < 0)
			goto out;
		/* nobody may start writing while we do */
		r = rbd_lock_acquire(dst, RBD_LOCK_MODE_EXCLUSIVE);
		if (r >= 0)
			rbd_locked = true;
		else if (r != -EINVAL && r != -EOPNOTSUPP) {
			r = err_set(err, r, "cannot lock volume '%s': %s", name, strerror(-r));
			goto out;
		}
		r = bk_check_unused(vio, dst, what, err);
		if (r < 0)
			goto out;
	}

	total = chain_data_bytes(&ch) + (readback ? b->size : 0); /* read back: once more */
	if (b->target == BACKUP_TARGET_POOL) {
		r = apply_pool(c, b, dst, p->original, readback ? NULL : digest, conf, progress,
		               &done, &total, &lock, err);
		have_digest = r >= 0 && !readback;
	} else {
		for (size_t i = 0; i < ch.n && r >= 0; i++)
			r = apply_file(&ch.v[i], i ? ch.v[i - 1].snapshot : NULL, dst, b->size,
			               p->original || i > 0, readback ? NULL : &ws,
			               p->original && i == 0, name, conf, progress, &done, total,
			               &lock, err);
		if (r >= 0 && !readback && !ws.lost) {
			r = wsum_digest(&ws, digest);
			if (r < 0) {
				r = err_set(
				        err, r,
				        "restore of backup '%s': the digest of what was written "
				        "is incomplete",
				        b->id);
				goto out;
			}
			have_digest = true;
		}
		if (ws.lost)
			log_debug(
			        "restore of backup '%s': the streams leave the digest unknown, the "
			        "volume is read back",
			        b->id);
	}
	if (r < 0)
		goto out;
	if (p->original && rbd_get_size(dst, &cur_size) >= 0 && cur_size > b->size) {
		/* the volume grew after the backup: what lies past it reads as zeros */
		r = rbd_write_zeroes(dst, b->size, cur_size - b->size, 0, 0);
		if (r < 0) {
			r = err_set(err, r, "cannot zero the end of volume '%s': %s", name,
			            strerror(-r));
			goto out;
		}
	}
	r = rbd_flush(dst);
	if (r < 0) {
		r = err_set(err, r, "cannot flush volume '%s': %s", name, strerror(-r));
		goto out;
	}

	if (!have_digest) {
		if (!readback)
			total += b->size;
		r = bk_image_digest(dst, b->size, conf, progress, done, total, &lock, digest, err);
		if (r < 0)
			goto out;
	}
	sha256_hex(digest, hex);
	if (strcmp(hex, b->checksum_volume) != 0) {
		r = err_set(err, -EILSEQ,
		            "volume '%s' restored from backup '%s' does not match it: digest %s, "
		            "%s was recorded",
		            name, b->id, hex, b->checksum_volume);
		goto out;
	}
	progress_report(progress, total, total);
	log_debug("backup %s restored into %s", b->id, name);
	r = 0;
out:
	if (rbd_locked)
		rbd_lock_release(dst);
	if (dst) {
		rbd_close(dst);
		dst = NULL;
	}
	if (r < 0 && created) {
		struct cairn_err lerr = {0};
		/* a failed restore leaves no half volume behind */
		if (vol_delete(c, name, true, NULL, &lerr) < 0) {
			log_warn("half restored volume '%s' stays for the reconciler: %s", name,
			         lerr.msg);
			intent = false;
		}
	}
	if (intent) {
		struct cairn_err lerr = {0};
		if (intent_end(c, op, &lerr) < 0)
			log_warn("intent %s stays: %s", op, lerr.msg);
	}
	if (p->original)
		bk_lock_release(&lock);
	else
		bk_lock_release_remove(&lock);
	if (r >= 0 && ret_volume) {
		struct json_object *v = NULL;
		r = vol_show(c, name, &v, err);
		if (r >= 0)
			*ret_volume = v;
	}
	if (have_vol)
		vol_record_release(&vol);
	wsum_release(&ws);
	chain_release(&ch);
	return r;
}
