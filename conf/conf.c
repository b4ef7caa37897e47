/* SPDX-License-Identifier: MIT */
/*
 * cairn.conf: one static table of keys drives everything. Each row says where a key lives
 * ([section] key), the type and offset of its field in struct cairn_config, its limits, an
 * optional check, and its default as text. Defaults go through the same parser as a file,
 * conf_validate() re-parses the formatted fields, and conf_dump() prints them: adding a
 * key is one line here (plus its documentation in docs/cairn.conf.5 and the example).
 *
 * inih does the INI syntax. The Debian build calls the handler without a line number and
 * treats indented lines as continuations of the previous value, so we give inih our own
 * line reader (ini_parse_stream): it counts lines, strips the indentation, and reports a
 * line too long for inih's buffer instead of letting inih split it.
 */
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/un.h>

#include "common/common.h"
#include "conf/conf.h"

/* ---- enums ------------------------------------------------------------------------------ */

static const char *const pool_role_names[POOL_ROLE_MAX] = {
        [POOL_ROLE_IMAGES] = "images",
        [POOL_ROLE_VOLUMES] = "volumes",
        [POOL_ROLE_VMS] = "vms",
        [POOL_ROLE_BACKUPS] = "backups",
};

const char *pool_role_to_string(enum pool_role role)
{
	if ((unsigned)role >= POOL_ROLE_MAX)
		return NULL;
	return pool_role_names[role];
}

int pool_role_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < POOL_ROLE_MAX; i++)
		if (strcmp(s, pool_role_names[i]) == 0)
			return i;
	return -EINVAL;
}

static const char *const backup_target_names[BACKUP_TARGET_MAX] = {
        [BACKUP_TARGET_POOL] = "pool",
        [BACKUP_TARGET_FILE] = "file",
};

const char *backup_target_to_string(enum backup_target target)
{
	if ((unsigned)target >= BACKUP_TARGET_MAX)
		return NULL;
	return backup_target_names[target];
}

int backup_target_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < BACKUP_TARGET_MAX; i++)
		if (strcmp(s, backup_target_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *conf_pool_name(const struct cairn_config *c, enum pool_role role)
{
	switch (role) {
	case POOL_ROLE_IMAGES:
		return c->pools.images;
	case POOL_ROLE_VOLUMES:
		return c->pools.volumes;
	case POOL_ROLE_VMS:
		return c->pools.vms;
	case POOL_ROLE_BACKUPS:
		return c->pools.backups;
	case POOL_ROLE_MAX:
		break;
	}
	return NULL;
}

uint32_t conf_slow_workers(const struct cairn_config *c)
{
	if (c->service.slow_workers_max)
		return c->service.slow_workers_max;
	return c->service.workers / 2 ? c->service.workers / 2 : 1;
}

/* ---- the key table ---------------------------------------------------------------------- */

enum conf_type {
	CONF_STRING,
	CONF_BOOL,
	CONF_UINT,     /* uint32_t, decimal */
	CONF_MODE,     /* uint32_t, octal permission bits */
	CONF_SIZE,     /* uint64_t bytes, "4M" */
	CONF_DURATION, /* uint32_t seconds, "30", "30s", "5m", "1h30m", "1d" */
	CONF_ENUM,     /* an enum, by name */
};

/* The value may be empty: a string is then "not set", a number 0. */
#define CONF_EMPTY_OK (1u << 0)

/* One parsed value, before it is stored; s is owned. */
union conf_value {
	char *s;
	bool b;
	uint32_t u;
	uint64_t z;
	int e;
};

struct conf_enum {
	int (*from_string)(const char *s);   /* negative when unknown */
	const char *(*to_string)(int value); /* NULL past the last one */
};

struct conf_key {
	const char *section;
	const char *key;
	enum conf_type type;
	unsigned flags;
	size_t offset;
	uint64_t min, max; /* numbers: inclusive limits */
	const struct conf_enum *enum_type;
	/* Extra rules after the type's own; may normalise v->s in place or replace it. */
	int (*check)(union conf_value *v, struct cairn_err *err);
	const char *def; /* the default, as it would be written in the file */
};

/* offsetof() that fails to compile when the field is not of the type the row claims. */
#define CONF_FIELD(f, type)                                                                      \
	(offsetof(struct cairn_config, f) +                                                      \
	 0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((struct cairn_config *)0)->f), \
	                                              type)                                      \
	                         ? 1                                                             \
	                         : -1]))

#define KEY_STR(s, k, f, fl, chk, d)                                      \
	{                                                                 \
		.section = s, .key = k, .type = CONF_STRING, .flags = fl, \
		.offset = CONF_FIELD(f, char *), .check = chk, .def = d   \
	}
#define KEY_BOOL(s, k, f, d)                                                                       \
	{                                                                                          \
		.section = s, .key = k, .type = CONF_BOOL, .offset = CONF_FIELD(f, bool), .def = d \
	}
#define KEY_UINT(s, k, f, fl, lo, hi, chk, d)                                                   \
	{                                                                                       \
		.section = s, .key = k, .type = CONF_UINT, .flags = fl,                         \
		.offset = CONF_FIELD(f, uint32_t), .min = lo, .max = hi, .check = chk, .def = d \
	}
#define KEY_MODE(s, k, f, chk, d)                                                             \
	{                                                                                     \
		.section = s, .key = k, .type = CONF_MODE, .offset = CONF_FIELD(f, uint32_t), \
		.min = 0, .max = 0777, .check = chk, .def = d                                 \
	}
#define KEY_SIZE(s, k, f, lo, hi, chk, d)                                                     \
	{                                                                                     \
		.section = s, .key = k, .type = CONF_SIZE, .offset = CONF_FIELD(f, uint64_t), \
		.min = lo, .max = hi, .check = chk, .def = d                                  \
	}
#define KEY_DURATION(s, k, f, lo, hi, d)                                                          \
	{                                                                                         \
		.section = s, .key = k, .type = CONF_DURATION, .offset = CONF_FIELD(f, uint32_t), \
		.min = lo, .max = hi, .def = d                                                    \
	}
#define KEY_ENUM(s, k, f, etype, en, d)                                                    \
	{                                                                                  \
		.section = s, .key = k, .type = CONF_ENUM, .offset = CONF_FIELD(f, etype), \
		.enum_type = en, .def = d                                                  \
	}

_Static_assert(sizeof(enum log_level) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum backup_target) == sizeof(int), "enum fields are stored as int");

#define KiB    (UINT64_C(1) << 10)
#define MiB    (UINT64_C(1) << 20)
#define GiB    (UINT64_C(1) << 30)
#define MINUTE 60u
#define HOUR   3600u
#define DAY    86400u

static int check_path(union conf_value *v, struct cairn_err *err);
static int check_socket_path(union conf_value *v, struct cairn_err *err);
static int check_ceph_user(union conf_value *v, struct cairn_err *err);
static int check_cluster_name(union conf_value *v, struct cairn_err *err);
static int check_uuid(union conf_value *v, struct cairn_err *err);
static int check_group(union conf_value *v, struct cairn_err *err);
static int check_socket_mode(union conf_value *v, struct cairn_err *err);
static int check_pool_name(union conf_value *v, struct cairn_err *err);
static int check_power_of_two(union conf_value *v, struct cairn_err *err);
static int check_features(union conf_value *v, struct cairn_err *err);
static int check_chunk(union conf_value *v, struct cairn_err *err);

static int log_level_parse(const char *s)
{
	return log_level_from_string(s);
}

static const char *log_level_name(int value)
{
	return log_level_to_string((enum log_level)value);
}

static int backup_target_parse(const char *s)
{
	return backup_target_from_string(s);
}

static const char *backup_target_name(int value)
{
	return backup_target_to_string((enum backup_target)value);
}

static const struct conf_enum log_level_enum = {log_level_parse, log_level_name};
static const struct conf_enum backup_target_enum = {backup_target_parse, backup_target_name};

/* Keys of one section stay together: conf_dump() prints a section header when it changes. */
static const struct conf_key conf_keys[] = {
        KEY_STR("ceph", "conf", ceph.conf, 0, check_path, "/etc/ceph/ceph.conf"),
        KEY_STR("ceph", "user", ceph.user, 0, check_ceph_user, "cairn"),
        KEY_STR("ceph", "keyring", ceph.keyring, CONF_EMPTY_OK, check_path, ""),
        KEY_STR("ceph", "cluster_name", ceph.cluster_name, 0, check_cluster_name, "ceph"),
        KEY_DURATION("ceph", "mon_op_timeout", ceph.mon_op_timeout, 1, HOUR, "10s"),
        KEY_DURATION("ceph", "osd_op_timeout", ceph.osd_op_timeout, 1, HOUR, "10s"),
        KEY_DURATION("ceph", "client_mount_timeout", ceph.client_mount_timeout, 1, HOUR, "10s"),
        KEY_STR("ceph", "secret_uuid", ceph.secret_uuid, CONF_EMPTY_OK, check_uuid, ""),

        KEY_STR("service", "socket", service.socket, 0, check_socket_path, "/run/cairn/cairn.sock"),
        KEY_STR("service", "readonly_socket", service.readonly_socket, CONF_EMPTY_OK,
                check_socket_path, ""),
        KEY_STR("service", "socket_group", service.socket_group, CONF_EMPTY_OK, check_group, ""),
        KEY_MODE("service", "socket_mode", service.socket_mode, check_socket_mode, "0660"),
        KEY_UINT("service", "workers", service.workers, 0, 1, 128, NULL, "4"),
        KEY_UINT("service", "slow_workers_max", service.slow_workers_max, CONF_EMPTY_OK, 0, 128,
                 NULL, "0"),
        KEY_UINT("service", "queue_max", service.queue_max, 0, 1, 65536, NULL, "256"),
        KEY_UINT("service", "max_connections", service.max_connections, 0, 1, 65536, NULL, "256"),
        KEY_SIZE("service", "max_body", service.max_body, 1 * KiB, 64 * MiB, NULL, "1M"),
        KEY_SIZE("service", "max_header", service.max_header, 1 * KiB, 1 * MiB, NULL, "16K"),
        KEY_ENUM("service", "log_level", service.log_level, enum log_level, &log_level_enum,
                 "info"),
        KEY_DURATION("service", "reconcile_interval", service.reconcile_interval, 1, DAY, "60s"),
        KEY_DURATION("service", "operation_retention", service.operation_retention, 1, 30 * DAY,
                     "1h"),
        KEY_DURATION("service", "shutdown_timeout", service.shutdown_timeout, 1, HOUR, "30s"),

        KEY_STR("pools", "images", pools.images, 0, check_pool_name, "images"),
        KEY_STR("pools", "volumes", pools.volumes, 0, check_pool_name, "volumes"),
        KEY_STR("pools", "vms", pools.vms, 0, check_pool_name, "vms"),
        KEY_STR("pools", "backups", pools.backups, 0, check_pool_name, "backups"),
        KEY_UINT("pools", "pg_num", pools.pg_num, 0, 1, 32768, check_power_of_two, "8"),

        KEY_UINT("volumes", "max_clone_depth", volumes.max_clone_depth, 0, 1, 64, NULL, "8"),
        KEY_BOOL("volumes", "deferred_delete", volumes.deferred_delete, "true"),
        KEY_DURATION("volumes", "trash_delay", volumes.trash_delay, 0, 365 * DAY, "0s"),
        KEY_DURATION("volumes", "purge_interval", volumes.purge_interval, 1, DAY, "30s"),
        KEY_STR("volumes", "default_features", volumes.default_features, 0, check_features,
                "layering,exclusive-lock,object-map,fast-diff,deep-flatten"),

        KEY_ENUM("backup", "target", backup.target, enum backup_target, &backup_target_enum,
                 "pool"),
        KEY_STR("backup", "directory", backup.directory, 0, check_path, "/var/lib/cairn/backups"),
        KEY_STR("backup", "cluster_conf", backup.cluster_conf, CONF_EMPTY_OK, check_path, ""),
        KEY_SIZE("backup", "chunk", backup.chunk, 4 * KiB, 64 * MiB, check_chunk, "4M"),
        KEY_UINT("backup", "in_flight", backup.in_flight, 0, 1, 256, NULL, "16"),
        KEY_UINT("backup", "keep_last", backup.keep_last, 0, 0, 100000, NULL, "0"),
        KEY_UINT("backup", "keep_daily", backup.keep_daily, 0, 0, 100000, NULL, "0"),
        KEY_UINT("backup", "keep_weekly", backup.keep_weekly, 0, 0, 100000, NULL, "0"),

        KEY_STR("import", "directory", import.directory, 0, check_path, "/var/lib/cairn/import"),
        KEY_STR("import", "qemu_img", import.qemu_img, 0, check_path, "/usr/bin/qemu-img"),
};

static void *conf_field(struct cairn_config *c, const struct conf_key *k)
{
	return (char *)c + k->offset;
}

static const void *conf_field_const(const struct cairn_config *c, const struct conf_key *k)
{
	return (const char *)c + k->offset;
}

static const struct conf_key *conf_key_find(const char *section, const char *key,
                                            bool *ret_section_known)
{
	bool known = false;

	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		if (strcmp(conf_keys[i].section, section) != 0)
			continue;
		known = true;
		if (strcmp(conf_keys[i].key, key) == 0) {
			*ret_section_known = true;
			return &conf_keys[i];
		}
	}
	*ret_section_known = known;
	return NULL;
}

/* ---- value syntax ----------------------------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Plain decimal: no sign, no space, no base prefix. */
static int uint_parse(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -ERANGE;
	}
	if (*s)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* "30" (seconds), or one or more <number><unit> with units s, m, h, d: "90s", "1h30m". */
static int duration_parse(const char *s, uint32_t *ret_seconds)
{
	uint64_t total = 0, n;
	const char *p = s;
	int r;

	if (*s && strspn(s, "0123456789") == strlen(s)) {
		r = uint_parse(s, UINT32_MAX, &n);
		if (r < 0)
			return r;
		*ret_seconds = (uint32_t)n;
		return 0;
	}
	if (!*p)
		return -EINVAL;
	while (*p) {
		uint64_t unit;

		if (!is_digit(*p))
			return -EINVAL;
		for (n = 0; is_digit(*p); p++) {
			n = n * 10 + (uint64_t)(*p - '0');
			if (n > UINT32_MAX)
				return -ERANGE;
		}
		switch (*p) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = MINUTE;
			break;
		case 'h':
			unit = HOUR;
			break;
		case 'd':
			unit = DAY;
			break;
		default:
			return -EINVAL; /* no unit after a number that is not the whole value */
		}
		p++;
		total += n * unit;
		if (total > UINT32_MAX)
			return -ERANGE;
	}
	*ret_seconds = (uint32_t)total;
	return 0;
}

static const char *duration_format(uint64_t seconds, char *buf, size_t n)
{
	if (seconds && seconds % DAY == 0)
		snprintf(buf, n, "%llud", (unsigned long long)(seconds / DAY));
	else if (seconds && seconds % HOUR == 0)
		snprintf(buf, n, "%lluh", (unsigned long long)(seconds / HOUR));
	else if (seconds && seconds % MINUTE == 0)
		snprintf(buf, n, "%llum", (unsigned long long)(seconds / MINUTE));
	else
		snprintf(buf, n, "%llus", (unsigned long long)seconds);
	return buf;
}

/* Exact, in the largest binary unit that divides it, so size_parse() reads it back. */
static const char *size_format_exact(uint64_t bytes, char *buf, size_t n)
{
	static const char units[] = "KMGTPE";

	for (int i = 6; i >= 1; i--) {
		uint64_t unit = UINT64_C(1) << (10 * i);
		if (bytes && bytes % unit == 0) {
			snprintf(buf, n, "%llu%c", (unsigned long long)(bytes / unit),
			         units[i - 1]);
			return buf;
		}
	}
	snprintf(buf, n, "%llu", (unsigned long long)bytes);
	return buf;
}

static const char *const bool_true[] = {"true", "yes", "on", "1"};
static const char *const bool_false[] = {"false", "no", "off", "0"};

static int bool_parse(const char *s, bool *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(bool_true); i++) {
		if (strcasecmp(s, bool_true[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, bool_false[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Values quoted in messages are cut so the file, line and key still fit. */
#define VAL "'%.64s'"

static int enum_parse(const struct conf_enum *en, const char *s, int *ret, struct cairn_err *err)
{
	char names[128] = "";
	size_t n = 0;
	int v = en->from_string(s);

	if (v >= 0) {
		*ret = v;
		return 0;
	}
	for (int i = 0; en->to_string(i) && n < sizeof(names); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
		                      en->to_string(i));
	return err_set(err, -EINVAL, VAL " is not one of: %s", s, names);
}

/* Parse text as the key's value into *v (a string is copied and owned by *v). */
static int conf_key_parse(const struct conf_key *k, const char *text, union conf_value *v,
                          struct cairn_err *err)
{
	char lo[32], hi[32];
	uint64_t n;
	int r;

	memset(v, 0, sizeof(*v));
	switch (k->type) {
	case CONF_STRING:
		if (!*text && !(k->flags & CONF_EMPTY_OK))
			return err_set(err, -EINVAL, "a value is required");
		v->s = strdup(text);
		if (!v->s)
			return err_set(err, -ENOMEM, "out of memory");
		break;
	case CONF_BOOL:
		if (bool_parse(text, &v->b) < 0)
			return err_set(err, -EINVAL,
			               VAL " is not a boolean (true/false, yes/no, on/off, 1/0)",
			               text);
		break;
	case CONF_UINT:
		if (!*text && (k->flags & CONF_EMPTY_OK)) {
			v->u = 0;
			break;
		}
		r = uint_parse(text, UINT32_MAX, &n);
		if (r == -EINVAL)
			return err_set(err, -EINVAL, VAL " is not a whole number", text);
		if (r < 0 || n < k->min || n > k->max)
			return err_set(err, -ERANGE, VAL " is out of range %llu..%llu", text,
			               (unsigned long long)k->min, (unsigned long long)k->max);
		v->u = (uint32_t)n;
		break;
	case CONF_MODE:
		n = 0;
		r = *text ? 0 : -EINVAL;
		for (const char *p = text; *p && r == 0; p++) {
			if (*p < '0' || *p > '7')
				r = -EINVAL;
			else if ((n = n * 8 + (uint64_t)(*p - '0')) > 07777)
				r = -ERANGE;
		}
		if (r == -EINVAL)
			return err_set(err, -EINVAL, VAL " is not an octal mode (e.g. 0660)", text);
		if (r < 0 || n > k->max)
			return err_set(err, -ERANGE,
			               VAL " has bits other than the permission bits 0%llo", text,
			               (unsigned long long)k->max);
		v->u = (uint32_t)n;
		break;
	case CONF_SIZE:
		r = size_parse(text, &n);
		if (r == -EINVAL)
			return err_set(err, -EINVAL, VAL " is not a size (e.g. 65536, 512K, 4M)",
			               text);
		if (r < 0 || n < k->min || n > k->max)
			return err_set(err, -ERANGE, VAL " is out of range %s..%s", text,
			               size_format_exact(k->min, lo, sizeof(lo)),
			               size_format_exact(k->max, hi, sizeof(hi)));
		v->z = n;
		break;
	case CONF_DURATION:
		r = duration_parse(text, &v->u);
		if (r == -EINVAL)
			return err_set(err, -EINVAL,
			               VAL " is not a duration (e.g. 30, 30s, 5m, 1h)", text);
		if (r < 0 || v->u < k->min || v->u > k->max)
			return err_set(err, -ERANGE, VAL " is out of range %s..%s", text,
			               duration_format(k->min, lo, sizeof(lo)),
			               duration_format(k->max, hi, sizeof(hi)));
		break;
	case CONF_ENUM:
		r = enum_parse(k->enum_type, text, &v->e, err);
		if (r < 0)
			return r;
		break;
	}
	if (k->check && !(k->type == CONF_STRING && !*v->s)) {
		r = k->check(v, err);
		if (r < 0) {
			if (k->type == CONF_STRING) {
				free(v->s);
				v->s = NULL;
			}
			return r;
		}
	}
	return 0;
}

/* Store a parsed value in its field; the field takes a string over. */
static void conf_key_store(const struct conf_key *k, struct cairn_config *c, union conf_value *v)
{
	void *f = conf_field(c, k);

	switch (k->type) {
	case CONF_STRING:
		free(*(char **)f);
		*(char **)f = TAKE_PTR(v->s);
		break;
	case CONF_BOOL:
		*(bool *)f = v->b;
		break;
	case CONF_UINT:
	case CONF_MODE:
	case CONF_DURATION:
		*(uint32_t *)f = v->u;
		break;
	case CONF_SIZE:
		*(uint64_t *)f = v->z;
		break;
	case CONF_ENUM:
		memcpy(f, &v->e, sizeof(int));
		break;
	}
}

/* The field as it would be written in the file: buf, or the string itself; NULL if unset. */
static const char *conf_key_format(const struct conf_key *k, const struct cairn_config *c,
                                   char *buf, size_t n)
{
	const void *f = conf_field_const(c, k);
	int e;

	switch (k->type) {
	case CONF_STRING:
		return *(char *const *)f;
	case CONF_BOOL:
		return *(const bool *)f ? "true" : "false";
	case CONF_UINT:
		snprintf(buf, n, "%u", *(const uint32_t *)f);
		return buf;
	case CONF_MODE:
		snprintf(buf, n, "%04o", *(const uint32_t *)f);
		return buf;
	case CONF_SIZE:
		return size_format_exact(*(const uint64_t *)f, buf, n);
	case CONF_DURATION:
		return duration_format(*(const uint32_t *)f, buf, n);
	case CONF_ENUM:
		memcpy(&e, f, sizeof(int));
		return k->enum_type->to_string(e);
	}
	return NULL;
}

/* ---- checks of single keys -------------------------------------------------------------- */

/* Absolute, no ".." component; trailing slashes dropped. */
static int check_path(union conf_value *v, struct cairn_err *err)
{
	size_t len = strlen(v->s);

	if (v->s[0] != '/')
		return err_set(err, -EINVAL, VAL " is not an absolute path", v->s);
	for (const char *p = v->s; (p = strstr(p, "..")); p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return err_set(err, -EINVAL, VAL " has a '..' component", v->s);
	while (len > 1 && v->s[len - 1] == '/')
		v->s[--len] = '\0';
	return 0;
}

static int check_socket_path(union conf_value *v, struct cairn_err *err)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	int r = check_path(v, err);

	if (r < 0)
		return r;
	if (strlen(v->s) > max)
		return err_set(
		        err, -ENAMETOOLONG,
		        "the path is %zu characters long, a unix socket path fits at most %zu",
		        strlen(v->s), max);
	return 0;
}

static int check_ceph_user(union conf_value *v, struct cairn_err *err)
{
	struct cairn_err e = {0};

	if (name_validate(v->s, "ceph user", &e) < 0)
		return err_set(err, e.code, VAL ": %s", v->s, e.msg);
	if (str_has_prefix(v->s, "client."))
		return err_set(err, -EINVAL, VAL ": give the id without 'client.' ('%s')", v->s,
		               v->s + strlen("client."));
	return 0;
}

static int check_cluster_name(union conf_value *v, struct cairn_err *err)
{
	struct cairn_err e = {0};

	if (name_validate(v->s, "cluster", &e) < 0)
		return err_set(err, e.code, VAL ": %s", v->s, e.msg);
	return 0;
}

static int check_pool_name(union conf_value *v, struct cairn_err *err)
{
	struct cairn_err e = {0};

	if (name_validate(v->s, "pool", &e) < 0)
		return err_set(err, e.code, VAL ": %s", v->s, e.msg);
	return 0;
}

/* libvirt prints secret UUIDs in lowercase: accept either case, keep lowercase. */
static int check_uuid(union conf_value *v, struct cairn_err *err)
{
	for (char *p = v->s; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	if (!uuid_is_valid(v->s))
		return err_set(err, -EINVAL,
		               VAL " is not a UUID (like 3e1b4a4c-0d6f-4a55-9c3e-5c1f0b2a7d10)",
		               v->s);
	return 0;
}

/* A numeric gid, or a name as useradd/groupadd allow it by default. */
static int check_group(union conf_value *v, struct cairn_err *err)
{
	const char *s = v->s;
	size_t len = strlen(s);
	uint64_t gid;
	bool ok;

	if (is_digit(s[0]))
		ok = uint_parse(s, INT32_MAX, &gid) == 0;
	else {
		ok = len <= 32 &&
		     ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_');
		for (size_t i = 1; ok && i < len; i++) {
			char c = s[i];
			ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
			     c == '_' || c == '-' || c == '.' || (c == '$' && i == len - 1);
		}
	}
	if (!ok)
		return err_set(err, -EINVAL, VAL " is not a group name or a numeric gid", s);
	return 0;
}

static int check_socket_mode(union conf_value *v, struct cairn_err *err)
{
	if (v->u & 0002)
		return err_set(err, -EINVAL,
		               "'%04o' lets every local user write to the socket (use 0660 and "
		               "socket_group)",
		               v->u);
	return 0;
}

static int check_power_of_two(union conf_value *v, struct cairn_err *err)
{
	if (v->u & (v->u - 1))
		return err_set(err, -EINVAL, "'%u' is not a power of two", v->u);
	return 0;
}

static int check_chunk(union conf_value *v, struct cairn_err *err)
{
	if (v->z % 4096)
		return err_set(err, -EINVAL, "'%llu' is not a multiple of 4K",
		               (unsigned long long)v->z);
	return 0;
}

/* The RBD features an image can be created with, as `rbd create --image-feature` names them. */
enum {
	FEAT_LAYERING,
	FEAT_STRIPING,
	FEAT_EXCLUSIVE_LOCK,
	FEAT_OBJECT_MAP,
	FEAT_FAST_DIFF,
	FEAT_DEEP_FLATTEN,
	FEAT_JOURNALING,
	FEAT_MAX,
};

static const char *const feature_names[FEAT_MAX] = {
        [FEAT_LAYERING] = "layering",
        [FEAT_STRIPING] = "striping",
        [FEAT_EXCLUSIVE_LOCK] = "exclusive-lock",
        [FEAT_OBJECT_MAP] = "object-map",
        [FEAT_FAST_DIFF] = "fast-diff",
        [FEAT_DEEP_FLATTEN] = "deep-flatten",
        [FEAT_JOURNALING] = "journaling",
};

static const struct {
	int feature, needs;
} feature_deps[] = {
        {FEAT_OBJECT_MAP, FEAT_EXCLUSIVE_LOCK},
        {FEAT_FAST_DIFF, FEAT_OBJECT_MAP},
        {FEAT_JOURNALING, FEAT_EXCLUSIVE_LOCK},
};

/* A comma-separated list of known features, each once, with what they need; no spaces kept. */
static int check_features(union conf_value *v, struct cairn_err *err)
{
	int order[FEAT_MAX], n = 0;
	unsigned seen = 0;
	const char *p = v->s;
	char *out, *o;

	for (;;) {
		const char *start, *end;
		int f = -1;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		end = p;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != ',')
			return err_set(err, -EINVAL, VAL ": features are separated by commas",
			               v->s);
		if (end == start)
			return err_set(err, -EINVAL, VAL " has an empty item", v->s);
		for (int i = 0; i < FEAT_MAX; i++)
			if (strlen(feature_names[i]) == (size_t)(end - start) &&
			    memcmp(feature_names[i], start, (size_t)(end - start)) == 0)
				f = i;
		if (f < 0)
			return err_set(
			        err, -EINVAL,
			        "unknown feature '%.*s' (known: layering, striping, "
			        "exclusive-lock, object-map, fast-diff, deep-flatten, journaling)",
			        (int)(end - start > 32 ? 32 : end - start), start);
		if (seen & (1u << f))
			return err_set(err, -EINVAL, "feature '%s' is listed twice",
			               feature_names[f]);
		seen |= 1u << f;
		order[n++] = f;
		if (!*p)
			break;
		p++; /* the comma */
	}
	if (!(seen & (1u << FEAT_LAYERING)))
		return err_set(
		        err, -EINVAL,
		        "'layering' is required: volumes are clones of images and snapshots");
	for (size_t i = 0; i < ARRAY_SIZE(feature_deps); i++)
		if ((seen & (1u << feature_deps[i].feature)) &&
		    !(seen & (1u << feature_deps[i].needs)))
			return err_set(err, -EINVAL, "feature '%s' needs '%s'",
			               feature_names[feature_deps[i].feature],
			               feature_names[feature_deps[i].needs]);

	out = malloc(strlen(v->s) + 1);
	if (!out)
		return err_set(err, -ENOMEM, "out of memory");
	o = out;
	for (int i = 0; i < n; i++) {
		size_t len = strlen(feature_names[order[i]]);
		if (i)
			*o++ = ',';
		memcpy(o, feature_names[order[i]], len);
		o += len;
	}
	*o = '\0';
	free(v->s);
	v->s = out;
	return 0;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

void conf_release(struct cairn_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++)
		if (conf_keys[i].type == CONF_STRING)
			free(*(char **)conf_field(c, &conf_keys[i]));
	memset(c, 0, sizeof(*c));
}

int conf_init_defaults(struct cairn_config *c)
{
	struct cairn_config t;

	memset(&t, 0, sizeof(t));
	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		struct cairn_err e = {0};
		union conf_value v;
		int r = conf_key_parse(&conf_keys[i], conf_keys[i].def, &v, &e);

		if (r < 0) {
			/* only -ENOMEM: the unit test loads every default */
			conf_release(&t);
			return r;
		}
		conf_key_store(&conf_keys[i], &t, &v);
	}
	*c = t;
	return 0;
}

/* A deep copy, so a load can fail without touching the configuration it started from. */
static int conf_copy(struct cairn_config *dst, const struct cairn_config *src)
{
	struct cairn_config t = *src;

	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++)
		if (conf_keys[i].type == CONF_STRING)
			*(char **)conf_field(&t, &conf_keys[i]) = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		const char *s;

		if (conf_keys[i].type != CONF_STRING)
			continue;
		s = *(char *const *)conf_field_const(src, &conf_keys[i]);
		if (!s)
			continue;
		*(char **)conf_field(&t, &conf_keys[i]) = strdup(s);
		if (!*(char **)conf_field(&t, &conf_keys[i])) {
			conf_release(&t);
			return -ENOMEM;
		}
	}
	*dst = t;
	return 0;
}

/* ---- loading ---------------------------------------------------------------------------- */

struct conf_parser {
	struct cairn_config *c; /* the copy being filled */
	const char *name;       /* for messages */
	FILE *f;                /* a file, or */
	const char *pos;        /* the rest of a string */
	char *buf;              /* getline() buffer */
	size_t cap;
	int lineno;
	int read_errno;       /* a failed read, positive */
	struct cairn_err err; /* the first error the reader or the handler found */
	int err_line;
};

static void parser_fail(struct conf_parser *p, int code, const char *fmt, ...) _printf_(3, 4);

static void parser_fail(struct conf_parser *p, int code, const char *fmt, ...)
{
	char msg[sizeof(p->err.msg)];
	va_list ap;

	if (p->err.code)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(&p->err, code, "%s:%d: %s", p->name, p->lineno, msg);
	p->err_line = p->lineno;
}

/*
 * inih's line reader (fgets-like): one physical line per call, so our count matches
 * inih's. Leading whitespace goes, so an indented key is a key and not a continuation.
 */
static char *conf_reader(char *str, int num, void *stream)
{
	struct conf_parser *p = stream;
	const char *line;
	size_t len;
	bool nul = false;

	if (num < 1)
		return NULL;
	if (p->f) {
		ssize_t n;

		errno = 0;
		n = getline(&p->buf, &p->cap, p->f);
		if (n < 0) {
			if (ferror(p->f))
				p->read_errno = errno ? errno : EIO;
			return NULL;
		}
		line = p->buf;
		len = (size_t)n;
		nul = memchr(line, '\0', len) != NULL;
	} else {
		const char *nl;

		if (!*p->pos)
			return NULL;
		nl = strchrnul(p->pos, '\n');
		line = p->pos;
		len = (size_t)(nl - p->pos);
		p->pos = *nl ? nl + 1 : nl;
	}
	p->lineno++;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (nul) {
		parser_fail(p, -EINVAL, "line has a NUL byte");
		len = 0;
	} else if (len >= (size_t)num) {
		parser_fail(p, -EINVAL, "line is longer than %d characters", num - 1);
		len = 0;
	}
	memcpy(str, line, len);
	str[len] = '\0';
	return str;
}

static int conf_handler(void *user, const char *section, const char *key, const char *value)
{
	struct conf_parser *p = user;
	const struct conf_key *k;
	struct cairn_err e = {0};
	union conf_value v;
	bool section_known;

	if (p->err.code)
		return 1; /* the first error is the one reported; inih counts its own */
	if (!key)
		return 1; /* a section start, if inih was built to announce those */
	if (!*section) {
		parser_fail(p, -EINVAL, "key '%s' is outside of any section", key);
		return 0;
	}
	k = conf_key_find(section, key, &section_known);
	if (!section_known) {
		parser_fail(p, -EINVAL, "unknown section [%s]", section);
		return 0;
	}
	if (!k) {
		parser_fail(p, -EINVAL, "unknown key '%s' in section [%s]", key, section);
		return 0;
	}
	if (!value) {
		parser_fail(p, -EINVAL, "[%s] %s: a value is required", section, key);
		return 0;
	}
	if (conf_key_parse(k, value, &v, &e) < 0) {
		parser_fail(p, e.code, "[%s] %s: %s", section, key, e.msg);
		return 0;
	}
	conf_key_store(k, p->c, &v);
	return 1;
}

static int conf_load(struct cairn_config *c, struct conf_parser *p, struct cairn_err *err)
{
	struct cairn_config t;
	int r;

	if (conf_copy(&t, c) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	p->c = &t;
	r = ini_parse_stream(conf_reader, p, conf_handler, p);
	free(p->buf);
	p->buf = NULL;
	if (p->read_errno) {
		conf_release(&t);
		return err_set(err, -p->read_errno, "cannot read '%s': %s", p->name,
		               strerrordesc_np(p->read_errno));
	}
	if (r < 0) {
		conf_release(&t);
		return err_set(err, -ENOMEM, "out of memory");
	}
	if (p->err.code && (r == 0 || p->err_line <= r)) {
		conf_release(&t);
		return err_set(err, p->err.code, "%s", p->err.msg);
	}
	if (r > 0) {
		conf_release(&t);
		return err_set(
		        err, -EINVAL,
		        "%s:%d: syntax error: expected '[section]', 'key = value' or a comment",
		        p->name, r);
	}
	conf_release(c);
	*c = t;
	return 0;
}

int conf_load_string(struct cairn_config *c, const char *text, const char *name,
                     struct cairn_err *err)
{
	struct conf_parser p = {
	        .name = name ? name : "<string>",
	        .pos = text ? text : "",
	};

	return conf_load(c, &p, err);
}

int conf_load_file(struct cairn_config *c, const char *path, struct cairn_err *err)
{
	_cleanup_(fclosep) FILE *f = NULL;
	struct conf_parser p = {0};
	bool optional = !path;
	int r;

	if (!path)
		path = CONF_DEFAULT_PATH;
	f = fopen(path, "re");
	if (!f) {
		r = errno;
		if (optional && r == ENOENT)
			return 0;
		return err_set(err, -r, "cannot open configuration file '%s': %s", path,
		               strerrordesc_np(r));
	}
	p.name = path;
	p.f = f;
	r = conf_load(c, &p, err);
	return r < 0 ? r : 1;
}

/* ---- checking and printing the whole ---------------------------------------------------- */

int conf_validate(const struct cairn_config *c, struct cairn_err *err)
{
	const char *a, *b;

	/* every field as if it had been read from a file */
	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		const struct conf_key *k = &conf_keys[i];
		struct cairn_err e = {0};
		union conf_value v;
		char buf[64];
		const char *text = conf_key_format(k, c, buf, sizeof(buf));

		if (!text)
			return err_set(err, -EINVAL, "[%s] %s: not set or not a valid value",
			               k->section, k->key);
		if (conf_key_parse(k, text, &v, &e) < 0)
			return err_set(err, e.code, "[%s] %s: %s", k->section, k->key, e.msg);
		if (k->type == CONF_STRING)
			free(v.s);
	}

	for (int i = 0; i < POOL_ROLE_MAX; i++)
		for (int j = i + 1; j < POOL_ROLE_MAX; j++) {
			a = conf_pool_name(c, (enum pool_role)i);
			b = conf_pool_name(c, (enum pool_role)j);
			if (strcmp(a, b) == 0)
				return err_set(err, -EINVAL,
				               "[pools] %s and %s are both '%s': each role needs a "
				               "pool of its own",
				               pool_role_to_string((enum pool_role)i),
				               pool_role_to_string((enum pool_role)j), a);
		}
	/* slow work may hold at most half of the workers (one when there is one), so quick
	 * requests always have the other half */
	if (c->service.slow_workers_max > (c->service.workers / 2 ? c->service.workers / 2 : 1))
		return err_set(err, -EINVAL,
		               "[service] slow_workers_max (%u) is more than half of workers (%u): "
		               "slow work may use at most %u of them",
		               c->service.slow_workers_max, c->service.workers,
		               c->service.workers / 2 ? c->service.workers / 2 : 1);
	if (strcmp(c->service.socket, c->service.readonly_socket) == 0)
		return err_set(err, -EINVAL,
		               "[service] readonly_socket is the same path as socket ('%s')",
		               c->service.socket);
	if (c->backup.target == BACKUP_TARGET_FILE && c->backup.cluster_conf[0])
		return err_set(err, -EINVAL,
		               "[backup] cluster_conf is only used with target = pool, not file");
	if (!c->volumes.deferred_delete && c->volumes.trash_delay)
		return err_set(err, -EINVAL,
		               "[volumes] trash_delay is only used with deferred_delete = true");
	return 0;
}

/* What inih drops around a value (isspace() in the C locale). */
static bool ini_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

/*
 * inih drops the whitespace that ends a value, so a path ending in one (a directory
 * "/srv/x ", which a file can only give as "/srv/x /") would not read back the same: such a
 * path is printed with a slash after it, which check_path() drops again on reading.
 */
static const char *conf_dump_suffix(const struct conf_key *k, const char *text)
{
	size_t n = strlen(text);

	if (k->type == CONF_STRING && (k->check == check_path || k->check == check_socket_path) &&
	    n && ini_space(text[n - 1]))
		return "/";
	return "";
}

int conf_dump(const struct cairn_config *c, FILE *f)
{
	const char *section = NULL;

	fprintf(f, "# cairn configuration: the effective values\n");
	for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		const struct conf_key *k = &conf_keys[i];
		char buf[64];
		const char *text = conf_key_format(k, c, buf, sizeof(buf));

		if (!section || strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(f, "\n[%s]\n", section);
		}
		if (text && *text)
			fprintf(f, "%s = %s%s\n", k->key, text, conf_dump_suffix(k, text));
		else
			fprintf(f, "%s =\n", k->key);
	}
	if (fflush(f) == EOF || ferror(f))
		return -EIO;
	return 0;
}
