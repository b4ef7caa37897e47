/* SPDX-License-Identifier: MIT */
/* volumes/ without a cluster: records, JSON, validation, qemu-img output, import paths. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/sha256.h"
#include "volumes/vol-internal.h"

static void test_status_and_kind_names(void **state)
{
	for (int i = 0; i < VOL_STATUS_MAX; i++)
		assert_int_equal(vol_status_from_string(vol_status_to_string(i)), i);
	for (int i = 0; i < VOL_PARENT_MAX; i++)
		assert_int_equal(vol_parent_kind_from_string(vol_parent_kind_to_string(i)), i);
	assert_int_equal(vol_status_from_string("gone"), -EINVAL);
	assert_int_equal(vol_status_from_string(NULL), -EINVAL);
	assert_null(vol_status_to_string(VOL_STATUS_MAX));
	assert_string_equal(vol_status_to_string(VOL_STATUS_HIDDEN), "hidden");
}

static void fill(struct vol_record *r)
{
	vol_record_init(r, false);
	str_copy(r->id, sizeof(r->id), "0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11");
	str_copy(r->name, sizeof(r->name), "web1");
	str_copy(r->pool, sizeof(r->pool), "volumes");
	vol_rbd_name(false, r->id, r->rbd_image);
	r->size = 10ULL << 30;
	r->status = VOL_STATUS_AVAILABLE;
	r->parent.kind = VOL_PARENT_VOLUME;
	str_copy(r->parent.name, sizeof(r->parent.name), "base");
	str_copy(r->parent.id, sizeof(r->parent.id), "11111111-2222-4333-8444-555555555555");
	str_copy(r->parent.pool, sizeof(r->parent.pool), "volumes");
	str_copy(r->parent.rbd_image, sizeof(r->parent.rbd_image),
	         "volume-11111111-2222-4333-8444-555555555555");
	str_copy(r->parent.rbd_snap, sizeof(r->parent.rbd_snap), "cairn-clone-x");
	r->labels = json_tokener_parse("{\"env\": \"prod\"}");
	r->qos = json_tokener_parse("{\"iops\": 500}");
	str_copy(r->created, sizeof(r->created), "2026-11-26T12:00:00Z");
	str_copy(r->updated, sizeof(r->updated), "2026-11-26T12:00:01Z");
	str_copy(r->op, sizeof(r->op), "op-1");
}

static void test_record_round_trip(void **state)
{
	struct vol_record a, b;
	struct cairn_err err = {0};
	char *text, *text2;

	fill(&a);
	a.flattened = true;
	text = vol_record_format(&a);
	assert_non_null(text);
	assert_int_equal(vol_record_parse(text, false, &b, &err), 0);
	assert_string_equal(b.id, a.id);
	assert_string_equal(b.name, "web1");
	assert_string_equal(b.rbd_image, "volume-0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11");
	assert_int_equal(b.size, 10ULL << 30);
	assert_int_equal(b.status, VOL_STATUS_AVAILABLE);
	assert_int_equal(b.parent.kind, VOL_PARENT_VOLUME);
	assert_string_equal(b.parent.rbd_snap, "cairn-clone-x");
	assert_string_equal(b.parent.id, a.parent.id);
	assert_true(b.flattened);
	assert_false(b.managed);
	assert_string_equal(json_get_string(b.labels, "env"), "prod");
	assert_int_equal(json_get_int(b.qos, "iops", 0), 500);
	/* the same record formats to the same text */
	text2 = vol_record_format(&b);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	vol_record_release(&a);
	vol_record_release(&b);
}

static void test_record_parse_rejects(void **state)
{
	struct vol_record r;
	struct cairn_err err = {0};

	assert_int_equal(vol_record_parse("[1]", false, &r, &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(vol_record_parse("{\"id\": \"x\", \"name\": \"a\", \"pool\": \"p\", "
	                                  "\"rbd_image\": \"i\", \"status\": \"weird\"}",
	                                  false, &r, &err),
	                 -EINVAL);
	assert_non_null(strstr(err.msg, "status"));
	err_clear(&err);
	assert_int_equal(vol_record_parse("{\"name\": \"a\"}", true, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'id'"));
}

static void test_volume_api_json(void **state)
{
	struct vol_record a;
	struct json_object *o, *p, *v;

	fill(&a);
	o = vol_record_to_json(&a);
	assert_non_null(o);
	/* exactly the documented fields (docs/api.md), nothing internal */
	const char *fields[] = {"id",     "name",   "pool", "rbd_image", "size",   "status",
	                        "parent", "labels", "qos",  "created",   "updated"};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		assert_true(json_object_object_get_ex(o, fields[i], NULL));
	assert_int_equal(json_object_object_length(o), ARRAY_SIZE(fields));
	assert_true(json_object_object_get_ex(o, "parent", &p));
	assert_string_equal(json_get_string(p, "kind"), "volume");
	assert_string_equal(json_get_string(p, "name"), "base");
	assert_true(json_object_object_get_ex(p, "snapshot", &v));
	assert_null(v);
	assert_int_equal(json_object_object_length(p), 3);
	assert_int_equal(json_get_int(o, "size", 0), 10LL << 30);
	json_object_put(o);

	a.parent.kind = VOL_PARENT_NONE;
	o = vol_record_to_json(&a);
	assert_true(json_object_object_get_ex(o, "parent", &p));
	assert_null(p);
	json_object_put(o);
	vol_record_release(&a);
}

static void test_image_api_json(void **state)
{
	struct vol_record a;
	struct json_object *o, *v;

	fill(&a);
	a.is_image = true;
	a.parent.kind = VOL_PARENT_NONE;
	str_copy(a.format, sizeof(a.format), "qcow2");
	o = img_record_to_json(&a, 3);
	const char *fields[] = {"id",       "name",   "pool",   "rbd_image", "size",   "format",
	                        "checksum", "status", "clones", "created",   "updated"};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		assert_true(json_object_object_get_ex(o, fields[i], NULL));
	assert_int_equal(json_object_object_length(o), ARRAY_SIZE(fields));
	assert_int_equal(json_get_int(o, "clones", -1), 3);
	assert_string_equal(json_get_string(o, "format"), "qcow2");
	json_object_put(o);
	o = img_record_to_json(&a, -1);
	assert_true(json_object_object_get_ex(o, "clones", &v));
	assert_null(v);
	json_object_put(o);
	vol_record_release(&a);
}

static void test_image_checksum_record(void **state)
{
	const char *sum = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	struct cairn_err err = {0};
	struct vol_record a, b;
	struct json_object *o;
	char *text;

	fill(&a);
	a.is_image = true;
	a.parent.kind = VOL_PARENT_NONE;
	/* an image recorded before cairn kept checksums: loads, and shows null */
	text = vol_record_format(&a);
	assert_non_null(text);
	assert_null(strstr(text, "checksum"));
	assert_int_equal(vol_record_parse(text, true, &b, &err), 0);
	assert_string_equal(b.checksum, "");
	o = img_record_to_json(&b, 0);
	assert_true(json_object_object_get_ex(o, "checksum", NULL));
	assert_null(json_get_string(o, "checksum"));
	json_object_put(o);
	vol_record_release(&b);
	free(text);

	/* a new one keeps it through the store and shows it */
	str_copy(a.checksum, sizeof(a.checksum), sum);
	text = vol_record_format(&a);
	assert_non_null(text);
	assert_int_equal(vol_record_parse(text, true, &b, &err), 0);
	assert_string_equal(b.checksum, sum);
	o = img_record_to_json(&b, 0);
	assert_string_equal(json_get_string(o, "checksum"), sum);
	json_object_put(o);
	vol_record_release(&b);
	free(text);
	vol_record_release(&a);
}

/* The import's hash of its source: the whole file, read without moving its offset. */
static void test_import_file_hash(void **state)
{
	char path[] = "/tmp/cairn-unit-hash-XXXXXX", want[SHA256_HEX], got[SHA256_HEX];
	const size_t len = 3 * 1024 * 1024 + 5; /* more than one read */
	uint8_t d[SHA256_LEN];
	atomic_bool stop;
	char *data = malloc(len);
	int fd = mkstemp(path);

	assert_non_null(data);
	assert_true(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 7 + i / 4096);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(sha256_buf(data, len, d), 0);
	sha256_hex(d, want);

	atomic_init(&stop, false);
	memset(d, 0, sizeof(d));
	assert_int_equal(sha256_fd_stoppable(fd, &stop, d), 0);
	sha256_hex(d, got);
	assert_string_equal(got, want);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0); /* qemu-img's reads are not disturbed */
	assert_int_equal(sha256_fd(fd, d), 0);
	sha256_hex(d, got);
	assert_string_equal(got, want);

	/* a stopped hash ends with -ECANCELED, not with a digest of part of the file */
	atomic_store(&stop, true);
	assert_int_equal(sha256_fd_stoppable(fd, &stop, d), -ECANCELED);
	close(fd);
	free(data);
}

static void test_rbd_names(void **state)
{
	char buf[VOL_RBD_NAME_MAX];

	vol_rbd_name(true, "0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11", buf);
	assert_string_equal(buf, "image-0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11");
	assert_true(vol_rbd_name_is_cairns(buf));
	assert_true(vol_rbd_name_is_cairns("volume-0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11"));
	assert_false(vol_rbd_name_is_cairns("volume-0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c1"));
	assert_false(vol_rbd_name_is_cairns("mydisk"));
	assert_false(vol_rbd_name_is_cairns("backup-0b3c2c4e-5f0a-4a4e-9d55-2f1d8a8e7c11"));
	assert_false(vol_rbd_name_is_cairns("volume-0B3C2C4E-5F0A-4A4E-9D55-2F1D8A8E7C11"));
}

static void test_labels_and_qos(void **state)
{
	struct cairn_err err = {0};
	struct json_object *o;

	o = json_tokener_parse("{\"env\": \"prod\", \"team\": \"a b\"}");
	assert_int_equal(vol_labels_validate(o, &err), 0);
	json_object_put(o);
	o = json_tokener_parse("{\"env\": 3}");
	assert_int_equal(vol_labels_validate(o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'env'"));
	json_object_put(o);
	err_clear(&err);
	o = json_tokener_parse("{\"-bad\": \"x\"}");
	assert_int_equal(vol_labels_validate(o, &err), -EINVAL);
	json_object_put(o);
	err_clear(&err);

	o = json_tokener_parse("{\"iops\": 100, \"write_bps\": 0}");
	assert_int_equal(vol_qos_validate(o, &err), 0);
	json_object_put(o);
	o = json_tokener_parse("{\"iopz\": 100}");
	assert_int_equal(vol_qos_validate(o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'iopz'"));
	json_object_put(o);
	err_clear(&err);
	o = json_tokener_parse("{\"iops\": -1}");
	assert_int_equal(vol_qos_validate(o, &err), -EINVAL);
	json_object_put(o);
}

static void test_time_parse(void **state)
{
	char now[VOL_TIME_MAX];

	assert_int_equal(vol_time_parse("1970-01-01T00:01:00Z"), 60);
	assert_int_equal(vol_time_parse("2026-11-26T12:00:00Z"), 1795694400);
	assert_int_equal(vol_time_parse("1234"), 1234);
	assert_int_equal(vol_time_parse("yesterday"), -1);
	assert_int_equal(vol_time_parse(NULL), -1);
	vol_time_now(now);
	assert_true(vol_time_parse(now) > 1700000000);
}

static void test_progress_parser(void **state)
{
	struct qemu_progress p = {0};
	const char *chunk1 = "    (0.00/100%)\r    (12.5";
	const char *chunk2 = "0/100%)\r    (100.00/100%)\r\n";

	assert_int_equal(qemu_progress_feed(&p, chunk1, strlen(chunk1)), 0);
	/* the line split across two reads is put together */
	assert_int_equal(qemu_progress_feed(&p, chunk2, strlen(chunk2)), 10000);
	memset(&p, 0, sizeof(p));
	assert_int_equal(qemu_progress_feed(&p, "    (42.00/100%)\r", 17), 4200);
	assert_int_equal(qemu_progress_feed(&p, "garbage\r(150/100%)\r", 19), -1);
	/* an overlong line does not overflow */
	char big[300];
	memset(big, 'x', sizeof(big));
	assert_int_equal(qemu_progress_feed(&p, big, sizeof(big)), -1);
	assert_int_equal(qemu_progress_feed(&p, "\r", 1), -1);
}

static void test_qemu_info(void **state)
{
	struct cairn_err err = {0};
	struct qemu_info info;

	assert_int_equal(
	        qemu_info_parse("{\"virtual-size\": 67108864, \"format\": \"qcow2\"}", &info, &err),
	        0);
	assert_string_equal(info.format, "qcow2");
	assert_int_equal(info.virtual_size, 67108864);
	assert_false(info.has_backing);
	assert_int_equal(qemu_info_parse("{\"virtual-size\": 1, \"format\": \"qcow2\", "
	                                 "\"backing-filename\": \"/etc/shadow\"}",
	                                 &info, &err),
	                 0);
	assert_true(info.has_backing);
	assert_int_equal(
	        qemu_info_parse("{\"virtual-size\": 1048576, \"format\": \"vmdk\", "
	                        "\"format-specific\": {\"type\": \"vmdk\", \"data\": {\"extents\": "
	                        "[{\"filename\": \"y-s001.vmdk\"}]}}}",
	                        &info, &err),
	        0);
	assert_true(info.has_data_file);
	assert_int_equal(
	        qemu_info_parse("{\"virtual-size\": 1048576, \"format\": \"vmdk\", "
	                        "\"format-specific\": {\"type\": \"vmdk\", \"data\": {\"extents\": "
	                        "[{\"filename\": \"/dev/fd/3\"}]}}}",
	                        &info, &err),
	        0);
	assert_false(info.has_data_file);
	assert_int_equal(qemu_info_parse("{\"format\": \"raw\"}", &info, &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(qemu_info_parse("not json", &info, &err), -EINVAL);
}

static void test_rbd_target(void **state)
{
	struct cairn_config conf;
	char *t;

	assert_int_equal(conf_init_defaults(&conf), 0);
	free(conf.ceph.conf);
	conf.ceph.conf = strdup("/etc/ceph/odd:name.conf");
	t = qemu_rbd_target(&conf, "images", "image-1");
	assert_string_equal(t, "rbd:images/image-1:id=cairn:conf=/etc/ceph/odd\\:name.conf");
	free(t);
	free(conf.ceph.keyring);
	conf.ceph.keyring = strdup("/etc/ceph/ceph.client.cairn.keyring");
	t = qemu_rbd_target(&conf, "images", "image-1");
	assert_non_null(strstr(t, ":keyring=/etc/ceph/ceph.client.cairn.keyring"));
	free(t);
	conf_release(&conf);
}

static void test_import_paths(void **state)
{
	char dir[] = "/tmp/cairn-import-XXXXXX", outside[] = "/tmp/cairn-outside-XXXXXX";
	char path[PATH_MAX], *resolved = NULL;
	struct cairn_err err = {0};
	int fd;

	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(outside));
	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	snprintf(path, sizeof(path), "%s/secret", outside);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);

	/* relative and absolute paths to a regular file under the directory */
	fd = vol_import_open(dir, "disk.raw", &resolved, &err);
	assert_true(fd >= 0);
	assert_non_null(strstr(resolved, "/disk.raw"));
	free(resolved);
	close(fd);
	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	fd = vol_import_open(dir, path, NULL, &err);
	assert_true(fd >= 0);
	close(fd);

	/* outside, through "..", through a symlink, a directory, a fifo: all refused */
	snprintf(path, sizeof(path), "%s/secret", outside);
	assert_int_equal(vol_import_open(dir, path, NULL, &err), -EACCES);
	assert_non_null(strstr(err.msg, path));
	err_clear(&err);
	assert_int_equal(vol_import_open(dir, "../x", NULL, &err), -EACCES);
	assert_non_null(strstr(err.msg, "'../x'"));
	err_clear(&err);
	char link[PATH_MAX];
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(vol_import_open(dir, "link", NULL, &err), -EACCES);
	err_clear(&err);
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(vol_import_open(dir, "sub", NULL, &err), -EACCES);
	assert_non_null(strstr(err.msg, "not a regular file"));
	err_clear(&err);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(vol_import_open(dir, "fifo", NULL, &err), -EACCES);
	err_clear(&err);
	assert_int_equal(vol_import_open(dir, "/dev/zero", NULL, &err), -EACCES);
	err_clear(&err);
	assert_int_equal(vol_import_open(dir, "missing", NULL, &err), -ENOENT);

	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	unlink(link);
	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/secret", outside);
	unlink(path);
	rmdir(dir);
	rmdir(outside);
}

/* ---- the list, spliced: the same bytes as the json-c path -------------------------------- */

/* The reference: what vol_list's objects serialize to, built with json-c alone. */
static char *reference_list(const char *const *records, size_t n, const struct vol_filter *f,
                            const char *pool)
{
	struct json_object *arr = json_object_new_array(), *reply = json_object_new_object();
	char *text;

	for (size_t i = 0; i < n; i++) {
		struct cairn_err err = {0};
		struct vol_record r;
		struct json_object *o;

		if (vol_record_parse(records[i], false, &r, &err) < 0)
			continue;
		bool keep = !(r.status == VOL_STATUS_HIDDEN && !(f && f->include_hidden)) &&
		            !(pool && strcmp(r.pool, pool) != 0);
		if (keep && f && f->label) {
			const char *eq = strchr(f->label, '=');
			char key[64] = "";
			struct json_object *v = NULL;

			if (eq)
				snprintf(key, sizeof(key), "%.*s", (int)(eq - f->label), f->label);
			keep = eq ? json_object_object_get_ex(r.labels, key, &v) &&
			                       json_object_is_type(v, json_type_string) &&
			                       strcmp(json_object_get_string(v), eq + 1) == 0
			          : json_object_object_get_ex(r.labels, f->label, NULL);
		}
		if (keep && f && f->parent) {
			char full[160];

			snprintf(full, sizeof(full), "%s@%s", r.parent.name, r.parent.snapshot);
			keep = r.parent.kind != VOL_PARENT_NONE &&
			       (strcmp(r.parent.name, f->parent) == 0 ||
			        (r.parent.snapshot[0] && strcmp(full, f->parent) == 0));
		}
		if (keep) {
			o = vol_record_to_json(&r);
			assert_non_null(o);
			json_object_array_add(arr, o);
		}
		vol_record_release(&r);
	}
	/* name order: a simple insertion sort by strcmp, independent of the code under test */
	for (size_t i = 1; i < json_object_array_length(arr); i++)
		for (size_t j = i; j > 0; j--) {
			struct json_object *a = json_object_array_get_idx(arr, j - 1);
			struct json_object *b = json_object_array_get_idx(arr, j);
			if (strcmp(json_get_string(a, "name"), json_get_string(b, "name")) <= 0)
				break;
			json_object_get(a);
			json_object_get(b);
			json_object_array_put_idx(arr, j - 1, b);
			json_object_array_put_idx(arr, j, a);
		}
	json_object_object_add(reply, "volumes", arr);
	text = strdup(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
	json_object_put(reply);
	return text;
}

static char *spliced_list(const char *const *records, size_t n, const struct vol_filter *f,
                          const char *pool, struct vol_list_builder *stats)
{
	struct vol_list_builder b;
	char *text = NULL;
	size_t len = 0;

	vol_list_builder_init(&b, f, pool);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(vol_list_builder_add(&b, "id", records[i]), 0);
	assert_int_equal(vol_list_builder_finish(&b, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	if (stats)
		*stats = (struct vol_list_builder){
		        .spliced = b.spliced, .parsed = b.parsed, .skipped = b.skipped};
	vol_list_builder_release(&b);
	{
		char *copy = strdup(text); /* the tests free with free() */
		vol_text_free(text, len);
		return copy;
	}
}

/* Records as cairn writes them, of every shape a volume takes. */
static char **stored_records(size_t *ret_n)
{
	static const char *const names[] = {"web1", "db-2", "a", "Z.9", "hidden-x", "mid_1"};
	char **out = calloc(32, sizeof(char *));
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct vol_record r;

		fill(&r);
		str_copy(r.name, sizeof(r.name), names[i]);
		r.id[0] = (char)('a' + i);
		switch (i) {
		case 0: /* labels that json-c escapes, and UTF-8 */
			json_object_put(r.labels);
			r.labels = json_tokener_parse("{\"env\": \"prod\", \"path\": "
			                              "\"/srv/a\\\"b\\\\c\", \"who\": \"Zoë\"}");
			break;
		case 1:
			r.parent.kind = VOL_PARENT_SNAPSHOT;
			str_copy(r.parent.snapshot, sizeof(r.parent.snapshot), "s1");
			str_copy(r.pool, sizeof(r.pool), "vms");
			r.managed = true;
			break;
		case 2:
			r.parent.kind = VOL_PARENT_NONE;
			r.flattened = true;
			json_object_put(r.qos);
			r.qos = json_object_new_object();
			break;
		case 3: /* an error with a slash: escaped, so left to json-c */
			r.status = VOL_STATUS_ERROR;
			str_copy(r.error, sizeof(r.error), "image 'volumes/x' vanished");
			break;
		case 4:
			r.status = VOL_STATUS_HIDDEN;
			str_copy(r.former_name, sizeof(r.former_name), "old");
			break;
		case 5:
			r.parent.kind = VOL_PARENT_IMAGE;
			str_copy(r.parent.name, sizeof(r.parent.name), "debian");
			r.size = 0;
			r.op[0] = '\0';
			break;
		}
		out[n++] = vol_record_format(&r);
		vol_record_release(&r);
	}
	*ret_n = n;
	return out;
}

static void free_records(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void test_list_splice_same_bytes(void **state)
{
	size_t n;
	char **rec = stored_records(&n);
	const struct vol_filter filters[] = {
	        {0},
	        {.include_hidden = true},
	        {.label = "env=prod"},
	        {.label = "path"},
	        {.label = "env=dev"},
	        {.parent = "base"},
	        {.parent = "base@s1"},
	        {.parent = "debian"},
	        {.parent = "none"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(filters); i++) {
		struct vol_list_builder st;
		char *want = reference_list((const char *const *)rec, n, &filters[i], NULL);
		char *got = spliced_list((const char *const *)rec, n, &filters[i], NULL, &st);

		assert_string_equal(got, want);
		/* all but the record with the escaped error went without json-c */
		assert_int_equal(st.spliced, n - 1);
		assert_int_equal(st.parsed, 1);
		free(want);
		free(got);
	}
	{
		char *want = reference_list((const char *const *)rec, n, NULL, "vms");
		char *got = spliced_list((const char *const *)rec, n, NULL, "vms", NULL);

		assert_string_equal(got, want);
		assert_non_null(strstr(got, "\"db-2\""));
		assert_null(strstr(got, "\"web1\""));
		free(want);
		free(got);
	}
	free_records(rec, n);
}

static void test_list_splice_odd_records(void **state)
{
	/* shapes the splicer leaves to json-c (or that json-c refuses): same bytes either way */
	static const char *const odd[] = {
	        /* whitespace */
	        "{\"id\": \"1\", \"name\": \"w\", \"pool\": \"p\", \"rbd_image\": \"i\", "
	        "\"status\": \"available\"}",
	        /* members missing or of other types, other order */
	        "{\"status\":\"available\",\"rbd_image\":\"i\",\"pool\":\"p\",\"name\":\"m\","
	        "\"id\":\"2\",\"labels\":null,\"qos\":[],\"created\":5,\"parent\":{\"kind\":"
	        "\"none\"}}",
	        /* size as a string, a double, too big */
	        "{\"id\":\"3\",\"name\":\"s1\",\"pool\":\"p\",\"rbd_image\":\"i\",\"size\":\"12\","
	        "\"status\":\"available\"}",
	        "{\"id\":\"4\",\"name\":\"s2\",\"pool\":\"p\",\"rbd_image\":\"i\",\"size\":1.5,"
	        "\"status\":\"available\"}",
	        "{\"id\":\"5\",\"name\":\"s3\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"size\":99999999999999999999,\"status\":\"available\"}",
	        /* an escape in a name, a \\u escape in a label */
	        "{\"id\":\"6\",\"name\":\"e\\u0041\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"status\":\"available\"}",
	        "{\"id\":\"7\",\"name\":\"u\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"status\":\"available\",\"labels\":{\"k\":\"\\u00e9\"}}",
	        /* a duplicate member, trailing text, a bad status, a missing id */
	        "{\"id\":\"8\",\"name\":\"d\",\"name\":\"d2\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"status\":\"available\"}",
	        "{\"id\":\"9\",\"name\":\"t\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"status\":\"available\"} ",
	        "{\"id\":\"10\",\"name\":\"b\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"status\":\"gone\"}",
	        "{\"name\":\"n\",\"pool\":\"p\",\"rbd_image\":\"i\",\"status\":\"available\"}",
	        /* a field too long for its struct member: refused by both */
	        "{\"id\":\"11\",\"name\":\"l\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"status\":\"available\",\"format\":\"0123456789abcdefg\"}",
	        /* booleans of other types, a bad parent kind, not JSON */
	        "{\"id\":\"12\",\"name\":\"f\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"status\":\"available\",\"flattened\":1,\"managed\":false}",
	        "{\"id\":\"13\",\"name\":\"k\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"status\":\"available\",\"parent\":{\"kind\":\"cousin\"}}",
	        "{\"id\":",
	        "",
	        /* spliced: the smallest record cairn could have written */
	        "{\"id\":\"14\",\"name\":\"min\",\"pool\":\"p\",\"rbd_image\":\"i\","
	        "\"status\":\"creating\"}",
	};
	struct vol_list_builder st;
	char *want = reference_list(odd, ARRAY_SIZE(odd),
	                            &(struct vol_filter){.include_hidden = true}, NULL);
	char *got = spliced_list(odd, ARRAY_SIZE(odd), &(struct vol_filter){.include_hidden = true},
	                         NULL, &st);

	assert_string_equal(got, want);
	assert_int_equal(st.spliced, 2); /* the minimal one and the one of other types */
	assert_int_equal(st.spliced + st.parsed + st.skipped, ARRAY_SIZE(odd));
	free(want);
	free(got);
}

static void test_list_splice_many(void **state)
{
	/* a few hundred records in random order come out sorted, the same as json-c sorts */
	enum { N = 300 };
	char *rec[N];
	unsigned seed = 12345;

	for (size_t i = 0; i < N; i++) {
		struct vol_record r;

		fill(&r);
		seed = seed * 1103515245u + 12345u;
		snprintf(r.name, sizeof(r.name), "v%u-%zu", (seed >> 8) % 1000, i);
		r.size = (uint64_t)seed << 9;
		rec[i] = vol_record_format(&r);
		vol_record_release(&r);
	}
	char *want = reference_list((const char *const *)rec, N, NULL, NULL);
	char *got = spliced_list((const char *const *)rec, N, NULL, NULL, NULL);
	assert_string_equal(got, want);
	free(want);
	free(got);
	for (size_t i = 0; i < N; i++)
		free(rec[i]);
}

/* ---- GET replies kept a moment -------------------------------------------------------------- */

static void test_show_cache(void **state)
{
	struct vol_show_cache *sc = vol_show_cache_new(3);
	const uint64_t s = 1000000000ULL;
	uint64_t gen, read_ns = 0;
	size_t len = 0;
	const char *t;

	assert_non_null(sc);
	gen = vol_show_cache_generation(sc);
	assert_null(vol_show_cache_get(sc, "a", 10 * s, 2 * s, &len, &read_ns));
	assert_int_equal(vol_show_cache_put(sc, "a", gen, 10 * s, "{\"x\":1}", 7), 0);
	t = vol_show_cache_get(sc, "a", 11 * s, 2 * s, &len, &read_ns);
	assert_non_null(t);
	assert_int_equal(len, 7);
	assert_memory_equal(t, "{\"x\":1}", 7);
	assert_int_equal(read_ns, 10 * s);
	/* too old: gone */
	assert_null(vol_show_cache_get(sc, "a", 13 * s, 2 * s, &len, &read_ns));
	assert_int_equal(vol_show_cache_count(sc), 0);

	/* a change (here or anywhere) makes every kept reply unusable ... */
	assert_int_equal(vol_show_cache_put(sc, "a", gen, 20 * s, "{}", 2), 0);
	vol_show_cache_invalidate(sc);
	assert_null(vol_show_cache_get(sc, "a", 20 * s, 2 * s, &len, &read_ns));
	/* ... and a reply whose read began before it is not kept */
	assert_int_equal(vol_show_cache_put(sc, "a", gen, 20 * s, "{}", 2), 1);
	assert_null(vol_show_cache_get(sc, "a", 20 * s, 2 * s, &len, &read_ns));
	gen = vol_show_cache_generation(sc);

	/* one refresh at a time, ended by put or drop */
	assert_false(vol_show_cache_claim(sc, "b"));
	assert_int_equal(vol_show_cache_put(sc, "b", gen, 30 * s, "{\"b\":1}", 7), 0);
	assert_true(vol_show_cache_claim(sc, "b"));
	assert_false(vol_show_cache_claim(sc, "b"));
	assert_non_null(vol_show_cache_get(sc, "b", 30 * s, 2 * s, &len, &read_ns));
	assert_int_equal(vol_show_cache_put(sc, "b", gen, 31 * s, "{\"b\":22}", 8), 0);
	t = vol_show_cache_get(sc, "b", 31 * s, 2 * s, &len, &read_ns);
	assert_int_equal(len, 8);
	assert_string_equal(t, "{\"b\":22}");
	assert_true(vol_show_cache_claim(sc, "b"));
	vol_show_cache_drop(sc, "b");
	assert_null(vol_show_cache_get(sc, "b", 31 * s, 2 * s, &len, &read_ns));

	/* bounded: the oldest goes */
	assert_int_equal(vol_show_cache_put(sc, "c1", gen, 40 * s, "1", 1), 0);
	assert_int_equal(vol_show_cache_put(sc, "c2", gen, 41 * s, "2", 1), 0);
	assert_int_equal(vol_show_cache_put(sc, "c3", gen, 42 * s, "3", 1), 0);
	assert_int_equal(vol_show_cache_put(sc, "c4", gen, 43 * s, "4", 1), 0);
	assert_int_equal(vol_show_cache_count(sc), 3);
	assert_null(vol_show_cache_get(sc, "c1", 43 * s, 10 * s, &len, &read_ns));
	assert_non_null(vol_show_cache_get(sc, "c4", 43 * s, 10 * s, &len, &read_ns));
	assert_null(vol_show_cache_free(sc));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_status_and_kind_names),
	        cmocka_unit_test(test_record_round_trip),
	        cmocka_unit_test(test_record_parse_rejects),
	        cmocka_unit_test(test_volume_api_json),
	        cmocka_unit_test(test_image_api_json),
	        cmocka_unit_test(test_image_checksum_record),
	        cmocka_unit_test(test_import_file_hash),
	        cmocka_unit_test(test_rbd_names),
	        cmocka_unit_test(test_labels_and_qos),
	        cmocka_unit_test(test_time_parse),
	        cmocka_unit_test(test_progress_parser),
	        cmocka_unit_test(test_qemu_info),
	        cmocka_unit_test(test_rbd_target),
	        cmocka_unit_test(test_import_paths),
	        cmocka_unit_test(test_list_splice_same_bytes),
	        cmocka_unit_test(test_list_splice_odd_records),
	        cmocka_unit_test(test_list_splice_many),
	        cmocka_unit_test(test_show_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
