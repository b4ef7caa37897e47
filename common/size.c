/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static const struct {
	char suffix;
	unsigned shift;
} size_units[] = {
        {'K', 10}, {'M', 20}, {'G', 30}, {'T', 40}, {'P', 50}, {'E', 60},
};

static int size_unit_shift(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	for (size_t i = 0; i < ARRAY_SIZE(size_units); i++)
		if (size_units[i].suffix == c)
			return (int)size_units[i].shift;
	return -1;
}

int size_parse(const char *s, uint64_t *ret_bytes)
{
	uint64_t whole = 0, frac = 0, frac_div = 1, bytes;
	const char *p = s;
	int shift = 0;

	if (!s || !*s)
		return -EINVAL;
	if (*p < '0' || *p > '9')
		return -EINVAL; /* no sign, no space, no "0x" */
	for (; *p >= '0' && *p <= '9'; p++) {
		uint64_t digit = (uint64_t)(*p - '0');
		if (whole > UINT64_MAX / 10 ||
		    (whole == UINT64_MAX / 10 && digit > UINT64_MAX % 10))
			return -ERANGE;
		whole = whole * 10 + digit;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (frac_div >= 1000000000ULL)
				return -EINVAL; /* more precision than any unit can carry */
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_div *= 10;
		}
	}
	if (*p) {
		shift = size_unit_shift(*p);
		if (shift < 0 && (*p == 'B' || *p == 'b') && p[1] == '\0')
			shift = 0; /* "4096B" */
		else if (shift < 0)
			return -EINVAL;
		else if (p[1] != '\0' && strcmp(p + 1, "iB") != 0 && strcmp(p + 1, "B") != 0 &&
		         strcmp(p + 1, "ib") != 0 && strcmp(p + 1, "b") != 0)
			return -EINVAL;
	}
	if (shift > 0 && whole > (UINT64_MAX >> shift))
		return -ERANGE;
	bytes = whole << shift;
	if (frac) {
		/* frac / frac_div of one unit must be a whole number of bytes */
		unsigned __int128 part = ((unsigned __int128)frac << shift);
		if (part % frac_div)
			return -EINVAL;
		part /= frac_div;
		if (bytes > UINT64_MAX - (uint64_t)part)
			return -ERANGE;
		bytes += (uint64_t)part;
	}
	*ret_bytes = bytes;
	return 0;
}

int size_validate(uint64_t bytes, uint64_t max, const char *what, struct cairn_err *err)
{
	char b[SIZE_STR_MAX];

	if (bytes == 0)
		return err_set(err, -EINVAL, "%s must be positive", what);
	if (bytes % 512)
		return err_set(err, -EINVAL, "%s must be a multiple of 512 bytes, %llu is not",
		               what, (unsigned long long)bytes);
	if (max && bytes > max)
		return err_set(err, -ERANGE, "%s is larger than the limit of %s", what,
		               size_format(max, b));
	return 0;
}

char *size_format(uint64_t bytes, char buf[SIZE_STR_MAX])
{
	static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	unsigned i = 0;

	while (i + 1 < ARRAY_SIZE(names) && bytes >= (1ULL << (10 * (i + 1))))
		i++;
	if (i == 0) {
		snprintf(buf, SIZE_STR_MAX, "%llu B", (unsigned long long)bytes);
	} else {
		uint64_t unit = 1ULL << (10 * i);
		uint64_t w = bytes / unit;
		uint64_t tenth = ((bytes % unit) * 10 + unit / 2) / unit;
		if (tenth == 10) {
			w++;
			tenth = 0;
		}
		if (w == 1024 && i + 1 < ARRAY_SIZE(names)) {
			i++; /* 1023.97 MiB reads better as 1 GiB */
			w = 1;
		}
		if (tenth)
			snprintf(buf, SIZE_STR_MAX, "%u.%u %s", (unsigned)w, (unsigned)tenth,
			         names[i]);
		else
			snprintf(buf, SIZE_STR_MAX, "%u %s", (unsigned)w, names[i]); /* w <= 1024 */
	}
	return buf;
}
