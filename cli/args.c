/* SPDX-License-Identifier: MIT */
/*
 * Argument parsing: argv checked against the command table before any handler runs, and
 * the help texts made from the same table.
 */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"

/* ---- values ---------------------------------------------------------------------------- */

static int uint_parse(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

static bool choice_has(const char *choices, const char *s)
{
	size_t n = strlen(s);

	for (const char *p = choices; p; p = strchr(p, '|')) {
		if (*p == '|')
			p++;
		if (strncmp(p, s, n) == 0 && (p[n] == '|' || p[n] == '\0'))
			return true;
	}
	return false;
}

int cli_label_split(const char *s, char **ret_key, const char **ret_value, struct cairn_err *err)
{
	const char *eq = strchr(s, '=');
	char *key;
	int r;

	if (!eq)
		return err_set(err, -EINVAL, "label '%s' is not of the form key=value", s);
	key = strndup(s, (size_t)(eq - s));
	if (!key)
		return -ENOMEM;
	r = name_validate(key, "label", err);
	if (r < 0) {
		free(key);
		return r;
	}
	*ret_key = key;
	*ret_value = eq + 1;
	return 0;
}

int cli_value_check(const struct cli_param *p, const char *s, struct cli_value *v,
                    struct cairn_err *err)
{
	const char *what = p->metavar ? p->metavar : p->name;
	uint64_t num = 0;
	int r;

	switch (p->type) {
	case CLI_T_FLAG:
		break;
	case CLI_T_STRING:
		if (!*s)
			return err_set(err, -EINVAL, "%s must not be empty", what);
		break;
	case CLI_T_NAME:
		r = name_validate(s, p->what, err);
		if (r < 0)
			return r;
		break;
	case CLI_T_SIZE:
	case CLI_T_RATE:
		r = size_parse(s, &num);
		if (r < 0)
			return err_set(err, r,
			               "'%s' is not a size: give bytes or a binary unit, "
			               "like 512M, 10G or 1T",
			               s);
		if (p->type == CLI_T_SIZE) {
			r = size_validate(num, 0, "size", err);
			if (r < 0)
				return r;
		} else if (num == 0) {
			return err_set(err, -EINVAL, "%s must be positive", what);
		}
		break;
	case CLI_T_UINT:
		r = uint_parse(s, &num);
		if (r < 0)
			return err_set(err, r, "'%s' is not a whole number for %s", s, what);
		break;
	case CLI_T_LABEL: {
		_cleanup_(freep) char *key = NULL;
		const char *value;

		r = cli_label_split(s, &key, &value, err);
		if (r < 0)
			return r;
		break;
	}
	case CLI_T_SNAPSPEC: {
		const char *at = strchr(s, '@');
		_cleanup_(freep) char *vol = NULL;

		if (!at)
			return err_set(err, -EINVAL,
			               "snapshot '%s' is not of the form VOLUME@SNAPSHOT", s);
		vol = strndup(s, (size_t)(at - s));
		if (!vol)
			return -ENOMEM;
		r = name_validate(vol, "volume", err);
		if (r < 0)
			return r;
		r = name_validate(at + 1, "snapshot", err);
		if (r < 0)
			return r;
		break;
	}
	case CLI_T_ID:
		if (!*s)
			return err_set(err, -EINVAL, "%s must not be empty", what);
		if (strlen(s) > 128)
			return err_set(err, -EINVAL, "%s is longer than 128 characters", what);
		for (const char *c = s; *c; c++)
			if ((unsigned char)*c <= ' ' || *c == '/' || *c == 0x7f)
				return err_set(err, -EINVAL,
				               "%s '%s' has a character ids never have", what, s);
		break;
	case CLI_T_CHOICE:
		if (!choice_has(p->what, s))
			return err_set(err, -EINVAL, "'%s' is not one of %s", s, p->what);
		break;
	default:
		return err_set(err, -EINVAL, "parameter '%s' has an unknown type", p->name);
	}
	if (p->flags & CLI_P_REPEAT) {
		if (v->n_items >= CLI_REPEAT_MAX)
			return err_set(err, -E2BIG, "--%s is given more than %d times", p->name,
			               CLI_REPEAT_MAX);
		v->items[v->n_items++] = s;
	}
	v->set = true;
	v->str = s;
	v->num = num;
	return 0;
}

/* ---- global options -------------------------------------------------------------------- */

enum global_opt {
	G_SOCKET,
	G_JSON,
	G_NO_WAIT,
	G_QUIET,
	G_IDEMPOTENCY_KEY,
	G_HELP,
	G_VERSION,
	G_MAX,
};

static const struct {
	const char *name;
	const char *metavar;
	const char *help;
} global_opts[G_MAX] = {
        [G_SOCKET] = {"socket", "PATH",
                      "cairnd's socket (default: $" CLI_ENV_SOCKET ", then " CLI_DEFAULT_SOCKET
                      ")"},
        [G_JSON] = {"json", NULL, "print the API's JSON reply as it is"},
        [G_NO_WAIT] = {"no-wait", NULL, "print a long operation and return, do not follow it"},
        [G_QUIET] = {"quiet", NULL, "no progress, nothing printed on success for changes"},
        [G_IDEMPOTENCY_KEY] = {"idempotency-key", "K",
                               "send Idempotency-Key: K; a replay returns the first result"},
        [G_HELP] = {"help", NULL, "show help (also after any command)"},
        [G_VERSION] = {"version", NULL, "print the version"},
};

static int global_opt_find(const char *name, size_t len)
{
	for (int i = 0; i < G_MAX; i++)
		if (strlen(global_opts[i].name) == len &&
		    strncmp(global_opts[i].name, name, len) == 0)
			return i;
	return -1;
}

static bool idempotency_key_valid(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > 64)
		return false;
	for (; *k; k++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
		      (*k >= '0' && *k <= '9') || *k == '.' || *k == '_' || *k == '-'))
			return false;
	return true;
}

/*
 * Apply global option i. *pi points at argv's current index; inline is the text after
 * "=" or NULL. Returns 1 when help/version ends parsing.
 */
static int global_apply(int i, const char *inline_value, int argc, char **argv, int *pi,
                        struct cli_parsed *p, struct cairn_err *err)
{
	const char *value = NULL;

	if (global_opts[i].metavar) {
		if (inline_value)
			value = inline_value;
		else if (*pi + 1 < argc)
			value = argv[++*pi];
		else
			return err_set(err, -EINVAL, "option '--%s' needs a value",
			               global_opts[i].name);
	} else if (inline_value) {
		return err_set(err, -EINVAL, "option '--%s' takes no value", global_opts[i].name);
	}
	switch ((enum global_opt)i) {
	case G_SOCKET:
		if (!*value)
			return err_set(err, -EINVAL, "option '--socket' needs a path");
		p->global.socket = value;
		break;
	case G_JSON:
		p->global.json = true;
		break;
	case G_NO_WAIT:
		p->global.no_wait = true;
		break;
	case G_QUIET:
		p->global.quiet = true;
		break;
	case G_IDEMPOTENCY_KEY:
		if (!idempotency_key_valid(value))
			return err_set(err, -EINVAL,
			               "idempotency key '%s' must be 1 to 64 of A-Z a-z 0-9 . _ -",
			               value);
		p->global.idempotency_key = value;
		break;
	case G_HELP:
		return 1;
	case G_VERSION:
		p->action = CLI_ACTION_VERSION;
		return 1;
	case G_MAX:
		break;
	}
	return 0;
}

/* ---- the command line ------------------------------------------------------------------ */

static size_t params_count(const struct cli_param *params)
{
	size_t n = 0;

	while (params && params[n].name)
		n++;
	return n;
}

static int command_opt_apply(const struct cli_command *cmd, int idx, const char *inline_value,
                             int argc, char **argv, int *pi, struct cli_invocation *inv,
                             struct cairn_err *err)
{
	const struct cli_param *o = &cmd->opts[idx];
	struct cli_value *v = &inv->opts[idx];
	const char *value = "";

	if (v->set && !(o->flags & CLI_P_REPEAT))
		return err_set(err, -EINVAL, "option '--%s' is given twice", o->name);
	if (o->type == CLI_T_FLAG) {
		if (inline_value)
			return err_set(err, -EINVAL, "option '--%s' takes no value", o->name);
	} else if (inline_value) {
		value = inline_value;
	} else if (*pi + 1 < argc) {
		value = argv[++*pi];
	} else {
		return err_set(err, -EINVAL, "option '--%s' needs a value (%s)", o->name,
		               o->metavar ? o->metavar : "");
	}
	return cli_value_check(o, value, v, err);
}

static int command_args_check(const struct cli_command *cmd, struct cli_invocation *inv,
                              struct cairn_err *err)
{
	const struct cli_param *a = cmd->args;
	size_t n = params_count(a), required = 0;
	bool more = n > 0 && (a[n - 1].flags & CLI_P_MORE);
	int r;

	for (size_t i = 0; i < n; i++)
		if (!(a[i].flags & CLI_P_OPTIONAL))
			required++;
	if (inv->n_args < required)
		return err_set(err, -EINVAL, "'%s %s' needs %s", cmd->noun, cmd->verb,
		               a[inv->n_args].name);
	if (!more && inv->n_args > n)
		return err_set(err, -EINVAL, "unexpected argument '%s' for '%s%s%s'", inv->args[n],
		               cmd->noun, *cmd->verb ? " " : "", cmd->verb);
	for (size_t i = 0; i < inv->n_args; i++) {
		const struct cli_param *p = &a[i < n ? i : n - 1];
		struct cli_value v = {0};

		r = cli_value_check(p, inv->args[i], &v, err);
		if (r < 0)
			return r;
		inv->arg_num[i] = v.num;
	}
	for (size_t i = 0; cmd->opts[i].name; i++)
		if ((cmd->opts[i].flags & CLI_P_REQUIRED) && !inv->opts[i].set)
			return err_set(err, -EINVAL, "'%s %s' needs --%s %s", cmd->noun, cmd->verb,
			               cmd->opts[i].name, cmd->opts[i].metavar);
	return 0;
}

int cli_parse(int argc, char **argv, const char *env_socket, struct cli_parsed *ret,
              struct cairn_err *err)
{
	const struct cli_command *cmd;
	struct cli_invocation *inv = &ret->inv;
	bool only_args = false;
	int i = 1, r;

	*ret = (struct cli_parsed){.action = CLI_ACTION_RUN};
	ret->global.socket = env_socket && *env_socket ? env_socket : CLI_DEFAULT_SOCKET;

	/* global options before the command */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *eq;
		int g;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0) {
			ret->action = CLI_ACTION_HELP;
			return 0;
		}
		if (a[1] != '-')
			return err_set(err, -EINVAL, "unknown option '%s'", a);
		eq = strchr(a + 2, '=');
		g = global_opt_find(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
		if (g < 0)
			return err_set(err, -EINVAL, "unknown option '%s'", a);
		r = global_apply(g, eq ? eq + 1 : NULL, argc, argv, &i, ret, err);
		if (r < 0)
			return r;
		if (r > 0) {
			if (ret->action != CLI_ACTION_VERSION)
				ret->action = CLI_ACTION_HELP;
			return 0;
		}
	}
	if (i >= argc)
		return err_set(err, -EINVAL, "no command given");
	if (strcmp(argv[i], "help") == 0 && i + 1 == argc) {
		ret->action = CLI_ACTION_HELP;
		return 0;
	}
	if (!cli_noun_exists(argv[i]))
		return err_set(err, -EINVAL, "unknown command '%s'", argv[i]);
	ret->noun = argv[i++];

	cmd = cli_command_single(ret->noun);
	if (!cmd) {
		if (i >= argc)
			return err_set(err, -EINVAL, "'%s' needs a subcommand", ret->noun);
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ret->action = CLI_ACTION_HELP_NOUN;
			return 0;
		}
		cmd = cli_command_find(ret->noun, argv[i]);
		if (!cmd)
			return err_set(err, -EINVAL, "unknown %s subcommand '%s'", ret->noun,
			               argv[i]);
		i++;
	}
	ret->cmd = cmd;
	inv->cmd = cmd;
	if (params_count(cmd->opts) > CLI_OPTS_MAX)
		return err_set(err, -E2BIG, "'%s %s' has too many options", cmd->noun, cmd->verb);

	for (; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t len;
		int idx;

		if (!only_args && strcmp(a, "--") == 0) {
			only_args = true;
			continue;
		}
		if (!only_args && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			ret->action = CLI_ACTION_HELP_COMMAND;
			return 0;
		}
		if (only_args || a[0] != '-' || a[1] == '\0') {
			if (inv->n_args >= CLI_ARGS_MAX)
				return err_set(err, -E2BIG, "more than %d arguments", CLI_ARGS_MAX);
			inv->args[inv->n_args++] = a;
			continue;
		}
		if (a[1] != '-')
			return err_set(err, -EINVAL, "unknown option '%s'", a);
		eq = strchr(a + 2, '=');
		len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		idx = -1;
		for (int k = 0; cmd->opts[k].name; k++)
			if (strlen(cmd->opts[k].name) == len &&
			    strncmp(cmd->opts[k].name, a + 2, len) == 0)
				idx = k;
		if (idx >= 0) {
			r = command_opt_apply(cmd, idx, eq ? eq + 1 : NULL, argc, argv, &i, inv,
			                      err);
		} else {
			int g = global_opt_find(a + 2, len);

			if (g < 0 || g == G_VERSION)
				return err_set(err, -EINVAL, "unknown option '%.*s' for '%s%s%s'",
				               (int)len + 2, a, cmd->noun, *cmd->verb ? " " : "",
				               cmd->verb);
			r = global_apply(g, eq ? eq + 1 : NULL, argc, argv, &i, ret, err);
		}
		if (r < 0)
			return r;
	}
	return command_args_check(cmd, inv, err);
}

/* ---- help ------------------------------------------------------------------------------ */

static void help_global_options(struct cli_buf *out, bool top)
{
	for (int i = 0; i < G_MAX; i++) {
		if (!top && i == G_VERSION)
			continue;
		size_t w = 2 + strlen(global_opts[i].name);

		cli_buf_printf(out, "  --%s", global_opts[i].name);
		if (global_opts[i].metavar) {
			cli_buf_printf(out, " %s", global_opts[i].metavar);
			w += 1 + strlen(global_opts[i].metavar);
		}
		cli_buf_pad(out, ' ', w < 24 ? 24 - w : 1);
		cli_buf_printf(out, "%s\n", global_opts[i].help);
	}
}

void cli_help_top(struct cli_buf *out)
{
	size_t n;
	const struct cli_command *t = cli_commands(&n);

	cli_buf_puts(out,
	             "Usage: cairn [--socket PATH] [--json] [--no-wait] [--quiet] COMMAND ...\n"
	             "\n"
	             "Manage KVM virtual machine disks in Ceph RBD through cairnd.\n"
	             "\n"
	             "Commands:\n");
	for (size_t i = 0; i < n; i++) {
		size_t w = strlen(t[i].noun) + (*t[i].verb ? 1 + strlen(t[i].verb) : 0);

		cli_buf_printf(out, "  %s%s%s", t[i].noun, *t[i].verb ? " " : "", t[i].verb);
		cli_buf_pad(out, ' ', w < 20 ? 20 - w : 1);
		cli_buf_printf(out, "%s\n", t[i].summary);
	}
	cli_buf_puts(out, "\nOptions:\n");
	help_global_options(out, true);
	cli_buf_puts(out, "\nExit status: 0 success, 1 the request failed, 2 usage error, "
	                  "3 cannot reach cairnd.\n"
	                  "Run 'cairn COMMAND --help' for a command's arguments, "
	                  "and see cairn(1).\n");
}

void cli_help_noun(struct cli_buf *out, const char *noun)
{
	size_t n;
	const struct cli_command *t = cli_commands(&n);

	cli_buf_printf(out, "Usage: cairn %s COMMAND ...\n\nCommands:\n", noun);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].noun, noun) != 0)
			continue;
		cli_buf_printf(out, "  cairn %s %s%s%s\n      %s\n", noun, t[i].verb,
		               *t[i].usage ? " " : "", t[i].usage, t[i].summary);
	}
	cli_buf_printf(out, "\nRun 'cairn %s COMMAND --help' for more.\n", noun);
}

static void help_params(struct cli_buf *out, const struct cli_param *params, bool options)
{
	for (size_t i = 0; params[i].name; i++) {
		const struct cli_param *p = &params[i];
		size_t w = strlen(p->name) + (options ? 2 : 0);

		cli_buf_printf(out, "  %s%s", options ? "--" : "", p->name);
		if (options && p->metavar) {
			cli_buf_printf(out, " %s", p->metavar);
			w += 1 + strlen(p->metavar);
		}
		cli_buf_pad(out, ' ', w < 24 ? 24 - w : 1);
		cli_buf_puts(out, p->help);
		if (p->type == CLI_T_CHOICE)
			cli_buf_printf(out, " (%s)", p->what);
		if (p->flags & CLI_P_REQUIRED)
			cli_buf_puts(out, " (required)");
		cli_buf_putc(out, '\n');
	}
}

void cli_help_command(struct cli_buf *out, const struct cli_command *cmd)
{
	cli_buf_printf(out, "Usage: cairn %s%s%s%s%s\n\n", cmd->noun, *cmd->verb ? " " : "",
	               cmd->verb, *cmd->usage ? " " : "", cmd->usage);
	cli_buf_printf(out, "%c%s.\n",
	               cmd->summary[0] >= 'a' && cmd->summary[0] <= 'z'
	                       ? (char)(cmd->summary[0] - 'a' + 'A')
	                       : cmd->summary[0],
	               cmd->summary + 1);
	if (cmd->args[0].name) {
		cli_buf_puts(out, "\nArguments:\n");
		help_params(out, cmd->args, false);
	}
	if (cmd->opts[0].name) {
		cli_buf_puts(out, "\nOptions:\n");
		help_params(out, cmd->opts, true);
	}
	cli_buf_puts(out, "\nGlobal options:\n");
	help_global_options(out, false);
}

void cli_help_hint(struct cli_buf *out, const char *noun, const struct cli_command *cmd)
{
	if (cmd)
		cli_buf_printf(out, "Try 'cairn %s%s%s --help'.\n", cmd->noun,
		               *cmd->verb ? " " : "", cmd->verb);
	else if (noun)
		cli_buf_printf(out, "Try 'cairn %s --help'.\n", noun);
	else
		cli_buf_puts(out, "Try 'cairn --help'.\n");
}
