/* SPDX-License-Identifier: MIT */
/*
 * common: names and sizes, checked at the API boundary. Properties: a valid name is
 * [A-Za-z0-9][A-Za-z0-9._-]{0,62}; a parsed size reads back the same from its decimal
 * form, and size_format always fits its buffer.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>

#include "tests/fuzz/fuzz.h"

#include "common/common.h"

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *s = fuzz_cstr(data, size);
	struct cairn_err err = {0};
	char buf[SIZE_STR_MAX], dec[32];
	uint64_t bytes = 0, again = 0;
	int r;

	r = name_validate(s, "volume", &err);
	FUZZ_ASSERT((r == 0) == name_ok(s));
	FUZZ_ASSERT(r == 0 || (err.code == r && err.msg[0] && strlen(err.msg) < sizeof(err.msg)));

	if (size_parse(s, &bytes) == 0) {
		snprintf(dec, sizeof(dec), "%" PRIu64, bytes);
		FUZZ_ASSERT(size_parse(dec, &again) == 0 && again == bytes);
		err_clear(&err);
		(void)size_validate(bytes, 0, "size", &err);
		err_clear(&err);
		(void)size_validate(bytes, UINT64_C(1) << 40, "size", &err);
	}
	if (size >= sizeof(uint64_t)) {
		memcpy(&bytes, data, sizeof(bytes));
		FUZZ_ASSERT(size_format(bytes, buf) == buf && strlen(buf) < SIZE_STR_MAX);
	}
	if (uuid_is_valid(s))
		FUZZ_ASSERT(strlen(s) == UUID_STR_LEN - 1);
	return 0;
}
