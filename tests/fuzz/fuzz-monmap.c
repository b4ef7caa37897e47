/* SPDX-License-Identifier: MIT */
/*
 * libvirt-glue: the monitors of a monmap (`mon dump` JSON from the cluster) and of a
 * ceph.conf mon_host value, which end up in every disk XML. Properties: at most
 * XML_HOSTS_MAX hosts, each with a non-empty name without brackets or spaces and a port.
 */
#include <errno.h>

#include "tests/fuzz/fuzz.h"

#include "libvirt-glue/libvirt-glue.h"

static void check(const struct xml_host *hosts, size_t n)
{
	FUZZ_ASSERT(n >= 1 && n <= XML_HOSTS_MAX);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(hosts[i].name && hosts[i].name[0]);
		FUZZ_ASSERT(!strpbrk(hosts[i].name, "[] \t\n,;"));
		FUZZ_ASSERT(hosts[i].port > 0 && hosts[i].port <= 65535);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *s = fuzz_cstr(data, size);
	struct xml_host *hosts = NULL;
	struct cairn_err err = {0};
	size_t n = 0;

	if (xml_mon_hosts_parse(s, &hosts, &n, &err) == 0) {
		check(hosts, n);
		xml_hosts_free(hosts, n);
	} else {
		FUZZ_ASSERT(err.msg[0]);
	}
	hosts = NULL;
	n = 0;
	err_clear(&err);
	if (xml_mon_host_conf_parse(s, &hosts, &n, &err) == 0) {
		check(hosts, n);
		xml_hosts_free(hosts, n);
	} else {
		FUZZ_ASSERT(err.msg[0]);
	}
	return 0;
}
