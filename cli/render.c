/* SPDX-License-Identifier: MIT */
/*
 * Human output: aligned tables, key: value lines, progress lines. Pure functions from
 * JSON to text.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/json.h"
#include "cli/cli.h"

struct json_object *cli_json_path(struct json_object *obj, const char *path)
{
	char key[128];

	while (obj && json_object_is_type(obj, json_type_object)) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		struct json_object *v;

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(obj, key, &v))
			return NULL;
		if (!dot)
			return v;
		obj = v;
		path = dot + 1;
	}
	return NULL;
}

/* Keys whose numbers are bytes. */
static bool key_is_size(const char *key)
{
	static const char *const size_keys[] = {
	        "available", "bytes_done", "bytes_total", "provisioned",
	        "quota",     "size",       "stored",      "used",
	};
	const char *dot = strrchr(key, '.');

	if (dot)
		key = dot + 1;
	for (size_t i = 0; i < ARRAY_SIZE(size_keys); i++)
		if (strcmp(size_keys[i], key) == 0)
			return true;
	return false;
}

static bool json_is_null(struct json_object *v)
{
	return !v || json_object_is_type(v, json_type_null);
}

static void format_scalar(struct cli_buf *out, struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		cli_buf_putc(out, '-');
		break;
	case json_type_string:
		cli_buf_append(out, json_object_get_string(v),
		               (size_t)json_object_get_string_len(v));
		break;
	case json_type_boolean:
		cli_buf_puts(out, json_object_get_boolean(v) ? "yes" : "no");
		break;
	default:
		cli_buf_puts(out, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		break;
	}
}

/* An object on one line: "kind name@snapshot", an error's message, or "k=v, k=v". */
static void format_inline(struct cli_buf *out, struct json_object *v)
{
	struct json_object *name, *kind, *snap, *msg;
	bool first = true;

	if (json_is_null(v)) {
		cli_buf_putc(out, '-');
		return;
	}
	if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);

		if (n == 0)
			cli_buf_putc(out, '-');
		for (size_t i = 0; i < n; i++) {
			if (i)
				cli_buf_puts(out, ", ");
			format_inline(out, json_object_array_get_idx(v, i));
		}
		return;
	}
	if (!json_object_is_type(v, json_type_object)) {
		format_scalar(out, v);
		return;
	}
	name = cli_json_path(v, "name");
	if (name && json_object_is_type(name, json_type_string)) {
		kind = cli_json_path(v, "kind");
		snap = cli_json_path(v, "snapshot");
		if (kind && json_object_is_type(kind, json_type_string))
			cli_buf_printf(out, "%s ", json_object_get_string(kind));
		cli_buf_puts(out, json_object_get_string(name));
		if (snap && json_object_is_type(snap, json_type_string))
			cli_buf_printf(out, "@%s", json_object_get_string(snap));
		return;
	}
	msg = cli_json_path(v, "message");
	if (msg && json_object_is_type(msg, json_type_string)) {
		cli_buf_puts(out, json_object_get_string(msg));
		return;
	}
	json_object_object_foreach (v, key, val) {
		cli_buf_printf(out, "%s%s=", first ? "" : ", ", key);
		format_inline(out, val);
		first = false;
	}
	if (first)
		cli_buf_putc(out, '-');
}

void cli_format_value(struct cli_buf *out, struct json_object *v, enum cli_fmt fmt)
{
	char b[SIZE_STR_MAX];

	if (json_is_null(v)) {
		cli_buf_putc(out, '-');
		return;
	}
	switch (fmt) {
	case CLI_FMT_SIZE:
		if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0) {
			cli_buf_puts(out, size_format(json_object_get_uint64(v), b));
			return;
		}
		break;
	case CLI_FMT_PERCENT:
		if (json_object_is_type(v, json_type_int)) {
			cli_buf_printf(out, "%" PRId64 "%%", json_object_get_int64(v));
			return;
		}
		break;
	case CLI_FMT_COUNT:
		if (json_object_is_type(v, json_type_array)) {
			cli_buf_printf(out, "%zu", json_object_array_length(v));
			return;
		}
		break;
	case CLI_FMT_LABELS:
		if (json_object_is_type(v, json_type_object)) {
			bool first = true;

			json_object_object_foreach (v, key, val) {
				cli_buf_printf(out, "%s%s=", first ? "" : ",", key);
				format_scalar(out, val);
				first = false;
			}
			if (first)
				cli_buf_putc(out, '-');
			return;
		}
		break;
	case CLI_FMT_AUTO:
	case CLI_FMT_MAX:
		break;
	}
	format_inline(out, v);
}

/* ---- tables ---------------------------------------------------------------------------- */

void cli_table_render(struct cli_buf *out, const char *const *headers, const bool *right,
                      size_t n_cols, const char *const *cells, size_t n_rows)
{
	size_t width[32] = {0};

	if (n_cols > ARRAY_SIZE(width))
		n_cols = ARRAY_SIZE(width);
	for (size_t c = 0; c < n_cols; c++) {
		width[c] = cli_text_width(headers[c]);
		for (size_t r = 0; r < n_rows; r++) {
			size_t w = cli_text_width(cells[r * n_cols + c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t r = 0; r <= n_rows; r++) {
		for (size_t c = 0; c < n_cols; c++) {
			const char *s = r == 0 ? headers[c] : cells[(r - 1) * n_cols + c];
			size_t pad = width[c] - cli_text_width(s);
			bool last = c + 1 == n_cols;

			if (c)
				cli_buf_puts(out, "  ");
			if (right && right[c])
				cli_buf_pad(out, ' ', pad);
			cli_buf_puts(out, s);
			if (!(right && right[c]) && !last)
				cli_buf_pad(out, ' ', pad);
		}
		cli_buf_putc(out, '\n');
	}
}

int cli_view_table(struct cli_buf *out, struct json_object *reply, const struct cli_view *view)
{
	struct json_object *list = cli_json_path(reply, view->list_key);
	const char *headers[32];
	bool right[32];
	size_t n_cols = 0, n_rows;
	struct cli_buf cellbuf = {0};
	_cleanup_(freep) size_t *offsets = NULL;
	_cleanup_(freep) const char **cells = NULL;
	int r;

	if (!list || !json_object_is_type(list, json_type_array))
		return -EBADMSG;
	for (; view->columns[n_cols].header && n_cols < ARRAY_SIZE(headers); n_cols++) {
		headers[n_cols] = view->columns[n_cols].header;
		right[n_cols] = view->columns[n_cols].fmt == CLI_FMT_SIZE ||
		                view->columns[n_cols].fmt == CLI_FMT_PERCENT ||
		                view->columns[n_cols].fmt == CLI_FMT_COUNT;
	}
	n_rows = json_object_array_length(list);
	offsets = calloc(n_rows * n_cols + 1, sizeof(*offsets));
	cells = calloc(n_rows * n_cols + 1, sizeof(*cells));
	if (!offsets || !cells)
		return -ENOMEM;
	/* every cell NUL-terminated in one buffer; pointers taken once it stops moving */
	for (size_t i = 0; i < n_rows; i++) {
		struct json_object *row = json_object_array_get_idx(list, i);

		for (size_t c = 0; c < n_cols; c++) {
			offsets[i * n_cols + c] = cellbuf.len;
			cli_format_value(&cellbuf, cli_json_path(row, view->columns[c].key),
			                 view->columns[c].fmt);
			cli_buf_putc(&cellbuf, '\0');
		}
	}
	r = cli_buf_error(&cellbuf);
	if (r == 0) {
		for (size_t k = 0; k < n_rows * n_cols; k++)
			cells[k] = cellbuf.data + offsets[k];
		cli_table_render(out, headers, right, n_cols, cells, n_rows);
		r = cli_buf_error(out);
	}
	cli_buf_release(&cellbuf);
	return r;
}

/* ---- key: value ------------------------------------------------------------------------ */

struct show_line {
	char *key;
	struct json_object *value; /* borrowed */
};

struct show_lines {
	struct show_line *v;
	size_t n;
	size_t cap;
};

static int show_collect(struct show_lines *l, struct json_object *obj, const char *prefix)
{
	json_object_object_foreach (obj, key, val) {
		char *full = prefix ? str_printf("%s.%s", prefix, key) : strdup(key);
		bool plain_object = val && json_object_is_type(val, json_type_object) &&
		                    json_object_object_length(val) > 0 &&
		                    !cli_json_path(val, "name") && !cli_json_path(val, "message");

		if (!full)
			return -ENOMEM;
		if (plain_object && !(prefix == NULL && strcmp(key, "labels") == 0)) {
			int r = show_collect(l, val, full);

			free(full);
			if (r < 0)
				return r;
			continue;
		}
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			struct show_line *p = realloc(l->v, cap * sizeof(*p));

			if (!p) {
				free(full);
				return -ENOMEM;
			}
			l->v = p;
			l->cap = cap;
		}
		l->v[l->n++] = (struct show_line){full, val};
	}
	return 0;
}

int cli_view_show(struct cli_buf *out, struct json_object *obj)
{
	struct show_lines l = {0};
	size_t width = 0;
	int r;

	if (!obj || !json_object_is_type(obj, json_type_object))
		return -EBADMSG;
	r = show_collect(&l, obj, NULL);
	for (size_t i = 0; r == 0 && i < l.n; i++)
		if (strlen(l.v[i].key) > width)
			width = strlen(l.v[i].key);
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		const char *key = l.v[i].key;
		enum cli_fmt fmt = CLI_FMT_AUTO;

		if (strcmp(key, "labels") == 0)
			fmt = CLI_FMT_LABELS;
		else if (strcmp(key, "progress") == 0)
			fmt = CLI_FMT_PERCENT;
		else if (key_is_size(key))
			fmt = CLI_FMT_SIZE;
		cli_buf_printf(out, "%s:", key);
		cli_buf_pad(out, ' ', width - strlen(key) + 1);
		cli_format_value(out, l.v[i].value, fmt);
		cli_buf_putc(out, '\n');
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].key);
	free(l.v);
	return r < 0 ? r : cli_buf_error(out);
}

/* ---- progress -------------------------------------------------------------------------- */

void cli_progress_from_op(struct json_object *op, struct cli_progress *ret)
{
	struct json_object *v;
	int64_t pct = json_get_int(op, "progress", 0);

	*ret = (struct cli_progress){0};
	ret->percent = pct < 0 ? 0 : pct > 100 ? 100 : (int)pct;
	v = cli_json_path(op, "bytes_done");
	if (v && json_object_is_type(v, json_type_int))
		ret->bytes_done = json_object_get_uint64(v);
	v = cli_json_path(op, "bytes_total");
	if (v && json_object_is_type(v, json_type_int))
		ret->bytes_total = json_object_get_uint64(v);
	ret->kind = json_get_string(op, "kind");
	v = cli_json_path(op, "resource");
	ret->name = v ? json_get_string(v, "name") : NULL;
}

void cli_progress_format(struct cli_buf *out, const struct cli_progress *p, unsigned width)
{
	int pct = p->percent < 0 ? 0 : p->percent > 100 ? 100 : p->percent;
	unsigned filled = (unsigned)pct * width / 100;
	char a[SIZE_STR_MAX], b[SIZE_STR_MAX];

	cli_buf_putc(out, '[');
	cli_buf_pad(out, '#', filled);
	cli_buf_pad(out, '.', width - filled);
	cli_buf_printf(out, "] %d%%", pct);
	if (p->bytes_total)
		cli_buf_printf(out, " %s/%s", size_format(p->bytes_done, a),
		               size_format(p->bytes_total, b));
	if (p->kind)
		cli_buf_printf(out, " %s", p->kind);
	if (p->name)
		cli_buf_printf(out, " %s", p->name);
}

bool cli_progress_plain_due(int *last_decade, int percent)
{
	int decade = percent / 10;

	if (decade <= *last_decade)
		return false;
	*last_decade = decade;
	return true;
}

void cli_done_format(struct cli_buf *out, const char *tmpl, const struct cli_invocation *inv)
{
	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '{' && p[1] >= '0' && p[1] <= '9' && p[2] == '}') {
			size_t i = (size_t)(p[1] - '0');

			if (i < inv->n_args)
				cli_buf_puts(out, inv->args[i]);
			p += 2;
			continue;
		}
		cli_buf_putc(out, *p);
	}
}
