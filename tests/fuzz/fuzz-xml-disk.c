/* SPDX-License-Identifier: MIT */
/*
 * libvirt-glue: the <disk> XML from fields a client influences (names, target, bus, cache,
 * serial, monitors, QoS). The input is a flags byte, then fields separated by newlines:
 * pool, image, snapshot, auth user, secret uuid, target dev, bus, cache, serial, then up to
 * four monitor host names. Properties: format succeeds exactly when validate does; what it
 * writes is well-formed XML whose target reads back as the one given (no field can break
 * out of its attribute or element).
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
	_cleanup_(freep) char *s = NULL, *xml = NULL, *target = NULL;
	char *fields[13] = {NULL};
	struct xml_host hosts[4];
	struct xml_disk d = {0};
	struct cairn_err err = {0}, err2 = {0};
	size_t nf = 0, nh = 0;
	uint8_t flags;
	char *p;
	int rv, rf;

	if (size < 1)
		return 0;
	flags = data[0];
	s = fuzz_cstr(data + 1, size - 1);
	for (p = s; nf < ARRAY_SIZE(fields); nf++) {
		fields[nf] = p;
		p = strchr(p, '\n');
		if (!p) {
			nf++;
			break;
		}
		*p++ = '\0';
	}
#define FIELD(i) ((i) < nf && fields[i][0] ? fields[i] : NULL)
	d.pool = FIELD(0);
	d.image = FIELD(1);
	d.snapshot = FIELD(2);
	d.auth_user = FIELD(3);
	d.secret_uuid = FIELD(4);
	d.target_dev = FIELD(5);
	d.bus = FIELD(6);
	d.cache = FIELD(7);
	d.serial = FIELD(8);
	for (size_t i = 9; i < nf && nh < ARRAY_SIZE(hosts); i++)
		hosts[nh++] = (struct xml_host){fields[i],
		                                3300 + (unsigned)i + (flags & 0x80 ? 70000 : 0)};
	d.hosts = hosts;
	d.n_hosts = (flags & 0x40) ? 0 : nh;
	d.discard_ignore = flags & 1;
	d.readonly = flags & 2;
	d.shareable = flags & 4;
	d.boot_order = (flags >> 3) & 3;
	if (flags & 0x20) {
		d.iotune.total_iops_sec = flags;
		if (flags & 0x10)
			d.iotune.read_iops_sec = 1; /* total and read together: invalid */
	}

	rv = xml_disk_validate(&d, &err);
	rf = xml_disk_format(&d, &xml, &err2);
	FUZZ_ASSERT((rv == 0) == (rf == 0));
	if (rf < 0) {
		FUZZ_ASSERT(err2.msg[0]);
		return 0;
	}
	FUZZ_ASSERT(xml && strstr(xml, "<disk"));
	err_clear(&err);
	FUZZ_ASSERT(xml_disk_target(xml, &target, &err) == 0);
	FUZZ_ASSERT(d.target_dev && strcmp(target, d.target_dev) == 0);
	return 0;
}
