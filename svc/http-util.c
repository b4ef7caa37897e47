/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "svc/http.h"
#include "svc/http-util.h"

static const char *const http_method_names[HTTP_METHOD_MAX] = {
        [HTTP_METHOD_GET] = "GET",     [HTTP_METHOD_HEAD] = "HEAD",
        [HTTP_METHOD_POST] = "POST",   [HTTP_METHOD_PUT] = "PUT",
        [HTTP_METHOD_PATCH] = "PATCH", [HTTP_METHOD_DELETE] = "DELETE",
        [HTTP_METHOD_OTHER] = "OTHER",
};

const char *http_method_to_string(enum http_method m)
{
	if ((unsigned)m >= HTTP_METHOD_MAX)
		return NULL;
	return http_method_names[m];
}

static const struct {
	int status;
	const char *text;
	const char *reason; /* only for statuses this layer sends by itself */
} http_status_table[] = {
        {100, "Continue", NULL},
        {101, "Switching Protocols", NULL},
        {200, "OK", NULL},
        {201, "Created", NULL},
        {202, "Accepted", NULL},
        {204, "No Content", NULL},
        {206, "Partial Content", NULL},
        {301, "Moved Permanently", NULL},
        {302, "Found", NULL},
        {304, "Not Modified", NULL},
        {400, "Bad Request", "bad_request"},
        {401, "Unauthorized", NULL},
        {403, "Forbidden", NULL},
        {404, "Not Found", NULL},
        {405, "Method Not Allowed", NULL},
        {406, "Not Acceptable", NULL},
        {408, "Request Timeout", NULL},
        {409, "Conflict", NULL},
        {410, "Gone", NULL},
        {411, "Length Required", NULL},
        {412, "Precondition Failed", NULL},
        {413, "Payload Too Large", "payload_too_large"},
        {414, "URI Too Long", NULL},
        {415, "Unsupported Media Type", NULL},
        {416, "Range Not Satisfiable", NULL},
        {417, "Expectation Failed", NULL},
        {422, "Unprocessable Entity", NULL},
        {423, "Locked", NULL},
        {428, "Precondition Required", NULL},
        {429, "Too Many Requests", NULL},
        {431, "Request Header Fields Too Large", "header_too_large"},
        {500, "Internal Server Error", "internal_error"},
        {501, "Not Implemented", NULL},
        {502, "Bad Gateway", NULL},
        {503, "Service Unavailable", "overloaded"},
        {504, "Gateway Timeout", NULL},
        {505, "HTTP Version Not Supported", NULL},
        {507, "Insufficient Storage", NULL},
};

const char *http_status_text(int status)
{
	for (size_t i = 0; i < ARRAY_SIZE(http_status_table); i++)
		if (http_status_table[i].status == status)
			return http_status_table[i].text;
	return "Unknown";
}

const char *http_status_reason(int status)
{
	for (size_t i = 0; i < ARRAY_SIZE(http_status_table); i++)
		if (http_status_table[i].status == status && http_status_table[i].reason)
			return http_status_table[i].reason;
	return "error";
}

int http_percent_decode(const char *s, size_t len, bool plus_is_space, char **ret)
{
	char *out, *o;

	out = malloc(len + 1);
	if (!out)
		return -ENOMEM;
	o = out;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3) {
				free(out);
				return -EINVAL;
			}
			hi = hex_digit(s[i + 1]);
			lo = hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return -EINVAL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '\0') {
			free(out);
			return -EINVAL;
		} else if (c == '+' && plus_is_space) {
			*o++ = ' ';
		} else {
			*o++ = c;
		}
	}
	*o = '\0';
	*ret = out;
	return 0;
}

void http_params_free(struct http_param *params, size_t n)
{
	if (!params)
		return;
	for (size_t i = 0; i < n; i++) {
		free(params[i].name);
		free(params[i].value);
	}
	free(params);
}

int http_query_parse(const char *query, struct http_param **ret, size_t *ret_n)
{
	struct http_param *params = NULL;
	size_t n = 0, cap = 0;
	const char *p = query;
	int r;

	while (*p) {
		const char *end = strchrnul(p, '&');
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *name_end = eq ? eq : end;
		char *name = NULL, *value = NULL;

		if (end == p) {
			p++;
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct http_param *np = reallocarray(params, ncap, sizeof(*np));

			if (!np) {
				r = -ENOMEM;
				goto fail;
			}
			params = np;
			cap = ncap;
		}
		r = http_percent_decode(p, (size_t)(name_end - p), true, &name);
		if (r < 0)
			goto fail;
		if (eq)
			r = http_percent_decode(eq + 1, (size_t)(end - eq - 1), true, &value);
		else
			r = http_percent_decode("", 0, true, &value);
		if (r < 0) {
			free(name);
			goto fail;
		}
		params[n].name = name;
		params[n].value = value;
		n++;
		p = *end ? end + 1 : end;
	}
	*ret = params;
	*ret_n = n;
	return 0;
fail:
	http_params_free(params, n);
	return r;
}

const char *http_params_get(const struct http_param *params, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(params[i].name, name) == 0)
			return params[i].value;
	return NULL;
}

char *http_error_body(int status, const char *message)
{
	size_t len = strlen(message);
	char *esc, *e, *body;

	/* the worst case is \u00XX for every byte */
	esc = malloc(len * 6 + 1);
	if (!esc)
		return NULL;
	e = esc;
	for (const unsigned char *m = (const unsigned char *)message; *m; m++) {
		if (*m == '"' || *m == '\\') {
			*e++ = '\\';
			*e++ = (char)*m;
		} else if (*m < 0x20) {
			e += snprintf(e, 7, "\\u%04x", *m);
		} else {
			*e++ = (char)*m;
		}
	}
	*e = '\0';
	body = str_printf("{\"error\":{\"code\":%d,\"reason\":\"%s\",\"message\":\"%s\"}}", status,
	                  http_status_reason(status), esc);
	free(esc);
	return body;
}
