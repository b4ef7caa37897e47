/* SPDX-License-Identifier: MIT */
/* cli: the command table, argument checking and the requests handlers build. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"

#define ARGV(...)          ((char *[]){"cairn", __VA_ARGS__, NULL})
#define ARGC(...)          ((int)(sizeof((char *[]){"cairn", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(p, err, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), NULL, p, err)

/* Parse and build; the request's method, path and body as one string "POST /x {...}". */
static char *build(int argc, char **argv, int *ret_code, struct cairn_err *err)
{
	struct cli_parsed p;
	struct cli_request req = {0};
	char *s;
	int r;

	err_clear(err);
	r = cli_parse(argc, argv, NULL, &p, err);
	if (r == 0) {
		assert_int_equal(p.action, CLI_ACTION_RUN);
		r = p.cmd->handler(&p.inv, &req, err);
	}
	*ret_code = r;
	if (r < 0) {
		cli_request_release(&req);
		return NULL;
	}
	s = str_printf("%s %s%s%s", req.method, cli_buf_str(&req.path), req.body ? " " : "",
	               req.body ? json_object_to_json_string_ext(
	                                  req.body,
	                                  JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
	                        : "");
	cli_request_release(&req);
	assert_non_null(s);
	return s;
}

#define BUILD_OK(expected, ...)                                                   \
	do {                                                                      \
		struct cairn_err _e = {0};                                        \
		int _r;                                                           \
		char *_s = build(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), &_r, &_e); \
		if (_r < 0)                                                       \
			fail_msg("unexpected error %d: %s", _r, _e.msg);          \
		assert_string_equal(_s, expected);                                \
		free(_s);                                                         \
	} while (0)

#define BUILD_FAILS(fragment, ...)                                                \
	do {                                                                      \
		struct cairn_err _e = {0};                                        \
		int _r;                                                           \
		char *_s = build(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), &_r, &_e); \
		if (_s)                                                           \
			fail_msg("accepted: %s", _s);                             \
		assert_true(_r < 0);                                              \
		if (!strstr(_e.msg, fragment))                                    \
			fail_msg("message '%s' lacks '%s'", _e.msg, fragment);    \
	} while (0)

static void test_table_sorted_and_complete(void **state)
{
	size_t n;
	const struct cli_command *t = cli_commands(&n);

	assert_true(n >= 30);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(t[i].noun);
		assert_non_null(t[i].verb);
		assert_non_null(t[i].handler);
		assert_non_null(t[i].args);
		assert_non_null(t[i].opts);
		assert_non_null(t[i].view);
		assert_non_null(t[i].usage);
		assert_non_null(t[i].summary);
		assert_true(strlen(t[i].summary) > 0);
		if (i > 0 && cli_command_cmp(&t[i - 1], &t[i]) >= 0)
			fail_msg("table not sorted at '%s %s' after '%s %s'", t[i].noun, t[i].verb,
			         t[i - 1].noun, t[i - 1].verb);
		/* bsearch finds every entry */
		assert_ptr_equal(cli_command_find(t[i].noun, t[i].verb), &t[i]);
		assert_true(cli_noun_exists(t[i].noun));
	}
	assert_null(cli_command_find("volume", "frobnicate"));
	assert_null(cli_command_find("zzz", "list"));
	assert_false(cli_noun_exists("aaa"));
	assert_non_null(cli_command_single("health"));
	assert_null(cli_command_single("volume"));
}

static void test_table_usage_names_every_param(void **state)
{
	size_t n;
	const struct cli_command *t = cli_commands(&n);

	for (size_t i = 0; i < n; i++) {
		size_t n_opts = 0;

		for (size_t k = 0; t[i].args[k].name; k++) {
			if (!strstr(t[i].usage, t[i].args[k].name))
				fail_msg("usage of '%s %s' lacks %s", t[i].noun, t[i].verb,
				         t[i].args[k].name);
			assert_non_null(t[i].args[k].help);
		}
		for (size_t k = 0; t[i].opts[k].name; k++, n_opts++) {
			char *o = str_printf("--%s", t[i].opts[k].name);

			assert_non_null(o);
			if (!strstr(t[i].usage, o))
				fail_msg("usage of '%s %s' lacks %s", t[i].noun, t[i].verb, o);
			free(o);
			assert_non_null(t[i].opts[k].help);
			if (t[i].opts[k].type != CLI_T_FLAG)
				assert_non_null(t[i].opts[k].metavar);
		}
		assert_true(n_opts <= CLI_OPTS_MAX);
	}
}

static void test_parse_volume_create(void **state)
{
	struct cli_parsed p;
	struct cairn_err err = {0};
	const struct cli_value *v;

	assert_int_equal(PARSE(&p, &err, "--socket", "/tmp/x.sock", "volume", "create", "web1",
	                       "--size", "10G", "--image=debian12", "--label", "env=prod",
	                       "--label", "tier=web", "--json"),
	                 0);
	assert_int_equal(p.action, CLI_ACTION_RUN);
	assert_string_equal(p.cmd->noun, "volume");
	assert_string_equal(p.cmd->verb, "create");
	assert_string_equal(p.global.socket, "/tmp/x.sock");
	assert_true(p.global.json);
	assert_false(p.global.quiet);
	assert_int_equal(p.inv.n_args, 1);
	assert_string_equal(p.inv.args[0], "web1");
	v = cli_opt(&p.inv, "size");
	assert_true(v->set);
	assert_true(v->num == 10ULL << 30);
	assert_string_equal(cli_opt(&p.inv, "image")->str, "debian12");
	v = cli_opt(&p.inv, "label");
	assert_int_equal(v->n_items, 2);
	assert_string_equal(v->items[0], "env=prod");
	assert_string_equal(v->items[1], "tier=web");
	assert_false(cli_opt(&p.inv, "snapshot")->set);
	assert_false(cli_opt(&p.inv, "no-such-option")->set);

	BUILD_OK("POST /v1/volumes {\"name\":\"web1\",\"size\":10737418240,\"image\":\"debian12\","
	         "\"labels\":{\"env\":\"prod\",\"tier\":\"web\"}}",
	         "volume", "create", "web1", "--size", "10G", "--image", "debian12", "--label",
	         "env=prod", "--label", "tier=web");
	BUILD_OK("POST /v1/volumes {\"name\":\"db\",\"snapshot\":\"web1@base\",\"pool\":\"vms\","
	         "\"qos\":{\"iops\":500,\"bps\":104857600}}",
	         "volume", "create", "db", "--snapshot", "web1@base", "--pool", "vms", "--qos-iops",
	         "500", "--qos-bps", "100M");
	BUILD_OK("PATCH /v1/volumes/db {\"qos\":{\"read_iops\":100,\"write_iops\":0,"
	         "\"read_bps\":1048576,\"write_bps\":2097152}}",
	         "volume", "update", "db", "--qos-write-bps", "2M", "--qos-read-iops", "100",
	         "--qos-read-bps", "1M", "--qos-write-iops", "0");
	BUILD_FAILS("nothing to change: give --label, --no-labels or a --qos-* limit", "volume",
	            "update", "db");
}

static void test_parse_errors(void **state)
{
	BUILD_FAILS("unknown command 'volumes'", "volumes", "list");
	BUILD_FAILS("unknown volume subcommand 'make'", "volume", "make", "x");
	BUILD_FAILS("'volume' needs a subcommand", "volume");
	BUILD_FAILS("no command given", "--json");
	BUILD_FAILS("unknown option '--colour'", "--colour", "health");
	BUILD_FAILS("unknown option '--sise' for 'volume create'", "volume", "create", "a",
	            "--sise", "1G");
	BUILD_FAILS("needs NAME", "volume", "show");
	BUILD_FAILS("needs SNAP", "volume", "revert", "web1");
	BUILD_FAILS("unexpected argument 'extra'", "volume", "show", "web1", "extra");
	BUILD_FAILS("unexpected argument 'x' for 'health'", "health", "x");
	BUILD_FAILS("volume name must start with a letter", "volume", "show", "-");
	BUILD_FAILS("volume name must start with a letter", "volume", "show", "--", "_x");
	BUILD_FAILS("volume name has a character", "volume", "show", "web/1");
	BUILD_FAILS("at most 63", "volume", "show",
	            "a234567890123456789012345678901234567890123456789012345678901234");
	BUILD_FAILS("option '--size' needs a value", "volume", "create", "a", "--size");
	BUILD_FAILS("option '--size' is given twice", "volume", "create", "a", "--size", "1G",
	            "--size", "2G");
	BUILD_FAILS("option '--force' takes no value", "volume", "delete", "a", "--force=yes");
	BUILD_FAILS("give at most one of --image, --snapshot and --volume", "volume", "create", "a",
	            "--image", "i", "--volume", "v");
	BUILD_FAILS("a blank volume needs --size", "volume", "create", "a");
	BUILD_FAILS("not of the form VOLUME@SNAPSHOT", "volume", "create", "a", "--snapshot",
	            "web1");
	BUILD_FAILS("snapshot name is empty", "volume", "create", "a", "--snapshot", "web1@");
	BUILD_FAILS("'tape' is not one of pool|file", "backup", "create", "web1", "--target",
	            "tape");
	BUILD_FAILS("either --to NAME or --original", "backup", "restore", "b1", "--to", "x",
	            "--original");
	BUILD_FAILS("needs --pool P", "volume", "manage", "old", "--rbd-image", "volume-1");
	BUILD_FAILS("'soon' is not a whole number", "op", "wait", "abc", "--timeout", "soon");
	BUILD_FAILS("volume 'a' is given twice", "snapshot", "group", "g", "a", "b", "a");
	BUILD_FAILS("volume name has a character", "volume", "domain-xml", "web1", "--volume",
	            "a,b");
	BUILD_FAILS("'xen' is not one of kvm|qemu", "volume", "domain-xml", "web1", "--type",
	            "xen");
	BUILD_FAILS("idempotency key", "--idempotency-key", "not ok!", "pool", "init");
	BUILD_FAILS("unknown option '--version' for 'health'", "health", "--version");
}

static void test_size_options(void **state)
{
	struct cli_parsed p;
	struct cairn_err err = {0};

	assert_int_equal(PARSE(&p, &err, "volume", "extend", "web1", "512M"), 0);
	assert_true(p.inv.arg_num[1] == 512ULL << 20);
	BUILD_OK("POST /v1/volumes/web1/extend {\"size\":21474836480}", "volume", "extend", "web1",
	         "20G");
	BUILD_OK("POST /v1/volumes/web1/extend {\"size\":4096}", "volume", "extend", "web1",
	         "4096");
	BUILD_OK("POST /v1/volumes {\"name\":\"a\",\"size\":1610612736}", "volume", "create", "a",
	         "--size=1.5G");
	BUILD_FAILS("multiple of 512", "volume", "extend", "web1", "1000");
	BUILD_FAILS("size must be positive", "volume", "create", "a", "--size", "0");
	BUILD_FAILS("'10X' is not a size", "volume", "create", "a", "--size", "10X");
	BUILD_FAILS("'-1G' is not a size", "volume", "create", "a", "--size=-1G");
	BUILD_FAILS("'99999999999E' is not a size", "volume", "extend", "a", "99999999999E");
	BUILD_FAILS("N must be positive", "volume", "create", "a", "--size", "1G", "--qos-bps",
	            "0");
}

static void test_label_parsing(void **state)
{
	struct cairn_err err = {0};
	char *key = NULL;
	const char *value = NULL;

	assert_int_equal(cli_label_split("env=prod", &key, &value, &err), 0);
	assert_string_equal(key, "env");
	assert_string_equal(value, "prod");
	free(key);
	key = NULL;
	assert_int_equal(cli_label_split("note=a=b", &key, &value, &err), 0);
	assert_string_equal(key, "note");
	assert_string_equal(value, "a=b");
	free(key);
	key = NULL;
	assert_int_equal(cli_label_split("empty=", &key, &value, &err), 0);
	assert_string_equal(value, "");
	free(key);
	key = NULL;

	assert_int_equal(cli_label_split("novalue", &key, &value, &err), -EINVAL);
	assert_string_equal(err.msg, "label 'novalue' is not of the form key=value");
	assert_null(key);
	err_clear(&err);
	assert_int_equal(cli_label_split("=x", &key, &value, &err), -EINVAL);
	assert_string_equal(err.msg, "label name is empty");
	err_clear(&err);
	assert_int_equal(cli_label_split("a b=x", &key, &value, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "label name has a character"));
	assert_null(key);

	BUILD_FAILS("label 'env' is given twice", "volume", "create", "a", "--size", "1G",
	            "--label", "env=a", "--label", "env=b");
	BUILD_FAILS("not of the form key=value", "volume", "list", "--label", "env");
	BUILD_FAILS("option '--label' is given twice", "volume", "list", "--label", "a=b",
	            "--label", "c=d");
	BUILD_OK("GET /v1/volumes?pool=vms&label=env%3Dprod&parent=debian12", "volume", "list",
	         "--parent", "debian12", "--label", "env=prod", "--pool", "vms");
}

static void test_requests(void **state)
{
	BUILD_OK("GET /v1/health", "health");
	BUILD_OK("GET /v1/events", "events");
	BUILD_OK("GET /v1/pools", "pool", "list");
	BUILD_OK("POST /v1/pools/init {}", "pool", "init");
	BUILD_OK("GET /v1/images", "image", "list");
	BUILD_OK("POST /v1/images {\"name\":\"deb\",\"file\":\"/srv/import/deb.qcow2\","
	         "\"format\":\"qcow2\"}",
	         "image", "import", "deb", "/srv/import/deb.qcow2", "--format", "qcow2");
	BUILD_OK("GET /v1/images/deb", "image", "show", "deb");
	BUILD_OK("DELETE /v1/images/deb?deferred", "image", "delete", "deb", "--deferred");
	BUILD_OK("DELETE /v1/volumes/web1", "volume", "delete", "web1");
	BUILD_OK("DELETE /v1/volumes/web1?force", "volume", "delete", "--force", "web1");
	BUILD_OK("POST /v1/volumes/web1/flatten {}", "volume", "flatten", "web1");
	BUILD_OK("POST /v1/volumes/web1/revert {\"snapshot\":\"s1\"}", "volume", "revert", "web1",
	         "s1");
	BUILD_OK("POST /v1/volumes/web1/rename {\"name\":\"web2\"}", "volume", "rename", "web1",
	         "web2");
	BUILD_OK("GET /v1/volumes/web1/xml?target=vdb&bus=scsi", "volume", "xml", "web1",
	         "--target", "vdb", "--bus", "scsi");
	BUILD_OK("POST /v1/volumes/web1/attach {\"domain\":\"vm 1\",\"target\":\"vdb\","
	         "\"live\":true}",
	         "volume", "attach", "web1", "vm 1", "--target", "vdb", "--live");
	BUILD_OK("POST /v1/volumes/web1/detach {\"domain\":\"vm1\"}", "volume", "detach", "web1",
	         "vm1");
	BUILD_OK("POST /v1/volumes/web1/detach {\"domain\":\"vm1\",\"target\":\"vdb\","
	         "\"live\":true,\"config\":true,\"uri\":\"qemu:///embed?root=/srv/lv\"}",
	         "volume", "detach", "web1", "vm1", "--target", "vdb", "--live", "--config",
	         "--uri", "qemu:///embed?root=/srv/lv");
	BUILD_OK("POST /v1/volumes/web1/attach {\"domain\":\"vm1\",\"config\":true,"
	         "\"uri\":\"qemu:///session\"}",
	         "volume", "attach", "web1", "vm1", "--config", "--uri", "qemu:///session");
	BUILD_OK("GET /v1/volumes/web1/domain-xml?name=vm1&memory=2048&vcpus=2&type=qemu"
	         "&volumes=data1,data2&network=default",
	         "volume", "domain-xml", "web1", "--name", "vm1", "--memory", "2048", "--vcpus",
	         "2", "--type", "qemu", "--volume", "data1", "--network", "default", "--volume",
	         "data2");
	BUILD_OK("GET /v1/volumes/web1/domain-xml?volumes=data1", "volume", "domain-xml", "web1",
	         "--volume", "data1");
	BUILD_OK("GET /v1/volumes/web1/domain-xml", "volume", "domain-xml", "web1");
	BUILD_OK("POST /v1/volumes/manage {\"name\":\"old\",\"pool\":\"volumes\","
	         "\"rbd_image\":\"volume-42\"}",
	         "volume", "manage", "old", "--pool", "volumes", "--rbd-image", "volume-42");
	BUILD_OK("POST /v1/volumes/old/unmanage {}", "volume", "unmanage", "old");
	BUILD_OK("POST /v1/volumes/web1/snapshots {\"name\":\"s1\"}", "snapshot", "create", "web1",
	         "s1");
	BUILD_OK("GET /v1/volumes/web1/snapshots", "snapshot", "list", "web1");
	BUILD_OK("GET /v1/volumes/web1/snapshots?hidden", "snapshot", "list", "web1", "--hidden");
	BUILD_OK("GET /v1/volumes?hidden", "volume", "list", "--hidden");
	BUILD_OK("GET /v1/images?hidden", "image", "list", "--hidden");
	BUILD_OK("DELETE /v1/volumes/web1/snapshots/s1", "snapshot", "delete", "web1", "s1");
	BUILD_OK("POST /v1/snapshots/group {\"name\":\"g\",\"volumes\":[\"a\",\"b\",\"c\"]}",
	         "snapshot", "group", "g", "a", "b", "c");
	BUILD_OK("POST /v1/backups {\"volume\":\"web1\",\"incremental\":true,\"target\":\"file\","
	         "\"label\":\"nightly run\"}",
	         "backup", "create", "web1", "--incremental", "--target", "file", "--label",
	         "nightly run");
	BUILD_OK("GET /v1/backups?volume=web1", "backup", "list", "--volume", "web1");
	BUILD_OK("POST /v1/backups/b-1/restore {\"volume\":\"web9\"}", "backup", "restore", "b-1",
	         "--to", "web9");
	BUILD_OK("POST /v1/backups/b-1/restore {\"original\":true}", "backup", "restore", "b-1",
	         "--original");
	BUILD_OK("POST /v1/backups/b-1/verify {}", "backup", "verify", "b-1");
	BUILD_OK("DELETE /v1/backups/b-1", "backup", "delete", "b-1");
	BUILD_OK("GET /v1/operations?status=running", "op", "list", "--status", "running");
	BUILD_OK("GET /v1/operations/3f0c", "op", "wait", "3f0c", "--timeout", "30");
	BUILD_OK("DELETE /v1/operations/3f0c", "op", "cancel", "3f0c");
	BUILD_OK("POST /v1/secret/ensure {\"uri\":\"qemu:///system\"}", "secret", "ensure", "--uri",
	         "qemu:///system");
	BUILD_FAILS("has a character ids never have", "op", "show", "../x");
}

static void test_global_options(void **state)
{
	struct cli_parsed p;
	struct cairn_err err = {0};
	char *argv[] = {"cairn", "--quiet",           "--no-wait", "volume", "flatten",
	                "web1",  "--idempotency-key", "k-1",       NULL};

	assert_int_equal(cli_parse(8, argv, "/env/sock", &p, &err), 0);
	assert_string_equal(p.global.socket, "/env/sock");
	assert_true(p.global.quiet);
	assert_true(p.global.no_wait);
	assert_false(p.global.json);
	assert_string_equal(p.global.idempotency_key, "k-1");

	assert_int_equal(cli_parse(6, argv, NULL, &p, &err), 0);
	assert_string_equal(p.global.socket, CLI_DEFAULT_SOCKET);
	assert_int_equal(cli_parse(6, argv, "", &p, &err), 0);
	assert_string_equal(p.global.socket, CLI_DEFAULT_SOCKET);

	assert_int_equal(PARSE(&p, &err, "health", "--socket=/a/b"), 0);
	assert_string_equal(p.global.socket, "/a/b");
}

static void test_help_actions(void **state)
{
	struct cli_parsed p;
	struct cairn_err err = {0};
	struct cli_buf b = {0};

	assert_int_equal(PARSE(&p, &err, "--help"), 0);
	assert_int_equal(p.action, CLI_ACTION_HELP);
	assert_int_equal(PARSE(&p, &err, "--version"), 0);
	assert_int_equal(p.action, CLI_ACTION_VERSION);
	assert_int_equal(PARSE(&p, &err, "volume", "--help"), 0);
	assert_int_equal(p.action, CLI_ACTION_HELP_NOUN);
	assert_string_equal(p.noun, "volume");
	/* help wins over missing or bad arguments */
	assert_int_equal(PARSE(&p, &err, "volume", "create", "--help"), 0);
	assert_int_equal(p.action, CLI_ACTION_HELP_COMMAND);
	assert_string_equal(p.cmd->verb, "create");
	assert_int_equal(PARSE(&p, &err, "backup", "restore", "-h"), 0);
	assert_int_equal(p.action, CLI_ACTION_HELP_COMMAND);
	assert_int_equal(PARSE(&p, &err, "events", "--help"), 0);
	assert_int_equal(p.action, CLI_ACTION_HELP_COMMAND);

	cli_help_command(&b, cli_command_find("volume", "create"));
	assert_non_null(strstr(cli_buf_str(&b), "Usage: cairn volume create NAME [--size 10G]"));
	assert_non_null(strstr(cli_buf_str(&b), "  --qos-bps N "));
	cli_buf_reset(&b);
	cli_help_noun(&b, "snapshot");
	assert_non_null(strstr(cli_buf_str(&b), "cairn snapshot group NAME VOL...\n"));
	assert_null(strstr(cli_buf_str(&b), "volume create"));
	cli_buf_reset(&b);
	cli_help_top(&b);
	assert_non_null(strstr(cli_buf_str(&b), "  secret ensure "));
	assert_non_null(strstr(cli_buf_str(&b), "  health "));
	cli_buf_reset(&b);

	/* the hint names what was understood */
	assert_true(PARSE(&p, &err, "volume", "create") < 0);
	cli_help_hint(&b, p.noun, p.cmd);
	assert_string_equal(cli_buf_str(&b), "Try 'cairn volume create --help'.\n");
	cli_buf_reset(&b);
	err_clear(&err);
	assert_true(PARSE(&p, &err, "volume", "nope") < 0);
	cli_help_hint(&b, p.noun, p.cmd);
	assert_string_equal(cli_buf_str(&b), "Try 'cairn volume --help'.\n");
	cli_buf_release(&b);
}

static char *read_text(const char *path)
{
	struct cli_buf b = {0};
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		fail_msg("cannot open '%s'", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		cli_buf_append(&b, chunk, n);
	fclose(f);
	assert_int_equal(cli_buf_error(&b), 0);
	return b.data;
}

/* troff to plain words: "\-" is "-", font changes and quotes vanish */
static void troff_plain(char *s)
{
	char *w = s;

	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] == '-') {
			*w++ = '-';
			r += 2;
		} else if (r[0] == '\\' && r[1] == 'f' && r[2]) {
			r += 3;
		} else if (*r == '"') {
			r++;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static void test_man_page_and_completion_cover_table(void **state)
{
	char *man = read_text(CAIRN_TEST_DATA_DIR "/../../docs/cairn.1");
	char *comp = read_text(CAIRN_TEST_DATA_DIR "/../../cli/cairn.bash-completion");
	size_t n;
	const struct cli_command *t = cli_commands(&n);

	troff_plain(man);
	for (size_t i = 0; i < n; i++) {
		char *cmd = str_printf("cairn %s%s%s", t[i].noun, *t[i].verb ? " " : "", t[i].verb);
		char *verbs = str_printf("\t%s) echo \"", t[i].noun);
		char *opts = str_printf("\t\"%s %s\") echo \"", t[i].noun, t[i].verb);
		const char *line;

		assert_non_null(cmd);
		assert_non_null(verbs);
		assert_non_null(opts);
		if (!strstr(man, cmd))
			fail_msg("cairn.1 does not document '%s'", cmd);
		if (!strstr(comp, t[i].noun))
			fail_msg("completion lacks '%s'", t[i].noun);
		if (*t[i].verb) {
			char *word = str_printf(" %s ", t[i].verb), *list;

			line = strstr(comp, verbs);
			if (!line)
				fail_msg("completion lacks the verbs of '%s'", t[i].noun);
			line += strlen(verbs);
			/* " create delete list " with a space at each end */
			list = str_printf(" %.*s ", (int)strcspn(line, "\""), line);
			assert_non_null(word);
			assert_non_null(list);
			if (!strstr(list, word))
				fail_msg("completion lacks '%s'", cmd);
			free(word);
			free(list);
		}
		line = strstr(comp, opts);
		for (size_t k = 0; t[i].opts[k].name; k++) {
			char *o = str_printf("--%s", t[i].opts[k].name);

			assert_non_null(o);
			if (!strstr(man, o))
				fail_msg("cairn.1 does not document %s of '%s'", o, cmd);
			if (!line || !memmem(line, strcspn(line, "\n"), o, strlen(o)))
				fail_msg("completion lacks %s of '%s'", o, cmd);
			free(o);
		}
		free(cmd);
		free(verbs);
		free(opts);
	}
	assert_non_null(strstr(man, "CAIRN_SOCKET"));
	assert_non_null(strstr(man, ".SH EXIT STATUS"));
	free(man);
	free(comp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_table_sorted_and_complete),
	        cmocka_unit_test(test_table_usage_names_every_param),
	        cmocka_unit_test(test_parse_volume_create),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test(test_size_options),
	        cmocka_unit_test(test_label_parsing),
	        cmocka_unit_test(test_requests),
	        cmocka_unit_test(test_global_options),
	        cmocka_unit_test(test_help_actions),
	        cmocka_unit_test(test_man_page_and_completion_cover_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
