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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_status_and_kind_names),
	        cmocka_unit_test(test_record_round_trip),
	        cmocka_unit_test(test_record_parse_rejects),
	        cmocka_unit_test(test_volume_api_json),
	        cmocka_unit_test(test_image_api_json),
	        cmocka_unit_test(test_rbd_names),
	        cmocka_unit_test(test_labels_and_qos),
	        cmocka_unit_test(test_time_parse),
	        cmocka_unit_test(test_progress_parser),
	        cmocka_unit_test(test_qemu_info),
	        cmocka_unit_test(test_rbd_target),
	        cmocka_unit_test(test_import_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
