/* SPDX-License-Identifier: MIT */
/*
 * libvirt-glue: what cairn reads back from libvirt (a domain's XML: its disk targets, one
 * disk, a disk's target) and the cephx key decoder that feeds libvirt's secret.
 * Properties: the list of targets ends with NULL, a disk found by its target reads back
 * that target, a decoded key is within CEPHX_KEY_MAX bytes, and a failed decode never
 * quotes the input in its message.
 */
#include <errno.h>

#include <libxml/parser.h>

#include "tests/fuzz/fuzz.h"

#include "libvirt-glue/libvirt-glue.h"

static void silent(void *ctx, const char *msg, ...)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, silent);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *s = fuzz_cstr(data, size);
	unsigned char key[CEPHX_KEY_MAX];
	struct cairn_err err = {0};
	char **targets = NULL;
	size_t n = 0, klen = 0;

	if (xml_domain_disk_targets(s, &targets, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			FUZZ_ASSERT(targets[i] != NULL);
		FUZZ_ASSERT(targets[n] == NULL);
		if (n > 0) {
			_cleanup_(freep) char *disk = NULL, *t = NULL;
			struct cairn_err e2 = {0};

			if (xml_domain_disk_find(s, targets[0], &disk, &e2) == 0 &&
			    xml_disk_target(disk, &t, &e2) == 0)
				FUZZ_ASSERT(strcmp(t, targets[0]) == 0);
		}
		xml_strv_free(targets);
	}
	err_clear(&err);
	{
		_cleanup_(freep) char *t = NULL;
		(void)xml_disk_target(s, &t, &err);
	}
	err_clear(&err);
	if (cephx_key_decode(s, key, &klen, &err) == 0) {
		FUZZ_ASSERT(klen > 0 && klen <= CEPHX_KEY_MAX);
	} else {
		FUZZ_ASSERT(err.msg[0]);
		if (strlen(s) >= 8) /* not even a part of it: the key may be almost right */
			FUZZ_ASSERT(!strstr(err.msg, s));
	}
	return 0;
}
