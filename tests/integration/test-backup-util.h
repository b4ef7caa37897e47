/* SPDX-License-Identifier: MIT */
/*
 * What the backup integration tests share: a fixture with its own pools and backup
 * directory, a volume with a model of its content in memory (every write goes to both),
 * and checksums of volumes, snapshots and the model.
 */
#ifndef CAIRN_TEST_BACKUP_UTIL_H
#define CAIRN_TEST_BACKUP_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <rbd/librbd.h>

#include "backup/backup.h"
#include "common/json.h"
#include "tests/integration/itest.h"
#include "volumes/volumes.h"

#define MiB (1024ULL * 1024)

struct fixture {
	struct cairn_config conf;
	struct cluster *c;
	char prefix[32];
	char dir[64]; /* [backup] directory */
};

static inline void fixture_set(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	assert_non_null(*field);
}

static inline struct fixture *fixture_new(const char *base)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	itest_unique_name(f->prefix, sizeof(f->prefix), base);
	f->c = itest_cluster(&f->conf, f->prefix);
	snprintf(f->dir, sizeof(f->dir), "/tmp/%s-files-XXXXXX", f->prefix);
	assert_non_null(mkdtemp(f->dir));
	fixture_set(&f->conf.backup.directory, f->dir);
	f->conf.backup.chunk = 1 * MiB; /* more chunks than the default, more in flight */
	f->conf.backup.in_flight = 8;
	return f;
}

static inline void fixture_free(struct fixture *f)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	itest_cluster_free(f->c, &f->conf, f->prefix);
	free(f);
}

/* ---- a volume and its model -------------------------------------------------------------------- */

struct tvol {
	char name[64];
	char pool[64];
	char rbd_image[128];
	uint64_t size;
	uint8_t *model;
	rbd_image_t img;
};

static inline void tvol_create(struct fixture *f, struct tvol *v, const char *base, uint64_t size)
{
	struct vol_create_params p = {0};
	struct cairn_err err = {0};
	struct json_object *o = NULL;
	rados_ioctx_t io;

	memset(v, 0, sizeof(*v));
	itest_unique_name(v->name, sizeof(v->name), base);
	p.name = v->name;
	p.size = size;
	if (vol_create(f->c, &p, &o, &err) < 0)
		fail_msg("vol_create: %s", err.msg);
	snprintf(v->pool, sizeof(v->pool), "%s", json_get_string(o, "pool"));
	snprintf(v->rbd_image, sizeof(v->rbd_image), "%s", json_get_string(o, "rbd_image"));
	json_object_put(o);
	v->size = size;
	v->model = calloc(1, size);
	assert_non_null(v->model);
	assert_int_equal(cluster_ioctx_by_name(f->c, v->pool, &io, &err), 0);
	assert_int_equal(rbd_open(io, v->rbd_image, &v->img, NULL), 0);
}

static inline void tvol_close(struct tvol *v)
{
	if (v->img)
		rbd_close(v->img);
	v->img = NULL;
	free(v->model);
	v->model = NULL;
}

/* Bytes that depend on the seed and the offset, never a long run of zeros. */
static inline void pattern(uint8_t *p, uint64_t off, uint64_t len, uint32_t seed)
{
	for (uint64_t i = 0; i < len; i++) {
		uint64_t x = (off + i) * 2654435761u + seed * 40503u;
		p[i] = (uint8_t)(x >> 13 | 1);
	}
}

static inline void tvol_write(struct tvol *v, uint64_t off, uint64_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	pattern(buf, off, len, seed);
	assert_int_equal(rbd_write(v->img, off, len, (const char *)buf), (ssize_t)len);
	memcpy(v->model + off, buf, len);
	free(buf);
}

static inline void tvol_zero(struct tvol *v, uint64_t off, uint64_t len)
{
	assert_int_equal(rbd_write_zeroes(v->img, off, len, 0, 0), (int)len);
	memset(v->model + off, 0, len);
}

static inline void tvol_flush(struct tvol *v)
{
	assert_int_equal(rbd_flush(v->img), 0);
}

/* ---- checksums ------------------------------------------------------------------------------- */

static inline void sha_hex(const unsigned char d[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Plain SHA-256 of bytes. */
static inline void sha_of(const void *p, uint64_t len, char out[65])
{
	unsigned char d[32];
	unsigned int n = 32;

	assert_int_equal(EVP_Digest(p, len, d, &n, EVP_sha256(), NULL), 1);
	sha_hex(d, out);
}

/*
 * cairn's volume digest, from its definition (backup/backup.h): each 64 KiB sub-block i
 * of length n holding a non-zero byte has the value SHAKE256(SHA-256(le64 i, le64 n,
 * bytes)) as 1024 16-bit lanes; the lanes are summed modulo 2^16; the digest is the
 * SHA-256 of the sum's 2048 bytes.
 */
static inline void block_digest_of(const uint8_t *p, uint64_t size, char out[65])
{
	uint16_t lanes[1024] = {0};
	uint8_t bytes[2048];
	unsigned char d[32];
	unsigned int n = 32;

	for (uint64_t off = 0, i = 0; off < size; off += 65536, i++) {
		uint64_t len = size - off < 65536 ? size - off : 65536;
		uint8_t prefix[16], sha[32], v[2048];
		EVP_MD_CTX *ctx;
		bool zero = true;

		for (uint64_t k = 0; k < len && zero; k++)
			zero = p[off + k] == 0;
		if (zero)
			continue;
		for (int b = 0; b < 8; b++) {
			prefix[b] = (uint8_t)(i >> (8 * b));
			prefix[8 + b] = (uint8_t)(len >> (8 * b));
		}
		ctx = EVP_MD_CTX_new();
		assert_non_null(ctx);
		assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
		EVP_DigestUpdate(ctx, prefix, 16);
		EVP_DigestUpdate(ctx, p + off, len);
		EVP_DigestFinal_ex(ctx, sha, &n);
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
	assert_int_equal(EVP_Digest(bytes, sizeof(bytes), d, &n, EVP_sha256(), NULL), 1);
	sha_hex(d, out);
}

/* Plain SHA-256 of a whole RBD image (at snap when not NULL), read through librbd. */
static inline void image_sha(struct cluster *c, const char *pool, const char *image,
                             const char *snap, char out[65], uint64_t *ret_size)
{
	struct cairn_err err = {0};
	rados_ioctx_t io;
	rbd_image_t img;
	uint64_t size = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(4 * MiB);
	unsigned char d[32];
	unsigned int n = 32;

	assert_non_null(ctx);
	assert_non_null(buf);
	assert_int_equal(cluster_ioctx_by_name(c, pool, &io, &err), 0);
	assert_int_equal(rbd_open_read_only(io, image, &img, snap), 0);
	assert_int_equal(rbd_get_size(img, &size), 0);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	for (uint64_t off = 0; off < size; off += 4 * MiB) {
		uint64_t len = size - off < 4 * MiB ? size - off : 4 * MiB;
		assert_int_equal(rbd_read(img, off, len, (char *)buf), (ssize_t)len);
		EVP_DigestUpdate(ctx, buf, len);
	}
	EVP_DigestFinal_ex(ctx, d, &n);
	EVP_MD_CTX_free(ctx);
	free(buf);
	rbd_close(img);
	sha_hex(d, out);
	if (ret_size)
		*ret_size = size;
}

/* The SHA-256 of a volume by name. */
static inline void volume_sha(struct fixture *f, const char *name, char out[65], uint64_t *ret_size)
{
	struct cairn_err err = {0};
	struct json_object *o = NULL;

	if (vol_show(f->c, name, &o, &err) < 0)
		fail_msg("vol_show '%s': %s", name, err.msg);
	image_sha(f->c, json_get_string(o, "pool"), json_get_string(o, "rbd_image"), NULL, out,
	          ret_size);
	json_object_put(o);
}

/* ---- backups --------------------------------------------------------------------------------- */

struct tbackup {
	char id[40];
	char kind[16];
	char parent[40];
	char status[16];
	char path[256];
	char volume_sum[65];
	char why_full[256];
	uint64_t bytes;
	uint64_t size;
};

static inline void tbackup_from(struct json_object *o, struct tbackup *b)
{
	struct json_object *sums = NULL;
	const char *s;

	memset(b, 0, sizeof(*b));
	snprintf(b->id, sizeof(b->id), "%s", json_get_string(o, "id"));
	snprintf(b->kind, sizeof(b->kind), "%s", json_get_string(o, "kind"));
	snprintf(b->status, sizeof(b->status), "%s", json_get_string(o, "status"));
	if ((s = json_get_string(o, "parent")))
		snprintf(b->parent, sizeof(b->parent), "%s", s);
	if ((s = json_get_string(o, "path")))
		snprintf(b->path, sizeof(b->path), "%s", s);
	if ((s = json_get_string(o, "why_full")))
		snprintf(b->why_full, sizeof(b->why_full), "%s", s);
	assert_true(json_object_object_get_ex(o, "checksums", &sums));
	if ((s = json_get_string(sums, "volume")))
		snprintf(b->volume_sum, sizeof(b->volume_sum), "%s", s);
	b->bytes = (uint64_t)json_get_int(o, "bytes", -1);
	b->size = (uint64_t)json_get_int(o, "size", -1);
}

static inline int tbackup_create(struct fixture *f, const char *volume, bool incremental,
                                 enum backup_target target, struct tbackup *ret,
                                 struct cairn_err *err)
{
	struct backup_create_params p = {
	        .volume = volume,
	        .incremental = incremental,
	        .has_target = true,
	        .target = target,
	        .label = "test",
	};
	struct json_object *o = NULL;
	int r = backup_create(f->c, &p, NULL, &o, err);

	if (r >= 0) {
		tbackup_from(o, ret);
		json_object_put(o);
	}
	return r;
}

static inline void tbackup_must(struct fixture *f, const char *volume, bool incremental,
                                enum backup_target target, struct tbackup *ret)
{
	struct cairn_err err = {0};

	if (tbackup_create(f, volume, incremental, target, ret, &err) < 0)
		fail_msg("backup_create of '%s': %s", volume, err.msg);
	assert_string_equal(ret->status, "available");
}

struct tprogress {
	struct cairn_progress p;
	uint64_t done, total;
};

static inline void tprogress_report(struct cairn_progress *p, uint64_t done, uint64_t total)
{
	struct tprogress *t = container_of(p, struct tprogress, p);

	t->done = done;
	t->total = total;
}

/*
 * Restore id into a new volume with check; its plain SHA-256 and size must be want_sha and
 * want_size, and the progress must end at its total. Returns that total: what the restore
 * read and wrote.
 */
static inline uint64_t restore_checked(struct fixture *f, const char *id,
                                       enum backup_restore_check check, const char *want_sha,
                                       uint64_t want_size, const char *vol_base)
{
	struct backup_restore_params p = {0};
	struct tprogress tp = {.p = {.report = tprogress_report}};
	struct cairn_err err = {0};
	struct json_object *o = NULL;
	char name[64], got[65];
	uint64_t size = 0;

	itest_unique_name(name, sizeof(name), vol_base);
	p.volume = name;
	p.check = check;
	if (backup_restore(f->c, id, &p, &tp.p, &o, &err) < 0)
		fail_msg("restore (%s) of backup '%s': %s", backup_restore_check_to_string(check),
		         id, err.msg);
	assert_string_equal(json_get_string(o, "name"), name);
	json_object_put(o);
	volume_sha(f, name, got, &size);
	assert_int_equal(size, want_size);
	assert_string_equal(got, want_sha);
	assert_int_equal(tp.done, tp.total);
	assert_int_equal(vol_delete(f->c, name, true, NULL, &err), 0);
	return tp.total;
}

/* Restore into a new volume, checked as it is written; its SHA-256 must be want_sha. */
static inline void restore_check(struct fixture *f, const char *id, const char *want_sha,
                                 uint64_t want_size, const char *vol_base)
{
	restore_checked(f, id, BACKUP_RESTORE_CHECK_WRITTEN, want_sha, want_size, vol_base);
}

/* Files in dir whose names contain needle. */
static inline int count_files(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && strstr(e->d_name, needle))
			n++;
	closedir(d);
	return n;
}

/* The rbd snapshots of an image whose names start with prefix. */
static inline int count_snaps(struct cluster *c, const char *pool, const char *image,
                              const char *prefix)
{
	struct cairn_err err = {0};
	rados_ioctx_t io;
	rbd_image_t img;
	rbd_snap_info_t snaps[64];
	int max = 64, n, k = 0;

	assert_int_equal(cluster_ioctx_by_name(c, pool, &io, &err), 0);
	if (rbd_open_read_only(io, image, &img, NULL) == -ENOENT)
		return -ENOENT;
	n = rbd_snap_list(img, snaps, &max);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		if (strncmp(snaps[i].name, prefix, strlen(prefix)) == 0)
			k++;
	rbd_snap_list_end(snaps);
	rbd_close(img);
	return k;
}

#endif
