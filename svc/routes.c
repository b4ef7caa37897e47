/* SPDX-License-Identifier: MIT */
/*
 * The route table: each module owns a table (routes_core, routes_volumes...), merged at
 * start into one array sorted by pattern and method. Matching walks path segments;
 * "{x}" in a pattern matches one non-empty segment.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "svc/svc-internal.h"

static size_t route_module_count(const struct route *table)
{
	size_t n = 0;

	while (table[n].pattern)
		n++;
	return n;
}

static int route_cmp(const void *a, const void *b)
{
	const struct route *ra = *(const struct route *const *)a;
	const struct route *rb = *(const struct route *const *)b;
	int c = strcmp(ra->pattern, rb->pattern);

	if (c)
		return c;
	return (int)ra->method - (int)rb->method;
}

int route_table_build(struct route_table *t)
{
	const struct route *tables[] = {routes_core, routes_volumes, routes_virt, routes_backups};
	size_t n = 0, k = 0;

	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		n += route_module_count(tables[i]);
	t->entries = calloc(n, sizeof(*t->entries));
	if (!t->entries)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		for (size_t j = 0; tables[i][j].pattern; j++)
			t->entries[k++] = &tables[i][j];
	qsort(t->entries, n, sizeof(*t->entries), route_cmp);
	for (size_t i = 1; i < n; i++)
		if (route_cmp(&t->entries[i - 1], &t->entries[i]) == 0) {
			free(t->entries);
			t->entries = NULL;
			return -EEXIST; /* the same route twice: a programming error */
		}
	t->n = n;
	return 0;
}

void route_table_release(struct route_table *t)
{
	free(t->entries);
	t->entries = NULL;
	t->n = 0;
}

size_t route_index(const struct route_table *t, const struct route *r)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->entries[i] == r)
			return i;
	return 0;
}

/* Split path (copied into scratch) into segments; returns the count or < 0. */
static int path_split(const char *path, char *scratch, size_t len, char *segs[], int max)
{
	int n = 0;
	char *p;

	if (path[0] != '/' || str_copy(scratch, len, path + 1) < 0)
		return -ENOENT;
	p = scratch;
	if (!*p)
		return 0;
	for (;;) {
		char *slash = strchr(p, '/');
		if (n == max)
			return -ENOENT;
		segs[n++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	for (int i = 0; i < n; i++)
		if (!*segs[i] && i != n - 1)
			return -ENOENT; /* "//" */
	if (n > 0 && !*segs[n - 1])
		n--; /* a trailing slash is the same path */
	return n;
}

/* Does pattern match segs? Fills params for {} segments. */
static bool pattern_match(const char *pattern, char *segs[], int n,
                          const char *params[ROUTE_PARAMS_MAX])
{
	const char *p = pattern + 1;
	int i = 0, np = 0;

	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (i == n)
			return false;
		if (p[0] == '{') {
			if (!*segs[i] || np == ROUTE_PARAMS_MAX)
				return false;
			params[np++] = segs[i];
		} else if (strlen(segs[i]) != len || memcmp(segs[i], p, len) != 0) {
			return false;
		}
		i++;
		p += len;
		if (*p == '/')
			p++;
	}
	return i == n;
}

int route_match(const struct route_table *t, enum http_method method, const char *path,
                char *scratch, size_t scratch_len, const char *params[ROUTE_PARAMS_MAX],
                const struct route **ret, char *allow, size_t allow_len)
{
	char *segs[16];
	const struct route *found = NULL;
	bool path_known = false;
	size_t allow_used = 0;
	int n;

	n = path_split(path, scratch, scratch_len, segs, (int)ARRAY_SIZE(segs));
	if (n < 0)
		return -ENOENT;
	if (allow_len)
		allow[0] = '\0';
	for (size_t i = 0; i < t->n; i++) {
		const char *tmp[ROUTE_PARAMS_MAX] = {0};
		const struct route *r = t->entries[i];
		enum http_method m = method == HTTP_METHOD_HEAD ? HTTP_METHOD_GET : method;

		if (!pattern_match(r->pattern, segs, n, tmp))
			continue;
		path_known = true;
		if (allow_len && allow_used < allow_len) {
			int w = snprintf(allow + allow_used, allow_len - allow_used, "%s%s",
			                 allow_used ? ", " : "", http_method_to_string(r->method));
			if (w > 0)
				allow_used += (size_t)w;
		}
		if (r->method == m && !found) {
			found = r;
			memcpy(params, tmp, sizeof(tmp));
		}
	}
	if (found) {
		*ret = found;
		return 0;
	}
	return path_known ? -ENOTSUP : -ENOENT;
}
