/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static bool name_char_first(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool name_char(char c)
{
	return name_char_first(c) || c == '.' || c == '_' || c == '-';
}

/*
 * What the messages call the name: "volume" gives "volume name", but a what that already
 * ends in the word "name" (a JSON field called "name", "new volume name") is not doubled.
 */
static const char *name_suffix(const char *what)
{
	size_t n = strlen(what);

	if (n >= 4 && strcmp(what + n - 4, "name") == 0 &&
	    (n == 4 || what[n - 5] == ' ' || what[n - 5] == '_' || what[n - 5] == '-'))
		return "";
	return " name";
}

int name_validate(const char *name, const char *what, struct cairn_err *err)
{
	const char *sfx;
	size_t len;

	if (!what)
		what = "";
	sfx = *what ? name_suffix(what) : "name";
	if (!name)
		return err_set(err, -EINVAL, "%s%s is missing", what, sfx);
	len = strlen(name);
	if (len == 0)
		return err_set(err, -EINVAL, "%s%s is empty", what, sfx);
	if (len > NAME_MAX_LEN)
		return err_set(err, -EINVAL, "%s%s is %zu characters long, at most %d are allowed",
		               what, sfx, len, NAME_MAX_LEN);
	if (!name_char_first(name[0]))
		return err_set(err, -EINVAL,
		               "%s%s must start with a letter or a digit (A-Z, a-z, 0-9)", what,
		               sfx);
	for (size_t i = 1; i < len; i++)
		if (!name_char(name[i]))
			return err_set(err, -EINVAL,
			               "%s%s has a character that is not allowed at position %zu"
			               " (allowed: A-Z a-z 0-9 . _ -)",
			               what, sfx, i + 1);
	return 0;
}

int uuid_generate_str(char ret[UUID_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	_cleanup_(closep) int fd = -1;
	size_t got = 0;
	char *p = ret;

	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < sizeof(b)) {
		ssize_t n = read(fd, b + got, sizeof(b) - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		got += (size_t)n;
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 0xf];
	}
	*p = '\0';
	return 0;
}

bool uuid_is_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}
