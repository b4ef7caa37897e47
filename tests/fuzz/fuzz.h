/* SPDX-License-Identifier: MIT */
/* Shared bits of the libFuzzer targets: a NUL-terminated copy of the input, a hard check. */
#ifndef CAIRN_FUZZ_H
#define CAIRN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (it may hold NULs before the end); the caller frees it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A property that must hold whatever the input: stop the run with a message. */
#define FUZZ_ASSERT(cond)                                                                   \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, \
			        #cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

#endif
