/* SPDX-License-Identifier: MIT */
/*
 * svc/http-util: the pure helpers of svc/http (internal to svc/): percent-decoding, query
 * strings, status texts, the JSON error body. No libuv, no sockets: unit-tested directly.
 */
#ifndef CAIRN_SVC_HTTP_UTIL_H
#define CAIRN_SVC_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Percent-decode s[0..len) into a new NUL-terminated string; plus_is_space turns '+' into
 * ' ' (query strings). -EINVAL for a malformed escape, an escaped or raw NUL; -ENOMEM.
 */
int http_percent_decode(const char *s, size_t len, bool plus_is_space, char **ret);

struct http_param {
	char *name;
	char *value;
};

/*
 * Split a raw query string ("a=1&force&b=x%20y") into decoded pairs; empty segments are
 * skipped, a name without '=' gets "". *ret is NULL when there is no pair.
 */
int http_query_parse(const char *query, struct http_param **ret, size_t *ret_n);
void http_params_free(struct http_param *params, size_t n);
/* The value of the first pair named name, or NULL. */
const char *http_params_get(const struct http_param *params, size_t n, const char *name);

/* The API's reason name for a status this layer answers by itself ("bad_request"). */
const char *http_status_reason(int status);

/*
 * {"error":{"code":status,"reason":"...","message":"..."}} with message JSON-escaped;
 * a new string, NULL on out-of-memory.
 */
char *http_error_body(int status, const char *message);

#endif
