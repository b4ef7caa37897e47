/* SPDX-License-Identifier: MIT */
/*
 * backup: files of the file target — durable writes, and the manifest of a volume's chain.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backup/backup-internal.h"
#include "common/json.h"

#define MANIFEST_MAX (64 * 1024 * 1024)

char *bk_file_name(const char *volume_id, const char *backup_id)
{
	return str_printf("%s.%s.diff", volume_id, backup_id);
}

char *bk_manifest_path(const char *directory, const char *volume_id)
{
	return str_printf("%s/%s.manifest.json", directory, volume_id);
}

int bk_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_(freep) char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int bk_fsync_dir_of(const char *path)
{
	_cleanup_(freep) char *copy = strdup(path);
	_cleanup_(closep) int fd = -1;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

int bk_write_file_atomic(const char *path, const void *data, size_t len, struct cairn_err *err)
{
	_cleanup_(freep) char *tmp = str_printf("%s.tmp", path);
	_cleanup_(closep) int fd = -1;
	const uint8_t *p = data;
	int r;

	if (!tmp)
		return err_set(err, -ENOMEM, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return err_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			unlink(tmp);
			return err_set(err, r, "cannot write '%s': %s", tmp, strerror(-r));
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 || close(TAKE_FD(fd)) < 0) {
		r = -errno;
		unlink(tmp);
		return err_set(err, r, "cannot write '%s': %s", tmp, strerror(-r));
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return err_set(err, r, "cannot rename '%s' to '%s': %s", tmp, path, strerror(-r));
	}
	r = bk_fsync_dir_of(path);
	if (r < 0)
		return err_set(err, r, "cannot sync the directory of '%s': %s", path, strerror(-r));
	return 0;
}

int manifest_load(const char *directory, const char *volume_id, const char *volume,
                  struct json_object **ret, struct cairn_err *err)
{
	_cleanup_(freep) char *path = bk_manifest_path(directory, volume_id);
	_cleanup_(freep) char *text = NULL;
	_cleanup_(json_putp) struct json_object *m = NULL;
	_cleanup_(closep) int fd = -1;
	struct json_object *arr = NULL;
	struct stat st;
	size_t got = 0;

	if (!path)
		return err_set(err, -ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		m = json_object_new_object();
		if (!m || json_add_string(m, "volume_id", volume_id) < 0 ||
		    json_add_string(m, "volume", volume ? volume : "") < 0 ||
		    json_add(m, "backups", json_object_new_array()) < 0)
			return err_set(err, -ENOMEM, "out of memory");
		*ret = TAKE_PTR(m);
		return 0;
	}
	if (fd < 0)
		return err_set(err, -errno, "cannot open manifest '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return err_set(err, -errno, "cannot stat manifest '%s': %s", path, strerror(errno));
	if (st.st_size > MANIFEST_MAX)
		return err_set(err, -EFBIG, "manifest '%s' is too large", path);
	text = malloc((size_t)st.st_size + 1);
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, -errno, "cannot read manifest '%s': %s", path,
			               strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	text[got] = '\0';
	m = json_tokener_parse(text);
	if (!m || !json_object_is_type(m, json_type_object) ||
	    !json_object_object_get_ex(m, "backups", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return err_set(err, -EILSEQ, "manifest '%s' is corrupt (not the JSON cairn wrote)",
		               path);
	*ret = TAKE_PTR(m);
	return 0;
}

static struct json_object *manifest_array(struct json_object *m)
{
	struct json_object *arr = NULL;

	json_object_object_get_ex(m, "backups", &arr);
	return arr;
}

int manifest_store(const char *directory, const char *volume_id, struct json_object *m,
                   struct cairn_err *err)
{
	_cleanup_(freep) char *path = bk_manifest_path(directory, volume_id);
	struct json_object *arr = manifest_array(m);
	const char *text;

	if (!path)
		return err_set(err, -ENOMEM, "out of memory");
	if (!arr || json_object_array_length(arr) == 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			return err_set(err, -errno, "cannot remove manifest '%s': %s", path,
			               strerror(errno));
		bk_fsync_dir_of(path);
		return 0;
	}
	text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PRETTY |
	                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
	return bk_write_file_atomic(path, text, strlen(text), err);
}

struct json_object *manifest_find(struct json_object *m, const char *id)
{
	struct json_object *arr = manifest_array(m);
	size_t n = arr ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *eid = json_get_string(e, "id");
		if (eid && strcmp(eid, id) == 0)
			return e;
	}
	return NULL;
}

int manifest_add(struct json_object *m, const struct backup_record *r, const char *file)
{
	struct json_object *arr = manifest_array(m);
	_cleanup_(json_putp) struct json_object *e = NULL;

	if (!arr)
		return -EINVAL;
	manifest_remove(m, r->id);
	e = json_object_new_object();
	if (!e || json_add_string(e, "id", r->id) < 0 ||
	    (r->parent[0] ? json_add_string(e, "parent", r->parent)
	                  : json_object_object_add(e, "parent", NULL)) < 0 ||
	    json_add_string(e, "kind", backup_kind_to_string(r->kind)) < 0 ||
	    json_add_string(e, "file", file) < 0 || json_add_uint(e, "size", r->size) < 0 ||
	    json_add_uint(e, "bytes", r->bytes) < 0 ||
	    json_add_string(e, "file_sha256", r->checksum_file) < 0 ||
	    json_add_string(e, "volume_sha256", r->checksum_volume) < 0 ||
	    json_add_string(e, "created", r->created) < 0)
		return -ENOMEM;
	if (json_object_array_add(arr, e) < 0)
		return -ENOMEM;
	e = NULL;
	return 0;
}

int manifest_remove(struct json_object *m, const char *id)
{
	struct json_object *arr = manifest_array(m);
	size_t n = arr ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		const char *eid = json_get_string(json_object_array_get_idx(arr, i), "id");
		if (eid && strcmp(eid, id) == 0) {
			json_object_array_del_idx(arr, i, 1);
			return 1;
		}
	}
	return 0;
}
