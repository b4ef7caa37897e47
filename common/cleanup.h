/* SPDX-License-Identifier: MIT */
/*
 * Ownership helpers in the systemd style: a variable declared with _cleanup_(fn) is
 * released by fn(&var) when it goes out of scope; TAKE_PTR() hands the value on and
 * leaves NULL behind so the cleanup does nothing.
 */
#ifndef CAIRN_CLEANUP_H
#define CAIRN_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

#define TAKE_PTR(p)                       \
	({                                \
		__typeof__(p) _tp_ = (p); \
		(p) = NULL;               \
		_tp_;                     \
	})

#define TAKE_FD(fd)              \
	({                       \
		int _tf_ = (fd); \
		(fd) = -1;       \
		_tf_;            \
	})

/* Define fn##p(type *p) that calls fn(*p) when *p is not NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, fn) \
	static inline void fn##p(type *p)     \
	{                                     \
		if (*p)                       \
			fn(*p);               \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#endif
