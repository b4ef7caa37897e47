/* SPDX-License-Identifier: MIT */
/*
 * Monitor addresses for <source protocol="rbd"><host .../>: from the monmap as `mon dump`
 * prints it in JSON, or from a ceph.conf mon_host value. libvirt hands them to QEMU, whose
 * librbd speaks msgr2 on the v2 port, so an address vector's v2 entry is preferred.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define LOG_MODULE "libvirt-glue"
#include "common/json.h"
#include "libvirt-glue/glue-internal.h"

#define MON_PORT_V2 3300
#define MON_PORT_V1 6789

enum addr_type {
	ADDR_NONE, /* no prefix */
	ADDR_ANY,
	ADDR_V1,
	ADDR_V2,
};

struct hosts {
	struct xml_host *v;
	size_t n;
};

void xml_hosts_free(struct xml_host *hosts, size_t n)
{
	if (!hosts)
		return;
	for (size_t i = 0; i < n; i++)
		free((char *)hosts[i].name);
	free(hosts);
}

static void hosts_release(struct hosts *h)
{
	xml_hosts_free(h->v, h->n);
	h->v = NULL;
	h->n = 0;
}

/* Append (name, port); name is taken over, also on failure. */
static int hosts_add(struct hosts *h, char *name, unsigned port, struct cairn_err *err)
{
	struct xml_host *nv;

	if (h->n >= XML_HOSTS_MAX) {
		free(name);
		return err_set(err, -EINVAL, "more than %d monitors", XML_HOSTS_MAX);
	}
	nv = reallocarray(h->v, h->n + 1, sizeof(*nv));
	if (!nv) {
		free(name);
		return err_set(err, -ENOMEM, "out of memory");
	}
	h->v = nv;
	h->v[h->n].name = name;
	h->v[h->n].port = port;
	h->n++;
	return 0;
}

static int port_parse(const char *s, size_t len, unsigned *ret)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*ret = v;
	return 0;
}

static size_t count_char(const char *s, size_t len, char c)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == c;
	return n;
}

/*
 * One address without its type prefix: "IP", "IP:PORT", "[IPv6]", "[IPv6]:PORT", a bare
 * IPv6 literal, or a DNS name with or without ":PORT"; a "/NONCE" suffix is dropped.
 * what (the whole entry) names it in messages.
 */
static int addr_parse(const char *s, size_t len, unsigned default_port, const char *what,
                      char **ret_host, unsigned *ret_port, struct cairn_err *err)
{
	const char *host = s, *port = NULL, *slash;
	size_t host_len = len, port_len = 0;
	_cleanup_(freep) char *name = NULL;
	unsigned p = default_port;
	int r;

	slash = memchr(s, '/', len);
	if (slash) {
		for (const char *q = slash + 1; q < s + len; q++)
			if (*q < '0' || *q > '9')
				goto bad;
		len = (size_t)(slash - s);
		host_len = len;
	}
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			goto bad;
		host = s + 1;
		host_len = (size_t)(close - host);
		if (close + 1 < s + len) {
			if (close[1] != ':')
				goto bad;
			port = close + 2;
			port_len = (size_t)(s + len - port);
		}
	} else if (count_char(s, len, ':') == 1) {
		const char *colon = memchr(s, ':', len);

		host_len = (size_t)(colon - s);
		port = colon + 1;
		port_len = (size_t)(s + len - port);
	}
	if (port && port_parse(port, port_len, &p) < 0)
		return err_set(err, -EINVAL, "monitor address '%.80s' has no valid port", what);
	name = strndup(host, host_len);
	if (!name)
		return err_set(err, -ENOMEM, "out of memory");
	if (strcmp(name, "0.0.0.0") == 0 || strcmp(name, "::") == 0)
		return err_set(err, -EINVAL, "monitor address '%.80s' is not a usable address",
		               what);
	r = glue__host_validate(name, "monitor address", err);
	if (r < 0)
		return r;
	*ret_host = TAKE_PTR(name);
	*ret_port = p;
	return 0;
bad:
	return err_set(err, -EINVAL, "monitor address '%.80s' is not valid", what);
}

static enum addr_type addr_type_split(const char **s, size_t *len)
{
	static const struct {
		const char *prefix;
		enum addr_type type;
	} types[] = {{"v2:", ADDR_V2}, {"v1:", ADDR_V1}, {"any:", ADDR_ANY}};

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		size_t n = strlen(types[i].prefix);

		if (*len >= n && strncmp(*s, types[i].prefix, n) == 0) {
			*s += n;
			*len -= n;
			return types[i].type;
		}
	}
	return ADDR_NONE;
}

static unsigned default_port(enum addr_type t)
{
	return t == ADDR_V1 ? MON_PORT_V1 : MON_PORT_V2;
}

/* v2 before v1 before "any" before an address without a type */
static int addr_type_rank(enum addr_type t)
{
	switch (t) {
	case ADDR_V2:
		return 3;
	case ADDR_V1:
		return 2;
	case ADDR_ANY:
		return 1;
	default:
		return 0;
	}
}

/* ---- mon_host --------------------------------------------------------------------------- */

static bool is_sep(char c)
{
	return c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\n';
}

/* "[v2:...,v1:...]": the best entry of the vector; s..s+len is what is inside the brackets */
static int addrvec_parse(const char *s, size_t len, const char *what, struct hosts *h,
                         struct cairn_err *err)
{
	const char *best = NULL;
	size_t best_len = 0;
	enum addr_type best_type = ADDR_NONE;
	const char *end = s + len;
	char *host;
	unsigned port;
	int r;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *item = s;
		size_t item_len = (size_t)((comma ? comma : end) - s);
		enum addr_type t = addr_type_split(&item, &item_len);

		if (t == ADDR_NONE || item_len == 0)
			return err_set(
			        err, -EINVAL,
			        "mon_host entry '%.80s' has an address without v1:, v2: or any:",
			        what);
		if (!best || addr_type_rank(t) > addr_type_rank(best_type)) {
			best = item;
			best_len = item_len;
			best_type = t;
		}
		s = comma ? comma + 1 : end;
	}
	if (!best)
		return err_set(err, -EINVAL, "mon_host entry '%.80s' is empty", what);
	r = addr_parse(best, best_len, default_port(best_type), what, &host, &port, err);
	if (r < 0)
		return r;
	return hosts_add(h, host, port, err);
}

int xml_mon_host_conf_parse(const char *mon_host, struct xml_host **ret_hosts, size_t *ret_n,
                            struct cairn_err *err)
{
	_cleanup_(hosts_release) struct hosts h = {0};
	const char *p = mon_host;
	int r;

	if (!mon_host)
		return err_set(err, -EINVAL, "mon_host is missing");
	if (strlen(mon_host) > GLUE_DOC_MAX)
		return err_set(err, -EINVAL, "mon_host is too long");
	for (;;) {
		_cleanup_(freep) char *what = NULL;
		const char *start;

		while (*p && is_sep(*p))
			p++;
		if (!*p)
			break;
		start = p;
		if (p[0] == '[' && (str_has_prefix(p + 1, "v1:") || str_has_prefix(p + 1, "v2:") ||
		                    str_has_prefix(p + 1, "any:"))) {
			int depth = 0;

			/* the vector's own brackets hold those of IPv6 addresses */
			do {
				if (*p == '[')
					depth++;
				else if (*p == ']')
					depth--;
				p++;
			} while (*p && depth > 0);
			what = strndup(start, (size_t)(p - start));
			if (!what)
				return err_set(err, -ENOMEM, "out of memory");
			if (depth != 0)
				return err_set(err, -EINVAL,
				               "mon_host entry '%.80s' has no closing ']'", what);
			r = addrvec_parse(start + 1, (size_t)(p - start) - 2, what, &h, err);
		} else {
			const char *item = start;
			size_t item_len;
			enum addr_type t;
			char *host;
			unsigned port;

			while (*p && !is_sep(*p))
				p++;
			item_len = (size_t)(p - start);
			what = strndup(start, item_len);
			if (!what)
				return err_set(err, -ENOMEM, "out of memory");
			t = addr_type_split(&item, &item_len);
			r = addr_parse(item, item_len, default_port(t), what, &host, &port, err);
			if (r >= 0)
				r = hosts_add(&h, host, port, err);
		}
		if (r < 0)
			return r;
	}
	if (h.n == 0)
		return err_set(err, -EINVAL, "mon_host names no monitor");
	*ret_hosts = TAKE_PTR(h.v);
	*ret_n = h.n;
	h.n = 0;
	return 0;
}

/* ---- mon dump --------------------------------------------------------------------------- */

/* One monitor of the "mons" array: its best address into h, or a message in err. */
static int mon_entry_parse(json_object *mon, struct hosts *h, struct cairn_err *err)
{
	const char *best = NULL, *legacy;
	enum addr_type best_type = ADDR_NONE;
	json_object *pa, *vec;
	char *host;
	unsigned port;
	int r;

	if (json_object_object_get_ex(mon, "public_addrs", &pa) &&
	    json_object_object_get_ex(pa, "addrvec", &vec) &&
	    json_object_is_type(vec, json_type_array)) {
		size_t n = json_object_array_length(vec);

		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(vec, i);
			const char *type = json_get_string(e, "type"),
			           *addr = json_get_string(e, "addr");
			enum addr_type t;

			if (!type || !addr)
				continue;
			if (strcmp(type, "v2") == 0)
				t = ADDR_V2;
			else if (strcmp(type, "v1") == 0)
				t = ADDR_V1;
			else if (strcmp(type, "any") == 0)
				t = ADDR_ANY;
			else
				continue;
			if (!best || addr_type_rank(t) > addr_type_rank(best_type)) {
				best = addr;
				best_type = t;
			}
		}
	}
	if (best) {
		r = addr_parse(best, strlen(best), default_port(best_type), best, &host, &port,
		               err);
	} else {
		/* before nautilus: "addr": "IP:PORT/NONCE", always msgr1 */
		legacy = json_get_string(mon, "addr");
		if (!legacy)
			legacy = json_get_string(mon, "public_addr");
		if (!legacy)
			return err_set(err, -EINVAL, "it has no address");
		r = addr_parse(legacy, strlen(legacy), MON_PORT_V1, legacy, &host, &port, err);
	}
	if (r < 0)
		return r;
	return hosts_add(h, host, port, err);
}

int xml_mon_hosts_parse(const char *mon_dump_json, struct xml_host **ret_hosts, size_t *ret_n,
                        struct cairn_err *err)
{
	_cleanup_(hosts_release) struct hosts h = {0};
	_cleanup_(json_putp) json_object *root = NULL;
	enum json_tokener_error jerr = json_tokener_success;
	json_object *mons;
	size_t n;

	if (!mon_dump_json)
		return err_set(err, -EINVAL, "mon dump is missing");
	if (strlen(mon_dump_json) > GLUE_DOC_MAX)
		return err_set(err, -EINVAL, "mon dump is too long");
	root = json_tokener_parse_verbose(mon_dump_json, &jerr);
	if (!root)
		return err_set(err, -EINVAL, "mon dump is not valid json: %s",
		               json_tokener_error_desc(jerr));
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "mons", &mons) ||
	    !json_object_is_type(mons, json_type_array))
		return err_set(err, -EINVAL, "mon dump has no 'mons' array");
	n = json_object_array_length(mons);
	for (size_t i = 0; i < n; i++) {
		json_object *mon = json_object_array_get_idx(mons, i);
		struct cairn_err e = {0};
		const char *name = json_get_string(mon, "name");
		int r;

		if (!json_object_is_type(mon, json_type_object))
			return err_set(err, -EINVAL, "mon dump 'mons' entry %zu is not an object",
			               i);
		r = mon_entry_parse(mon, &h, &e);
		if (r == -ENOMEM || (r < 0 && h.n >= XML_HOSTS_MAX))
			return err_set(err, r, "%s", e.msg);
		if (r < 0)
			log_debug("skipping monitor '%s': %s", name ? name : "?", e.msg);
	}
	if (h.n == 0)
		return err_set(err, -EINVAL, "mon dump has no monitor with a usable address");
	*ret_hosts = TAKE_PTR(h.v);
	*ret_n = h.n;
	h.n = 0;
	return 0;
}
