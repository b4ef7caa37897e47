/* SPDX-License-Identifier: MIT */
/* conf: cairn.conf parsing, defaults, validation, dump, example file and man page. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "conf/conf.h"

#define DATA     CAIRN_TEST_DATA_DIR "/conf/"
#define SRC_ROOT CAIRN_TEST_DATA_DIR "/../../"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)

/* ---- helpers ---------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct cairn_config *c = calloc(1, sizeof(*c));

	if (!c || conf_init_defaults(c) < 0) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	conf_release(*state);
	free(*state);
	return 0;
}

static int load(struct cairn_config *c, const char *text, struct cairn_err *err)
{
	err_clear(err);
	return conf_load_string(c, text, "cairn.conf", err);
}

/* conf_dump() into a string the caller frees. */
static char *dump(const struct cairn_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(conf_dump(c, f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *dump_defaults(void)
{
	struct cairn_config d;
	char *s;

	assert_int_equal(conf_init_defaults(&d), 0);
	s = dump(&d);
	conf_release(&d);
	return s;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Load "[section]\nkey = value\n" into a fresh default config; returns the load result. */
static int load_one(struct cairn_config *c, const char *section, const char *key, const char *value,
                    struct cairn_err *err)
{
	char text[512];

	snprintf(text, sizeof(text), "[%s]\n%s = %s\n", section, key, value);
	return load(c, text, err);
}

static void expect_value_error(struct cairn_config *c, const char *section, const char *key,
                               const char *value, int code)
{
	struct cairn_err err;
	char *before = dump(c);
	char *after;
	char prefix[128];
	int r = load_one(c, section, key, value, &err);

	if (r != code)
		print_error("[%s] %s = '%s': expected %d, got %d (%s)\n", section, key, value, code,
		            r, err.msg);
	assert_int_equal(r, code);
	assert_int_equal(err.code, code);
	/* every value error names the file, the line and the key */
	snprintf(prefix, sizeof(prefix), "cairn.conf:2: [%s] %s: ", section, key);
	assert_true(str_has_prefix(err.msg, prefix));
	/* and a failed load changes nothing */
	after = dump(c);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* One "section.key = value" of an INI text we wrote (dump, example, man page). */
struct entry {
	char section[32];
	char key[48];
	char value[200];
};

static size_t parse_entries(const char *text, struct entry *out, size_t max)
{
	char section[32] = "";
	size_t n = 0;
	const char *p = text;

	while (*p) {
		const char *nl = strchrnul(p, '\n');
		size_t len = (size_t)(nl - p);
		char line[256];

		assert_true(len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = *nl ? nl + 1 : nl;
		if (line[0] == '[') {
			char *end = strchr(line, ']');
			assert_non_null(end);
			*end = '\0';
			assert_int_equal(str_copy(section, sizeof(section), line + 1), 0);
		} else if (line[0] && line[0] != '#' && line[0] != ';') {
			char *eq = strchr(line, '=');
			char *k = line, *v, *e;

			assert_non_null(eq);
			*eq = '\0';
			for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
				e[-1] = '\0';
			for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
				;
			assert_true(n < max);
			assert_int_equal(str_copy(out[n].section, sizeof(out[n].section), section),
			                 0);
			assert_int_equal(str_copy(out[n].key, sizeof(out[n].key), k), 0);
			assert_int_equal(str_copy(out[n].value, sizeof(out[n].value), v), 0);
			n++;
		}
	}
	return n;
}

static size_t count_entry(const struct entry *e, size_t n, const char *section, const char *key)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].section, section) == 0 && strcmp(e[i].key, key) == 0)
			count++;
	return count;
}

/* ---- defaults --------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
	const struct cairn_config *c = *state;

	assert_string_equal(c->ceph.conf, "/etc/ceph/ceph.conf");
	assert_string_equal(c->ceph.user, "cairn");
	assert_string_equal(c->ceph.keyring, "");
	assert_string_equal(c->ceph.cluster_name, "ceph");
	assert_int_equal(c->ceph.mon_op_timeout, 10);
	assert_int_equal(c->ceph.osd_op_timeout, 10);
	assert_int_equal(c->ceph.client_mount_timeout, 10);
	assert_string_equal(c->ceph.secret_uuid, "");

	assert_string_equal(c->service.socket, "/run/cairn/cairn.sock");
	assert_string_equal(c->service.readonly_socket, "");
	assert_string_equal(c->service.socket_group, "");
	assert_int_equal(c->service.socket_mode, 0660);
	assert_int_equal(c->service.workers, 4);
	assert_int_equal(c->service.slow_workers_max, 0);
	assert_int_equal(conf_slow_workers(c), 2);
	assert_int_equal(c->service.queue_max, 256);
	assert_int_equal(c->service.max_connections, 256);
	assert_int_equal(c->service.max_body, 1 * MiB);
	assert_int_equal(c->service.max_header, 16 * KiB);
	assert_int_equal(c->service.log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->service.reconcile_interval, 60);
	assert_int_equal(c->service.operation_retention, 3600);
	assert_int_equal(c->service.shutdown_timeout, 30);

	assert_string_equal(c->pools.images, "images");
	assert_string_equal(c->pools.volumes, "volumes");
	assert_string_equal(c->pools.vms, "vms");
	assert_string_equal(c->pools.backups, "backups");
	assert_int_equal(c->pools.pg_num, 8);

	assert_int_equal(c->volumes.max_clone_depth, 8);
	assert_true(c->volumes.deferred_delete);
	assert_int_equal(c->volumes.trash_delay, 0);
	assert_int_equal(c->volumes.purge_interval, 30);
	assert_string_equal(c->volumes.default_features,
	                    "layering,exclusive-lock,object-map,fast-diff,deep-flatten");

	assert_int_equal(c->backup.target, BACKUP_TARGET_POOL);
	assert_string_equal(c->backup.directory, "/var/lib/cairn/backups");
	assert_string_equal(c->backup.cluster_conf, "");
	assert_int_equal(c->backup.chunk, 4 * MiB);
	assert_int_equal(c->backup.in_flight, 16);
	assert_int_equal(c->backup.keep_last, 0);

	assert_string_equal(c->import.directory, "/var/lib/cairn/import");
	assert_string_equal(c->import.qemu_img, "/usr/bin/qemu-img");
}

static void test_defaults_validate(void **state)
{
	struct cairn_err err = {0};

	assert_int_equal(conf_validate(*state, &err), 0);
	assert_int_equal(err.code, 0);
}

static void test_release_twice_and_null(void **state)
{
	struct cairn_config c;

	(void)state;
	assert_int_equal(conf_init_defaults(&c), 0);
	conf_release(&c);
	assert_null(c.ceph.conf);
	conf_release(&c);
	conf_release(NULL);
}

static void test_empty_and_comments_keep_defaults(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;
	char *before = dump(c), *after;

	assert_int_equal(load(c, "", &err), 0);
	assert_int_equal(load(c, "# nothing\n; nothing either\n\n[service]\n\n[pools]\n", &err), 0);
	after = dump(c);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* ---- types ------------------------------------------------------------------------------ */

static void test_string_owned_and_last_wins(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;
	char text[] = "[service]\nsocket = /tmp/a.sock\nsocket = /tmp/b.sock\n";

	assert_int_equal(load(c, text, &err), 0);
	assert_string_equal(c->service.socket, "/tmp/b.sock");
	/* owned: not a pointer into the text */
	assert_true(c->service.socket < text || c->service.socket >= text + sizeof(text));
	memset(text, 'x', sizeof(text) - 1);
	assert_string_equal(c->service.socket, "/tmp/b.sock");
	/* a key that was not given keeps its value */
	assert_string_equal(c->ceph.conf, "/etc/ceph/ceph.conf");

	/* required strings must not be empty; optional ones may */
	expect_value_error(c, "ceph", "user", "", -EINVAL);
	assert_int_equal(load(c, "[ceph]\nkeyring = /etc/ceph/k\n", &err), 0);
	assert_string_equal(c->ceph.keyring, "/etc/ceph/k");
	assert_int_equal(load(c, "[ceph]\nkeyring =\n", &err), 0);
	assert_string_equal(c->ceph.keyring, "");
}

static void test_bool(void **state)
{
	struct cairn_config *c = *state;
	static const struct {
		const char *text;
		bool value;
	} good[] = {
	        {"true", true}, {"false", false}, {"yes", true}, {"no", false},  {"on", true},
	        {"off", false}, {"1", true},      {"0", false},  {"TRUE", true}, {"Off", false},
	};
	static const char *const bad[] = {"maybe", "2", "", "ye", "truee", "-1"};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		c->volumes.deferred_delete = !good[i].value;
		assert_int_equal(load_one(c, "volumes", "deferred_delete", good[i].text, &err), 0);
		assert_int_equal(c->volumes.deferred_delete, good[i].value);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_value_error(c, "volumes", "deferred_delete", bad[i], -EINVAL);
	load_one(c, "volumes", "deferred_delete", "maybe", &err);
	assert_string_equal(err.msg, "cairn.conf:2: [volumes] deferred_delete: 'maybe' is not a "
	                             "boolean (true/false, yes/no, on/off, 1/0)");
}

static void test_uint_limits(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	assert_int_equal(load_one(c, "service", "workers", "1", &err), 0);
	assert_int_equal(c->service.workers, 1);
	assert_int_equal(load_one(c, "service", "workers", "128", &err), 0);
	assert_int_equal(c->service.workers, 128);
	assert_int_equal(load_one(c, "service", "workers", "007", &err), 0);
	assert_int_equal(c->service.workers, 7);

	expect_value_error(c, "service", "workers", "0", -ERANGE);
	load_one(c, "service", "workers", "0", &err);
	assert_string_equal(err.msg, "cairn.conf:2: [service] workers: '0' is out of range 1..128");
	expect_value_error(c, "service", "workers", "129", -ERANGE);
	expect_value_error(c, "service", "workers", "99999999999999999999999", -ERANGE);
	expect_value_error(c, "service", "workers", "-1", -EINVAL);
	expect_value_error(c, "service", "workers", "+4", -EINVAL);
	expect_value_error(c, "service", "workers", "4x", -EINVAL);
	expect_value_error(c, "service", "workers", "0x10", -EINVAL);
	expect_value_error(c, "service", "workers", "4 5", -EINVAL);
	expect_value_error(c, "service", "workers", "", -EINVAL);
	load_one(c, "service", "workers", "four", &err);
	assert_string_equal(err.msg, "cairn.conf:2: [service] workers: 'four' is not a whole "
	                             "number");

	/* keys that allow it take an empty value as 0 */
	assert_int_equal(load_one(c, "service", "slow_workers_max", "3", &err), 0);
	assert_int_equal(c->service.slow_workers_max, 3);
	assert_int_equal(load_one(c, "service", "slow_workers_max", "", &err), 0);
	assert_int_equal(c->service.slow_workers_max, 0);

	/* other limits of the table */
	expect_value_error(c, "volumes", "max_clone_depth", "65", -ERANGE);
	expect_value_error(c, "backup", "in_flight", "257", -ERANGE);
	expect_value_error(c, "service", "queue_max", "0", -ERANGE);
	assert_int_equal(load_one(c, "backup", "keep_last", "0", &err), 0);
}

static void test_mode(void **state)
{
	struct cairn_config *c = *state;
	static const struct {
		const char *text;
		uint32_t mode;
	} good[] = {{"0660", 0660}, {"660", 0660},  {"0600", 0600},
	            {"0", 0},       {"0770", 0770}, {"00640", 0640}};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(load_one(c, "service", "socket_mode", good[i].text, &err), 0);
		assert_int_equal(c->service.socket_mode, good[i].mode);
	}
	expect_value_error(c, "service", "socket_mode", "0668", -EINVAL);
	expect_value_error(c, "service", "socket_mode", "abc", -EINVAL);
	expect_value_error(c, "service", "socket_mode", "rw-rw----", -EINVAL);
	expect_value_error(c, "service", "socket_mode", "", -EINVAL);
	expect_value_error(c, "service", "socket_mode", "-660", -EINVAL);
	expect_value_error(c, "service", "socket_mode", "01660", -ERANGE);
	expect_value_error(c, "service", "socket_mode", "777777", -ERANGE);
	/* writable by every local user: refused */
	expect_value_error(c, "service", "socket_mode", "0666", -EINVAL);
	load_one(c, "service", "socket_mode", "0668", &err);
	assert_string_equal(err.msg, "cairn.conf:2: [service] socket_mode: '0668' is not an octal "
	                             "mode (e.g. 0660)");
}

static void test_size(void **state)
{
	struct cairn_config *c = *state;
	static const struct {
		const char *key, *text;
		uint64_t bytes;
	} good[] = {
	        {"max_body", "4M", 4 * MiB},     {"max_body", "512K", 512 * KiB},
	        {"max_body", "1048576", MiB},    {"max_body", "1.5M", 3 * MiB / 2},
	        {"max_body", "2MiB", 2 * MiB},   {"max_body", "64M", 64 * MiB},
	        {"max_header", "1K", KiB},       {"max_header", "1M", MiB},
	        {"max_header", "8192", 8 * KiB}, {"max_header", "32k", 32 * KiB},
	};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(load_one(c, "service", good[i].key, good[i].text, &err), 0);
		assert_int_equal(strcmp(good[i].key, "max_body") == 0 ? c->service.max_body
		                                                      : c->service.max_header,
		                 good[i].bytes);
	}
	assert_int_equal(load_one(c, "backup", "chunk", "8M", &err), 0);
	assert_int_equal(c->backup.chunk, 8 * MiB);

	expect_value_error(c, "service", "max_body", "4Q", -EINVAL);
	expect_value_error(c, "service", "max_body", "-1", -EINVAL);
	expect_value_error(c, "service", "max_body", "M", -EINVAL);
	expect_value_error(c, "service", "max_body", "", -EINVAL);
	expect_value_error(c, "service", "max_body", "65M", -ERANGE);
	expect_value_error(c, "service", "max_body", "99999999999999999999", -ERANGE);
	expect_value_error(c, "service", "max_header", "1023", -ERANGE);
	expect_value_error(c, "service", "max_header", "2M", -ERANGE);
	expect_value_error(c, "backup", "chunk", "6K", -EINVAL); /* not a multiple of 4K */
	load_one(c, "service", "max_header", "2M", &err);
	assert_string_equal(err.msg,
	                    "cairn.conf:2: [service] max_header: '2M' is out of range 1K..1M");
}

static void test_duration(void **state)
{
	struct cairn_config *c = *state;
	static const struct {
		const char *text;
		uint32_t seconds;
	} good[] = {
	        {"30", 30},     {"30s", 30},   {"5m", 300},  {"1h", 3600},        {"1h30m", 5400},
	        {"2d", 172800}, {"1m30s", 90}, {"0090", 90}, {"1d1h1m1s", 90061},
	};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(load_one(c, "service", "operation_retention", good[i].text, &err),
		                 0);
		assert_int_equal(c->service.operation_retention, good[i].seconds);
	}
	assert_int_equal(load_one(c, "volumes", "trash_delay", "0", &err), 0);
	assert_int_equal(c->volumes.trash_delay, 0);
	assert_int_equal(load_one(c, "ceph", "mon_op_timeout", "1h", &err), 0);
	assert_int_equal(c->ceph.mon_op_timeout, 3600);

	expect_value_error(c, "service", "operation_retention", "5x", -EINVAL);
	expect_value_error(c, "service", "operation_retention", "m", -EINVAL);
	expect_value_error(c, "service", "operation_retention", "1.5m", -EINVAL);
	expect_value_error(c, "service", "operation_retention", "", -EINVAL);
	expect_value_error(c, "service", "operation_retention", "-1", -EINVAL);
	expect_value_error(c, "service", "operation_retention", "1m30", -EINVAL);
	expect_value_error(c, "service", "operation_retention", "5 m", -EINVAL);
	expect_value_error(c, "service", "operation_retention", "99999999999s", -ERANGE);
	expect_value_error(c, "service", "operation_retention", "31d", -ERANGE);
	expect_value_error(c, "ceph", "mon_op_timeout", "0", -ERANGE);
	expect_value_error(c, "ceph", "mon_op_timeout", "61m", -ERANGE);
	load_one(c, "ceph", "osd_op_timeout", "0s", &err);
	assert_string_equal(err.msg,
	                    "cairn.conf:2: [ceph] osd_op_timeout: '0s' is out of range 1s..1h");
}

static void test_enum(void **state)
{
	struct cairn_config *c = *state;
	static const struct {
		const char *text;
		enum log_level level;
	} good[] = {{"error", LOG_LEVEL_ERR},
	            {"warning", LOG_LEVEL_WARN},
	            {"info", LOG_LEVEL_INFO},
	            {"debug", LOG_LEVEL_DEBUG},
	            {"DEBUG", LOG_LEVEL_DEBUG}};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(load_one(c, "service", "log_level", good[i].text, &err), 0);
		assert_int_equal(c->service.log_level, good[i].level);
	}
	expect_value_error(c, "service", "log_level", "verbose", -EINVAL);
	expect_value_error(c, "service", "log_level", "", -EINVAL);
	load_one(c, "service", "log_level", "verbose", &err);
	assert_string_equal(err.msg, "cairn.conf:2: [service] log_level: 'verbose' is not one of: "
	                             "error, warning, info, debug");

	assert_int_equal(load_one(c, "backup", "target", "file", &err), 0);
	assert_int_equal(c->backup.target, BACKUP_TARGET_FILE);
	assert_int_equal(load_one(c, "backup", "target", "pool", &err), 0);
	assert_int_equal(c->backup.target, BACKUP_TARGET_POOL);
	expect_value_error(c, "backup", "target", "tape", -EINVAL);

	assert_string_equal(backup_target_to_string(BACKUP_TARGET_FILE), "file");
	assert_null(backup_target_to_string(BACKUP_TARGET_MAX));
	assert_int_equal(backup_target_from_string("pool"), BACKUP_TARGET_POOL);
	assert_int_equal(backup_target_from_string("Pool"), -EINVAL);
}

/* ---- syntax and messages ---------------------------------------------------------------- */

static void test_unknown_section(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	assert_int_equal(load(c, "[ceph]\nuser = a\n\n[cepth]\nuser = b\n", &err), -EINVAL);
	assert_string_equal(err.msg, "cairn.conf:5: unknown section [cepth]");
	assert_string_equal(c->ceph.user, "cairn"); /* nothing of the failed load stays */
	/* sections and keys are case-sensitive */
	assert_int_equal(load(c, "[Ceph]\nuser = b\n", &err), -EINVAL);
	assert_string_equal(err.msg, "cairn.conf:2: unknown section [Ceph]");
}

static void test_unknown_key(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err = {0};
	const char *text = "# cairn\n\n[ceph]\nuser = cairn\n\n"
	                   "[service]\n; comment\nsocket = /run/cairn/cairn.sock\n\n\n"
	                   "workers = 4\n"
	                   "wokers = 8\n";

	assert_int_equal(conf_load_string(c, text, "/etc/cairn/cairn.conf", &err), -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_string_equal(err.msg,
	                    "/etc/cairn/cairn.conf:12: unknown key 'wokers' in section [service]");
	/* a key of another section is unknown here too */
	assert_int_equal(load(c, "[service]\nuser = x\n", &err), -EINVAL);
	assert_string_equal(err.msg, "cairn.conf:2: unknown key 'user' in section [service]");
	/* the name defaults when none is given */
	err_clear(&err);
	assert_int_equal(conf_load_string(c, "[x]\na=1\n", NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "<string>:2: unknown section [x]");
}

static void test_key_outside_section(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	assert_int_equal(load(c, "\nworkers = 4\n[service]\n", &err), -EINVAL);
	assert_string_equal(err.msg, "cairn.conf:2: key 'workers' is outside of any section");
}

static void test_syntax_error(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	assert_int_equal(load(c, "[service]\nworkers 4\n", &err), -EINVAL);
	assert_string_equal(err.msg, "cairn.conf:2: syntax error: expected '[section]', "
	                             "'key = value' or a comment");
	assert_int_equal(load(c, "\n\n[service\nworkers = 4\n", &err), -EINVAL);
	assert_true(str_has_prefix(err.msg, "cairn.conf:3: syntax error"));
}

static void test_first_error_wins(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	/* a syntax error before a bad key */
	assert_int_equal(load(c, "[service]\nworkers = 2\nnonsense\nworkers = 0\nfoo = 1\n", &err),
	                 -EINVAL);
	assert_true(str_has_prefix(err.msg, "cairn.conf:3: syntax error"));
	/* a bad value before a syntax error */
	assert_int_equal(load(c, "[service]\nworkers = 2\nworkers = 0\nnonsense\n", &err), -ERANGE);
	assert_string_equal(err.msg, "cairn.conf:3: [service] workers: '0' is out of range 1..128");
	assert_int_equal(c->service.workers, 4);
}

static void test_comments_indent_crlf(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;
	const char *text = "\xef\xbb\xbf# a BOM, then comments\r\n"
	                   "[service]\r\n"
	                   "    workers = 8   ; eight\r\n"
	                   "\tqueue_max = 100\r\n"
	                   "  socket_group = kvm\n"
	                   "[ceph]\n"
	                   "  conf: /etc/ceph/other.conf\n"
	                   "  keyring = /etc/ceph/a;b\n";

	assert_int_equal(load(c, text, &err), 0);
	assert_int_equal(c->service.workers, 8);
	/* indented keys are keys, not continuations of the value above */
	assert_int_equal(c->service.queue_max, 100);
	assert_string_equal(c->service.socket_group, "kvm");
	assert_string_equal(c->ceph.conf, "/etc/ceph/other.conf");
	/* ';' starts a comment only after whitespace */
	assert_string_equal(c->ceph.keyring, "/etc/ceph/a;b");
	/* '#' inside a value is part of it */
	expect_value_error(c, "service", "workers", "8 # eight", -EINVAL);
}

static void test_long_line(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;
	char text[1024];
	char path[400];

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(text, sizeof(text), "[import]\n\ndirectory = %s\nqemu_img = /bin/true\n", path);
	assert_int_equal(load(c, text, &err), -EINVAL);
	assert_string_equal(err.msg, "cairn.conf:3: line is longer than 199 characters");
	assert_string_equal(c->import.directory, "/var/lib/cairn/import");

	/* 199 characters fit */
	memset(path, 'b', sizeof(path));
	path[0] = '/';
	path[199 - strlen("directory = ")] = '\0';
	snprintf(text, sizeof(text), "[import]\ndirectory = %s\n", path);
	assert_int_equal(load(c, text, &err), 0);
	assert_string_equal(c->import.directory, path);
}

/* ---- rules of single keys --------------------------------------------------------------- */

static void test_pool_name_invalid(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;
	char long_name[80];

	assert_int_equal(load_one(c, "pools", "volumes", "cinder-volumes_2.x", &err), 0);
	assert_string_equal(c->pools.volumes, "cinder-volumes_2.x");
	expect_value_error(c, "pools", "images", "-images", -EINVAL);
	expect_value_error(c, "pools", "vms", "my/vms", -EINVAL);
	expect_value_error(c, "pools", "backups", "back ups", -EINVAL);
	expect_value_error(c, "pools", "volumes", "", -EINVAL);
	memset(long_name, 'p', sizeof(long_name) - 1);
	long_name[64] = '\0';
	expect_value_error(c, "pools", "volumes", long_name, -EINVAL);
	load_one(c, "pools", "vms", "my/vms", &err);
	assert_true(str_has_prefix(err.msg, "cairn.conf:2: [pools] vms: 'my/vms': pool name "));
}

static void test_pool_names_distinct(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	assert_int_equal(load(c, "[pools]\nimages = rbd\nvms = rbd\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_string_equal(err.msg, "[pools] images and vms are both 'rbd': each role needs a "
	                             "pool of its own");
	assert_int_equal(load(c, "[pools]\nvms = vms\nbackups = volumes\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_true(strstr(err.msg, "volumes and backups are both 'volumes'") != NULL);
	assert_int_equal(load(c, "[pools]\nimages = glance\nbackups = bk\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), 0);
}

static void test_pool_roles(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	assert_int_equal(load(c, "[pools]\nimages = i\nvolumes = v\nvms = m\nbackups = b\n", &err),
	                 0);
	for (int i = 0; i < POOL_ROLE_MAX; i++) {
		const char *name = pool_role_to_string((enum pool_role)i);
		assert_non_null(name);
		assert_int_equal(pool_role_from_string(name), i);
	}
	assert_string_equal(pool_role_to_string(POOL_ROLE_VMS), "vms");
	assert_string_equal(conf_pool_name(c, POOL_ROLE_IMAGES), "i");
	assert_string_equal(conf_pool_name(c, POOL_ROLE_VOLUMES), "v");
	assert_string_equal(conf_pool_name(c, POOL_ROLE_VMS), "m");
	assert_string_equal(conf_pool_name(c, POOL_ROLE_BACKUPS), "b");
	assert_null(conf_pool_name(c, POOL_ROLE_MAX));
	assert_null(pool_role_to_string(POOL_ROLE_MAX));
	assert_int_equal(pool_role_from_string("image"), -EINVAL);
	assert_int_equal(pool_role_from_string(NULL), -EINVAL);
}

static void test_pg_num(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	assert_int_equal(load_one(c, "pools", "pg_num", "32", &err), 0);
	assert_int_equal(c->pools.pg_num, 32);
	assert_int_equal(load_one(c, "pools", "pg_num", "1", &err), 0);
	expect_value_error(c, "pools", "pg_num", "12", -EINVAL);
	expect_value_error(c, "pools", "pg_num", "0", -ERANGE);
	expect_value_error(c, "pools", "pg_num", "65536", -ERANGE);
}

static void test_ceph_keys(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	assert_int_equal(load_one(c, "ceph", "user", "libvirt", &err), 0);
	assert_string_equal(c->ceph.user, "libvirt");
	expect_value_error(c, "ceph", "user", "client.admin", -EINVAL);
	load_one(c, "ceph", "user", "client.admin", &err);
	assert_string_equal(err.msg, "cairn.conf:2: [ceph] user: 'client.admin': give the id "
	                             "without 'client.' ('admin')");
	expect_value_error(c, "ceph", "cluster_name", "my cluster", -EINVAL);

	/* secret_uuid: a UUID in either case, kept in lowercase; empty means none */
	assert_int_equal(
	        load_one(c, "ceph", "secret_uuid", "3E1B4A4C-0D6F-4A55-9C3E-5C1F0B2A7D10", &err),
	        0);
	assert_string_equal(c->ceph.secret_uuid, "3e1b4a4c-0d6f-4a55-9c3e-5c1f0b2a7d10");
	expect_value_error(c, "ceph", "secret_uuid", "3e1b4a4c0d6f4a559c3e5c1f0b2a7d10", -EINVAL);
	expect_value_error(c, "ceph", "secret_uuid", "not-a-uuid", -EINVAL);
	expect_value_error(c, "ceph", "secret_uuid", "3e1b4a4c-0d6f-4a55-9c3e-5c1f0b2a7d1g",
	                   -EINVAL);
	assert_int_equal(load_one(c, "ceph", "secret_uuid", "", &err), 0);
	assert_string_equal(c->ceph.secret_uuid, "");
}

static void test_paths(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;
	char sock[120];

	assert_int_equal(load_one(c, "import", "directory", "/srv/images/", &err), 0);
	assert_string_equal(c->import.directory, "/srv/images"); /* trailing slash dropped */
	assert_int_equal(load_one(c, "import", "directory", "/", &err), 0);
	assert_string_equal(c->import.directory, "/");
	assert_int_equal(load_one(c, "import", "directory", "/srv/a..b", &err), 0);
	expect_value_error(c, "import", "directory", "srv/images", -EINVAL);
	expect_value_error(c, "import", "directory", "/srv/../etc", -EINVAL);
	expect_value_error(c, "import", "directory", "/srv/..", -EINVAL);
	expect_value_error(c, "import", "qemu_img", "qemu-img", -EINVAL);
	expect_value_error(c, "ceph", "keyring", "ceph.keyring", -EINVAL);
	expect_value_error(c, "backup", "cluster_conf", "~/ceph.conf", -EINVAL);
	load_one(c, "ceph", "conf", "ceph.conf", &err);
	assert_string_equal(err.msg,
	                    "cairn.conf:2: [ceph] conf: 'ceph.conf' is not an absolute path");

	/* a socket path must fit in sun_path (108 bytes with the NUL) */
	memset(sock, 's', sizeof(sock));
	sock[0] = '/';
	sock[107] = '\0';
	assert_int_equal(load_one(c, "service", "socket", sock, &err), 0);
	sock[107] = 's';
	sock[108] = '\0';
	expect_value_error(c, "service", "socket", sock, -ENAMETOOLONG);
	expect_value_error(c, "service", "readonly_socket", sock, -ENAMETOOLONG);
}

static void test_socket_group(void **state)
{
	struct cairn_config *c = *state;
	static const char *const good[] = {"kvm", "libvirt-qemu", "_cairn",  "1000",
	                                   "0",   "machine$",     "Admins.1"};
	static const char *const bad[] = {"1a",
	                                  "a b",
	                                  "a:b",
	                                  "-kvm",
	                                  "a$b",
	                                  "99999999999",
	                                  "abcdefghijabcdefghijabcdefghijabc"};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(load_one(c, "service", "socket_group", good[i], &err), 0);
		assert_string_equal(c->service.socket_group, good[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_value_error(c, "service", "socket_group", bad[i], -EINVAL);
}

static void test_features(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	assert_int_equal(load_one(c, "volumes", "default_features",
	                          "layering, exclusive-lock ,object-map", &err),
	                 0);
	assert_string_equal(c->volumes.default_features, "layering,exclusive-lock,object-map");
	assert_int_equal(load_one(c, "volumes", "default_features", "layering", &err), 0);
	assert_string_equal(c->volumes.default_features, "layering");
	expect_value_error(c, "volumes", "default_features", "layering,bogus", -EINVAL);
	expect_value_error(c, "volumes", "default_features", "layering,,striping", -EINVAL);
	expect_value_error(c, "volumes", "default_features", "layering,layering", -EINVAL);
	expect_value_error(c, "volumes", "default_features", "layering deep-flatten", -EINVAL);
	expect_value_error(c, "volumes", "default_features", "exclusive-lock", -EINVAL);
	expect_value_error(c, "volumes", "default_features", "layering,object-map", -EINVAL);
	expect_value_error(c, "volumes", "default_features", "layering,exclusive-lock,fast-diff",
	                   -EINVAL);
	load_one(c, "volumes", "default_features", "layering,exclusive-lock,fast-diff", &err);
	assert_string_equal(err.msg, "cairn.conf:2: [volumes] default_features: feature "
	                             "'fast-diff' needs 'object-map'");
}

/* ---- rules across keys ------------------------------------------------------------------ */

static void test_cross_field_rules(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err;

	/* slow work may use at most half of the workers */
	assert_int_equal(load(c, "[service]\nworkers = 4\nslow_workers_max = 5\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_string_equal(err.msg, "[service] slow_workers_max (5) is more than half of workers "
	                             "(4): slow work may use at most 2 of them");
	assert_int_equal(load(c, "[service]\nslow_workers_max = 3\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_string_equal(err.msg, "[service] slow_workers_max (3) is more than half of workers "
	                             "(4): slow work may use at most 2 of them");
	assert_int_equal(load(c, "[service]\nworkers = 5\nslow_workers_max = 3\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_true(strstr(err.msg, "at most 2 of them") != NULL); /* half of 5, rounded down */
	assert_int_equal(load(c, "[service]\nworkers = 4\nslow_workers_max = 2\n", &err), 0);
	assert_int_equal(conf_validate(c, &err), 0);
	assert_int_equal(conf_slow_workers(c), 2);
	assert_int_equal(load(c, "[service]\nworkers = 1\nslow_workers_max = 1\n", &err), 0);
	assert_int_equal(conf_validate(c, &err), 0); /* half of one is still one */
	assert_int_equal(conf_slow_workers(c), 1);
	assert_int_equal(load(c, "[service]\nslow_workers_max = 2\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_true(strstr(err.msg, "at most 1 of them") != NULL);
	assert_int_equal(load(c, "[service]\nworkers = 1\nslow_workers_max =\n", &err), 0);
	assert_int_equal(conf_slow_workers(c), 1); /* half of one is still one */
	assert_int_equal(load(c, "[service]\nworkers = 9\n", &err), 0);
	assert_int_equal(conf_slow_workers(c), 4);

	assert_int_equal(load(c, "[service]\nreadonly_socket = /run/cairn/cairn.sock\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_true(strstr(err.msg, "readonly_socket is the same path as socket") != NULL);
	assert_int_equal(load(c, "[service]\nreadonly_socket = /run/cairn/ro.sock\n", &err), 0);
	assert_int_equal(conf_validate(c, &err), 0);

	assert_int_equal(
	        load(c, "[backup]\ntarget = file\ncluster_conf = /etc/ceph/b.conf\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_true(strstr(err.msg, "[backup] cluster_conf") != NULL);
	assert_int_equal(load(c, "[backup]\ntarget = pool\n", &err), 0);
	assert_int_equal(conf_validate(c, &err), 0);

	assert_int_equal(load(c, "[volumes]\ndeferred_delete = no\ntrash_delay = 1h\n", &err), 0);
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_true(strstr(err.msg, "[volumes] trash_delay") != NULL);
}

/* conf_validate() checks a struct filled in code like a file. */
static void test_validate_fields_set_in_code(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err = {0};
	char *saved;

	c->service.workers = 0;
	assert_int_equal(conf_validate(c, &err), -ERANGE);
	assert_string_equal(err.msg, "[service] workers: '0' is out of range 1..128");
	c->service.workers = 4;

	c->service.socket_mode = 01660;
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -ERANGE);
	c->service.socket_mode = 0660;

	c->service.log_level = LOG_LEVEL_MAX;
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_string_equal(err.msg, "[service] log_level: not set or not a valid value");
	c->service.log_level = LOG_LEVEL_DEBUG;

	saved = c->pools.images;
	c->pools.images = (char *)"bad/name";
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	assert_true(str_has_prefix(err.msg, "[pools] images: 'bad/name'"));
	c->pools.images = NULL;
	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), -EINVAL);
	c->pools.images = saved;

	err_clear(&err);
	assert_int_equal(conf_validate(c, &err), 0);
}

/* ---- files, reloads, dump --------------------------------------------------------------- */

static void test_missing_file(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err = {0};
	const char *path = DATA "does-not-exist.conf";

	assert_int_equal(conf_load_file(c, path, &err), -ENOENT);
	assert_int_equal(err.code, -ENOENT);
	assert_non_null(strstr(err.msg, path));
	assert_true(str_has_prefix(err.msg, "cannot open configuration file '"));

	/* a directory is not a file either */
	err_clear(&err);
	assert_int_equal(conf_load_file(c, DATA, &err), -EISDIR);
	assert_true(str_has_prefix(err.msg, "cannot read '"));

	/* the default path may be missing: then nothing changes */
	err_clear(&err);
	if (access(CONF_DEFAULT_PATH, F_OK) < 0 && errno == ENOENT) {
		assert_int_equal(conf_load_file(c, NULL, &err), 0);
		assert_int_equal(err.code, 0);
	} else {
		struct cairn_err err2 = {0};
		int r = conf_load_file(c, NULL, &err);
		assert_int_equal(r, conf_load_file(c, CONF_DEFAULT_PATH, &err2));
		assert_string_equal(err.msg, err2.msg);
	}
}

static void test_file_errors_name_path_and_line(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err = {0};

	assert_int_equal(conf_load_file(c, DATA "bad-value.conf", &err), -ERANGE);
	assert_string_equal(err.msg, DATA "bad-value.conf:9: [backup] in_flight: '512' is out of "
	                                  "range 1..256");
	assert_int_equal(c->backup.in_flight, 16);
	assert_string_equal(c->pools.images, "images"); /* line 4 did not stick either */
}

static void test_full_file_and_dump_roundtrip(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_config again;
	struct cairn_err err = {0};
	char *a, *b, *defaults;

	assert_int_equal(conf_load_file(c, DATA "full.conf", &err), 1);
	assert_int_equal(conf_validate(c, &err), 0);
	assert_string_equal(c->ceph.user, "libvirt");
	assert_string_equal(c->ceph.keyring, "/etc/ceph/ceph.client.libvirt.keyring");
	assert_int_equal(c->ceph.client_mount_timeout, 90);
	assert_string_equal(c->service.readonly_socket, "/run/cairn/cairn-ro.sock");
	assert_int_equal(c->service.socket_mode, 0640);
	assert_int_equal(c->service.slow_workers_max, 3);
	assert_int_equal(c->service.max_body, 2 * MiB);
	assert_int_equal(c->service.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->service.operation_retention, 2 * 86400);
	assert_string_equal(c->pools.backups, "cairn-backups");
	assert_false(c->volumes.deferred_delete);
	assert_string_equal(c->volumes.default_features, "layering,exclusive-lock");
	assert_int_equal(c->backup.target, BACKUP_TARGET_FILE);
	assert_int_equal(c->backup.chunk, 8 * MiB);
	assert_int_equal(c->backup.keep_last, 7);
	assert_int_equal(c->backup.keep_daily, 14);
	assert_int_equal(c->backup.keep_weekly, 8);
	assert_string_equal(c->import.qemu_img, "/usr/local/bin/qemu-img");

	/* every key differs from its default, and the dump reads back to the same values */
	a = dump(c);
	defaults = dump_defaults();
	{
		struct entry da[64], dd[64];
		size_t na = parse_entries(a, da, ARRAY_SIZE(da));
		size_t nd = parse_entries(defaults, dd, ARRAY_SIZE(dd));

		assert_int_equal(na, nd);
		for (size_t i = 0; i < na; i++) {
			assert_string_equal(da[i].key, dd[i].key);
			/* these two must stay at their default for the file to validate */
			if (strcmp(da[i].key, "cluster_conf") == 0 ||
			    strcmp(da[i].key, "trash_delay") == 0)
				continue;
			if (strcmp(da[i].value, dd[i].value) == 0)
				fail_msg("full.conf leaves [%s] %s at its default", da[i].section,
				         da[i].key);
		}
	}
	assert_int_equal(conf_init_defaults(&again), 0);
	assert_int_equal(conf_load_string(&again, a, "dump", &err), 0);
	b = dump(&again);
	assert_string_equal(a, b);
	conf_release(&again);
	free(a);
	free(b);
	free(defaults);
}

/*
 * Values that end in whitespace: inih drops it from a line, so the only way to have one is a
 * path given with a slash after it ("/srv/x /", a directory "x "). The dump must read back
 * to the same value, and dumping that again gives the same text.
 */
static void test_dump_roundtrip_trailing_space(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_config again;
	struct cairn_err err = {0};
	_cleanup_(freep) char *a = NULL, *b = NULL;

	assert_int_equal(load(c,
	                      "[backup]\ndirectory = /srv/x /\n"
	                      "[import]\ndirectory = /srv/y\t/\nqemu_img = /opt/q  /\n"
	                      "[service]\nsocket = /run/s /\nreadonly_socket = /run/r/\n",
	                      &err),
	                 0);
	assert_string_equal(c->backup.directory, "/srv/x ");
	assert_string_equal(c->import.directory, "/srv/y\t");
	assert_string_equal(c->import.qemu_img, "/opt/q  ");
	assert_string_equal(c->service.socket, "/run/s ");
	assert_string_equal(c->service.readonly_socket, "/run/r");
	assert_int_equal(conf_validate(c, &err), 0);

	a = dump(c);
	assert_non_null(strstr(a, "\ndirectory = /srv/x /\n"));
	assert_non_null(strstr(a, "\nreadonly_socket = /run/r\n")); /* no slash when not needed */
	assert_int_equal(conf_init_defaults(&again), 0);
	assert_int_equal(conf_load_string(&again, a, "dump", &err), 0);
	assert_string_equal(again.backup.directory, "/srv/x ");
	assert_string_equal(again.import.directory, "/srv/y\t");
	assert_string_equal(again.import.qemu_img, "/opt/q  ");
	assert_string_equal(again.service.socket, "/run/s ");
	assert_string_equal(again.service.readonly_socket, "/run/r");
	b = dump(&again);
	assert_string_equal(a, b);
	conf_release(&again);
}

static void test_reload_without_leak(void **state)
{
	struct cairn_config *c = *state;
	struct cairn_err err = {0};
	char *first, *second;

	/* loading twice replaces every string; valgrind/ASan see any leak */
	assert_int_equal(conf_load_file(c, DATA "full.conf", &err), 1);
	first = dump(c);
	assert_int_equal(conf_load_file(c, DATA "full.conf", &err), 1);
	second = dump(c);
	assert_string_equal(first, second);

	/* a failed load in the middle of a file leaves the previous values */
	assert_int_equal(conf_load_file(c, DATA "bad-value.conf", &err), -ERANGE);
	free(second);
	second = dump(c);
	assert_string_equal(first, second);

	/* and defaults on top of a loaded config are a fresh start after a release */
	conf_release(c);
	assert_int_equal(conf_init_defaults(c), 0);
	assert_string_equal(c->ceph.user, "cairn");
	free(first);
	free(second);
}

/* ---- the example file and the man page agree with the table ----------------------------- */

static void assert_same_keys(const struct entry *doc, size_t ndoc, const char *what)
{
	_cleanup_(freep) char *defaults = dump_defaults();
	struct entry keys[64];
	size_t n = parse_entries(defaults, keys, ARRAY_SIZE(keys));

	assert_true(n >= 40);
	for (size_t i = 0; i < n; i++)
		if (count_entry(doc, ndoc, keys[i].section, keys[i].key) != 1)
			fail_msg("%s: [%s] %s appears %zu times", what, keys[i].section,
			         keys[i].key, count_entry(doc, ndoc, keys[i].section, keys[i].key));
	assert_int_equal(ndoc, n);
}

static void assert_loads_to_defaults(const char *text, const char *name)
{
	struct cairn_config c;
	struct cairn_err err = {0};
	_cleanup_(freep) char *defaults = dump_defaults();
	_cleanup_(freep) char *got = NULL;

	assert_int_equal(conf_init_defaults(&c), 0);
	/* start from other values, so equal means the text set them */
	assert_int_equal(conf_load_file(&c, DATA "full.conf", &err), 1);
	if (conf_load_string(&c, text, name, &err) < 0)
		fail_msg("%s", err.msg);
	got = dump(&c);
	assert_int_equal(conf_validate(&c, &err), 0);
	conf_release(&c);
	assert_string_equal(got, defaults);
}

static void test_example_file(void **state)
{
	const char *path = SRC_ROOT "conf/cairn.conf.example";
	_cleanup_(freep) char *text = read_text(path);
	_cleanup_(freep) char *uncommented = strdup(text);
	struct cairn_config c;
	struct cairn_err err = {0};
	_cleanup_(freep) char *defaults = dump_defaults();
	_cleanup_(freep) char *got = NULL;
	struct entry e[128];
	size_t n;
	char *o = uncommented;

	(void)state;
	/* as shipped, every key is commented out: it loads and changes nothing */
	assert_int_equal(conf_init_defaults(&c), 0);
	assert_int_equal(conf_load_file(&c, path, &err), 1);
	got = dump(&c);
	conf_release(&c);
	assert_string_equal(got, defaults);

	/* "#key = value" lines uncommented: every key once, in its section, at its default */
	for (const char *p = text; *p;) {
		const char *nl = strchrnul(p, '\n');
		size_t len = (size_t)(nl - p) + (*nl ? 1 : 0);
		size_t klen = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz_");

		if (p[0] == '#' && klen > 0 && (p[1 + klen] == ' ' || p[1 + klen] == '=')) {
			memmove(o, p + 1, len - 1);
			o += len - 1;
		} else {
			memmove(o, p, len);
			o += len;
		}
		p += len;
	}
	*o = '\0';
	n = parse_entries(uncommented, e, ARRAY_SIZE(e));
	assert_same_keys(e, n, "conf/cairn.conf.example");
	assert_loads_to_defaults(uncommented, "cairn.conf.example (uncommented)");
}

/* Where a man page entry that starts at s ends: at the next .TP, .SS or .SH. */
static const char *entry_end(const char *s)
{
	static const char *const marks[] = {"\n.TP", "\n.SS", "\n.SH"};
	const char *end = s + strlen(s);

	for (size_t i = 0; i < ARRAY_SIZE(marks); i++) {
		const char *m = strstr(s, marks[i]);
		if (m && m < end)
			end = m;
	}
	return end;
}

/* Every key of the table has a ".TP / .B key" entry in its ".SS [section]" with a default. */
static void test_man_page(void **state)
{
	_cleanup_(freep) char *text = read_text(SRC_ROOT "docs/cairn.conf.5");
	_cleanup_(freep) char *ini = NULL;
	struct entry e[128];
	size_t n = 0, ini_len = 0;
	char section[32] = "";
	FILE *f;

	(void)state;
	for (const char *p = text; *p;) {
		const char *nl = strchrnul(p, '\n');
		char line[256];
		size_t len = (size_t)(nl - p);

		assert_true(len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = *nl ? nl + 1 : nl;

		if (str_has_prefix(line, ".SS [")) {
			char *end = strchr(line, ']');
			assert_non_null(end);
			*end = '\0';
			assert_int_equal(str_copy(section, sizeof(section), line + 5), 0);
		} else if (str_has_prefix(line, ".SH") || str_has_prefix(line, ".SS")) {
			section[0] = '\0';
		} else if (section[0] && str_has_prefix(line, ".TP")) {
			const char *next = p;
			const char *nl2 = strchrnul(next, '\n');
			const char *d;
			size_t keylen;

			if (!str_has_prefix(next, ".B "))
				continue;
			keylen = (size_t)(nl2 - next) - 3;
			assert_true(n < ARRAY_SIZE(e) && keylen < sizeof(e[n].key));
			assert_int_equal(str_copy(e[n].section, sizeof(e[n].section), section), 0);
			memcpy(e[n].key, next + 3, keylen);
			e[n].key[keylen] = '\0';
			d = strstr(nl2, "Default: ");
			if (!d || d >= entry_end(nl2))
				fail_msg("docs/cairn.conf.5: [%s] %s has no 'Default: '", section,
				         e[n].key);
			d += strlen("Default: ");
			if (str_has_prefix(d, "\\fB")) {
				const char *v = d + 3, *vend = strstr(v, "\\fR");
				size_t k = 0;

				assert_non_null(vend);
				for (; v < vend && k + 1 < sizeof(e[n].value); v++) {
					if (v[0] == '\\' && v[1] == '-')
						v++; /* "\-" is a hyphen */
					e[n].value[k++] = *v;
				}
				e[n].value[k] = '\0';
			} else if (str_has_prefix(d, "empty")) {
				e[n].value[0] = '\0';
			} else {
				fail_msg("docs/cairn.conf.5: [%s] %s: default is neither "
				         "\\fB...\\fR "
				         "nor empty",
				         section, e[n].key);
			}
			n++;
		}
	}
	assert_same_keys(e, n, "docs/cairn.conf.5");

	/* and the defaults it gives are the defaults */
	f = open_memstream(&ini, &ini_len);
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "[%s]\n%s = %s\n", e[i].section, e[i].key, e[i].value);
	assert_int_equal(fclose(f), 0);
	assert_loads_to_defaults(ini, "cairn.conf.5 defaults");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_defaults_validate, setup, teardown),
	        cmocka_unit_test(test_release_twice_and_null),
	        cmocka_unit_test_setup_teardown(test_empty_and_comments_keep_defaults, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_string_owned_and_last_wins, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bool, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_uint_limits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mode, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_size, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_duration, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_enum, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_key_outside_section, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_first_error_wins, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_comments_indent_crlf, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pool_name_invalid, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pool_names_distinct, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pool_roles, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pg_num, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ceph_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_socket_group, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_features, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cross_field_rules, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_validate_fields_set_in_code, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_file_errors_name_path_and_line, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_full_file_and_dump_roundtrip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_dump_roundtrip_trailing_space, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_reload_without_leak, setup, teardown),
	        cmocka_unit_test(test_example_file),
	        cmocka_unit_test(test_man_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
