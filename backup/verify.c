/* SPDX-License-Identifier: MIT */
/*
 * backup: verify — read a backup and its chain back and compare with what was recorded.
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

/*
 * Parse a whole stream: snapshot names as the chain says, data within the size, an end
 * record, as many data bytes as recorded. A full stream in offset order also gives the
 * volume digest (what it does not write is zero): *ret_digest_checked tells.
 */
static int check_stream(const struct backup_record *b, const char *expect_from,
                        struct cairn_progress *progress, uint64_t *done, uint64_t total,
                        bool *ret_digest_checked, struct cairn_err *err)
{
	_cleanup_(closep) int fd = -1;
	_cleanup_(freep) uint8_t *buf = NULL;
	struct dstream_reader rd;
	struct dstream_rec rec;
	struct lthash state = {{0}};
	struct vhasher h = {0};
	bool hash_ready = false;
	bool hashing = b->kind == BACKUP_KIND_FULL, seen_to = false, seen_from = false;
	uint64_t pos = 0, data = 0;
	char to[128], hex[BACKUP_SHA256_HEX];
	uint8_t digest[SHA256_LEN];
	const size_t cap = 4 * BK_MiB;
	int r;

	*ret_digest_checked = false;
	buf = malloc(cap);
	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	fd = open(b->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, -errno, "backup '%s': cannot open '%s': %s", b->id, b->path,
		               strerror(errno));
	r = dstream_reader_init(&rd, fd, err);
	if (r < 0)
		goto out;
	bk_snap_name(to, b->id);
	while ((r = dstream_next(&rd, &rec, err)) > 0) {
		switch (rec.tag) {
		case 'f':
			seen_from = true;
			if (!expect_from || strcmp(rec.snap, expect_from) != 0)
				r = err_set(err, -EILSEQ, "starts from snapshot '%s', not '%s'",
				            rec.snap, expect_from ? expect_from : "(none)");
			break;
		case 't':
			seen_to = true;
			if (strcmp(rec.snap, to) != 0)
				r = err_set(err, -EILSEQ, "ends at snapshot '%s', not '%s'",
				            rec.snap, to);
			break;
		case 's':
			if (rec.size != b->size)
				r = err_set(err, -EILSEQ, "says size %llu, %llu was recorded",
				            (unsigned long long)rec.size,
				            (unsigned long long)b->size);
			else if (hashing)
				hash_ready = vhasher_init(&h, &state, rec.size, 0) >= 0;
			break;
		case 'z':
		case 'w':
			if (hashing && rec.off < pos)
				hashing = false; /* out of order: no digest from the stream alone */
			if (hashing && rec.off > pos)
				r = vhasher_feed(&h, false, pos, NULL, rec.off - pos);
			if (hashing && r >= 0 && rec.tag == 'z')
				r = vhasher_feed(&h, false, rec.off, NULL, rec.len);
			for (uint64_t k = 0; rec.tag == 'w' && k < rec.len && r >= 0;) {
				uint64_t n = rec.len - k < cap ? rec.len - k : cap;
				r = dstream_read_data(&rd, buf, n, err);
				if (r >= 0 && hashing)
					r = vhasher_feed(&h, false, rec.off + k, buf, n);
				k += n;
				*done += n;
				progress_report(progress, *done, total);
			}
			if (r < 0 && !err->code)
				err_set(err, r, "cannot hash the data");
			if (rec.tag == 'w')
				data += rec.len;
			pos = rec.off + rec.len;
			break;
		}
		if (r < 0)
			break;
		if (progress_cancelled(progress)) {
			r = err_set(err, -ECANCELED, "cancelled");
			break;
		}
	}
	if (r < 0)
		goto out;
	if (!seen_to || seen_from != (expect_from != NULL)) {
		r = err_set(err, -EILSEQ, "lacks its %s snapshot record", seen_to ? "from" : "to");
		goto out;
	}
	if (data != b->bytes) {
		r = err_set(err, -EILSEQ, "holds %llu data bytes, %llu were recorded",
		            (unsigned long long)data, (unsigned long long)b->bytes);
		goto out;
	}
	if (hashing && hash_ready) {
		if (pos < b->size)
			r = vhasher_feed(&h, false, pos, NULL, b->size - pos);
		if (r >= 0)
			r = vhasher_finish(&h);
		if (r >= 0)
			r = lthash_digest(&state, digest);
		if (r < 0) {
			err_set(err, r, "cannot hash the data");
			goto out;
		}
		sha256_hex(digest, hex);
		if (strcmp(hex, b->checksum_volume) != 0) {
			r = err_set(err, -EILSEQ, "its content has digest %s, %s was recorded", hex,
			            b->checksum_volume);
			goto out;
		}
		*ret_digest_checked = true;
	}
	r = 0;
out:
	vhasher_release(&h);
	dstream_reader_release(&rd);
	if (r == -EILSEQ) {
		char msg[sizeof(err->msg)];
		str_copy(msg, sizeof(msg), err->msg);
		err->code = 0;
		err_set(err, r, "backup '%s': file '%s' is corrupt: %s", b->id, b->path, msg);
	}
	return r;
}

static int verify_files(struct cluster *c, const struct chain *ch, struct json_object *items,
                        struct cairn_progress *progress, struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);
	const struct backup_record *b = &ch->v[ch->n - 1];
	_cleanup_(json_putp) struct json_object *m = NULL;
	uint64_t total = 0, done = 0;
	int r;

	r = manifest_load(conf->backup.directory, b->volume_id, b->volume, &m, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ch->n; i++) {
		struct json_object *e = manifest_find(m, ch->v[i].id);
		const char *sha = e ? json_get_string(e, "file_sha256") : NULL;

		if (!e)
			return err_set(err, -ENOENT,
			               "backup '%s' is missing from the manifest of "
			               "volume '%s' in '%s'",
			               ch->v[i].id, b->volume, conf->backup.directory);
		if (!sha || strcmp(sha, ch->v[i].checksum_file) != 0)
			return err_set(err, -EILSEQ,
			               "backup '%s': the manifest says sha256 %s, the record %s",
			               ch->v[i].id, sha ? sha : "(none)", ch->v[i].checksum_file);
		total += ch->v[i].bytes;
	}
	r = bk_chain_files_check(ch->v, ch->n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ch->n; i++) {
		const struct backup_record *x = &ch->v[i];
		struct json_object *o = json_object_new_object();
		bool digest_checked = false;

		r = check_stream(x, i ? ch->v[i - 1].snapshot : NULL, progress, &done, total,
		                 &digest_checked, err);
		if (r < 0) {
			json_object_put(o);
			return r;
		}
		if (!o || json_object_array_add(items, o) < 0) {
			json_object_put(o);
			return err_set(err, -ENOMEM, "out of memory");
		}
		if (json_add_string(o, "id", x->id) < 0 ||
		    json_add_string(o, "kind", backup_kind_to_string(x->kind)) < 0 ||
		    json_add_string(o, "target", "file") < 0 ||
		    json_add_string(o, "file", x->path) < 0 ||
		    json_add_string(o, "file_sha256", x->checksum_file) < 0 ||
		    json_add_bool(o, "file_sha256_ok", true) < 0 ||
		    json_add_bool(o, "stream_ok", true) < 0 ||
		    json_add_string(o, "volume_sha256", x->checksum_volume) < 0 ||
		    json_add_bool(o, "volume_sha256_checked", digest_checked) < 0 ||
		    json_add_uint(o, "bytes", x->bytes) < 0)
			return err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

static int verify_pool(struct cluster *c, const struct chain *ch, struct json_object *items,
                       struct cairn_progress *progress, struct cairn_err *err)
{
	const struct backup_record *b = &ch->v[ch->n - 1];
	_cleanup_(ro_image_close) struct ro_image img = {0};
	struct json_object *o;
	rados_ioctx_t bio;
	char image[128], snap[128], hex[BACKUP_SHA256_HEX];
	uint8_t digest[SHA256_LEN];
	int r;

	r = cluster_ioctx(c, POOL_ROLE_BACKUPS, &bio, err);
	if (r < 0)
		return r;
	bk_image_name(image, b->volume_id);
	/* every link still has its snapshot (the image holds the chain) */
	r = bk_open_snap(c, bio, image, NULL, &img);
	if (r < 0)
		return err_set(err, r, "backup '%s': cannot open '%s': %s", b->id, image,
		               strerror(-r));
	for (size_t i = 0; i < ch->n; i++) {
		bool exists = false;

		bk_image_snap_name(snap, ch->v[i].id);
		r = rbd_snap_exists(img.img, snap, &exists);
		if (r >= 0 && !exists)
			return err_set(err, -ENOENT, "backup '%s': snapshot '%s@%s' is missing",
			               ch->v[i].id, image, snap);
		if (r < 0)
			return err_set(err, r, "backup '%s': cannot read the snapshots of '%s': %s",
			               ch->v[i].id, image, strerror(-r));
	}
	bk_image_snap_name(snap, b->id);
	r = rbd_snap_set(img.img, snap);
	if (r < 0)
		return err_set(err, r, "backup '%s': cannot open '%s@%s': %s", b->id, image, snap,
		               strerror(-r));
	r = bk_image_digest(img.img, b->size, cluster_config(c), progress, 0, b->size, NULL, digest,
	                    err);
	if (r < 0)
		return r;
	sha256_hex(digest, hex);
	if (strcmp(hex, b->checksum_volume) != 0)
		return err_set(err, -EILSEQ,
		               "backup '%s' is corrupt: snapshot '%s@%s' has digest %s, %s was "
		               "recorded",
		               b->id, image, snap, hex, b->checksum_volume);
	for (size_t i = 0; i < ch->n; i++) {
		const struct backup_record *x = &ch->v[i];
		o = json_object_new_object();
		if (!o || json_object_array_add(items, o) < 0) {
			json_object_put(o);
			return err_set(err, -ENOMEM, "out of memory");
		}
		if (json_add_string(o, "id", x->id) < 0 ||
		    json_add_string(o, "kind", backup_kind_to_string(x->kind)) < 0 ||
		    json_add_string(o, "target", "pool") < 0 ||
		    json_add_string(o, "volume_sha256", x->checksum_volume) < 0 ||
		    json_add_bool(o, "volume_sha256_checked", x == b) < 0 ||
		    json_add_uint(o, "bytes", x->bytes) < 0)
			return err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

int backup_verify(struct cluster *c, const char *id, struct cairn_progress *progress,
                  struct json_object **ret_report, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *rep = NULL;
	struct json_object *items;
	struct chain ch = {0};
	int r;

	r = chain_load(c, id, &ch, err);
	if (r < 0)
		return r;
	rep = json_object_new_object();
	items = json_object_new_array();
	if (!rep || json_add_string(rep, "id", id) < 0 || json_add(rep, "chain", items) < 0) {
		r = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (ch.v[ch.n - 1].target == BACKUP_TARGET_FILE)
		r = verify_files(c, &ch, items, progress, err);
	else
		r = verify_pool(c, &ch, items, progress, err);
	if (r < 0)
		goto out;
	if (json_add_bool(rep, "ok", true) < 0) {
		r = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*ret_report = TAKE_PTR(rep);
	r = 0;
out:
	chain_release(&ch);
	return r;
}
