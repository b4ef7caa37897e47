/* SPDX-License-Identifier: MIT */
/*
 * svc/http-util: percent-decoding (paths and query strings) and query parsing, the first
 * things a request target goes through. Properties: a decoded string never holds a NUL
 * and is never longer than its source; every parsed pair is a decoded name and value.
 */
#include <errno.h>
#include <stdbool.h>

#include "tests/fuzz/fuzz.h"

#include "common/common.h"
#include "svc/http-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *s = fuzz_cstr(data, size);
	struct http_param *params = NULL;
	size_t n = 0;

	for (int plus = 0; plus < 2; plus++) {
		char *out = NULL;
		int r = http_percent_decode(s, size, plus, &out);

		if (r >= 0) {
			FUZZ_ASSERT(out);
			FUZZ_ASSERT(strlen(out) <= size);
			FUZZ_ASSERT(memchr(s, '\0', size) == NULL);
			free(out);
		} else {
			FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM);
		}
	}
	if (http_query_parse(s, &params, &n) >= 0) {
		for (size_t i = 0; i < n; i++) {
			FUZZ_ASSERT(params[i].name && params[i].value);
			FUZZ_ASSERT(http_params_get(params, n, params[i].name) != NULL);
		}
		http_params_free(params, n);
	}
	free(http_error_body(size % 600, s));
	(void)http_status_reason((int)(size % 600));
	return 0;
}
