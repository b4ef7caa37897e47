/* SPDX-License-Identifier: MIT */
/*
 * e2e-virt: start and stop a guest under libvirt's embedded QEMU driver, for the boot test
 * and the demo, without touching the system libvirt.
 *
 *   e2e-virt ROOT start DOMAIN.xml   define the domain and start it; prints its name
 *   e2e-virt ROOT stop NAME          destroy it (when running) and undefine it
 *   e2e-virt ROOT secret-usage UUID  print the usage name of the ceph secret UUID
 *
 * Why not virsh: a guest with a cephx <auth> needs the secret's value when it starts, and
 * the embedded QEMU driver reads it from the embedded secret driver of the same process
 * only (libvirt: "when an embedded instance of the secret driver is open, any other
 * embedded drivers will automatically use it"). virsh opens one URI, so it cannot start
 * such a guest; this opens secret:///embed?root=ROOT first, then qemu:///embed?root=ROOT.
 * Both embedded drivers lock ROOT for the life of the process: nothing else may have them
 * open meanwhile. The QEMU process outlives this one: stop it with 'stop'.
 *
 * libvirt 9.0's QEMU driver also "elevates" the calling thread's identity before it reads a
 * secret, and an application thread has none ("No current identity to elevate"): inside
 * libvirtd the RPC layer sets it. libvirt has no public call for that, so this sets the
 * process's system identity as the thread's through libvirt's own (exported, private)
 * virIdentityGetSystem/virIdentitySetCurrent, found with dlsym: where they are missing
 * (another libvirt), it goes on without and the start may fail with that message.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "common/cleanup.h"
#include "common/common.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose)
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree)
DEFINE_TRIVIAL_CLEANUP_FUNC(virSecretPtr, virSecretFree)

static void quiet_errors(void *opaque, virErrorPtr e)
{
	/* libvirt's errors come back through virGetLastErrorMessage() */
}

static void *event_loop(void *arg)
{
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

/* Embedded drivers need an event loop in the process: run libvirt's default one. */
static int event_loop_start(void)
{
	pthread_t t;

	if (virEventRegisterDefaultImpl() < 0) {
		fprintf(stderr, "e2e-virt: cannot register libvirt's event loop: %s\n",
		        virGetLastErrorMessage());
		return -EIO;
	}
	if (pthread_create(&t, NULL, event_loop, NULL) != 0) {
		fprintf(stderr, "e2e-virt: cannot start the event loop thread\n");
		return -EAGAIN;
	}
	pthread_detach(t);
	return 0;
}

/* See the top of the file: give this thread the identity libvirtd would give a client. */
static void identity_set_system(void)
{
	void *(*get_system)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "virIdentityGetSystem");
	int (*set_current)(void *) = (int (*)(void *))dlsym(RTLD_DEFAULT, "virIdentitySetCurrent");
	void (*unref)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "g_object_unref");
	void *ident;

	if (!get_system || !set_current || !unref) {
		fprintf(stderr,
		        "e2e-virt: libvirt's identity calls are missing; going on without\n");
		return;
	}
	ident = get_system();
	if (!ident || set_current(ident) < 0)
		fprintf(stderr, "e2e-virt: cannot set the system identity: %s\n",
		        virGetLastErrorMessage());
	if (ident)
		unref(ident);
}

static virConnectPtr open_embedded(const char *driver, const char *root)
{
	_cleanup_(freep) char *uri = str_printf("%s:///embed?root=%s", driver, root);
	virConnectPtr c;

	if (!uri)
		return NULL;
	c = virConnectOpen(uri);
	if (!c)
		fprintf(stderr, "e2e-virt: cannot open '%s': %s\n", uri, virGetLastErrorMessage());
	return c;
}

static int read_file(const char *path, char **ret)
{
	_cleanup_(fclosep) FILE *f = fopen(path, "re");
	_cleanup_(freep) char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		int e = errno;

		fprintf(stderr, "e2e-virt: cannot open '%s': %s\n", path, strerror(e));
		return -e;
	}
	do {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);
			if (!nb)
				return -ENOMEM;
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		fprintf(stderr, "e2e-virt: cannot read '%s'\n", path);
		return -EIO;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

static int cmd_start(const char *root, const char *xml_path)
{
	_cleanup_(freep) char *xml = NULL;
	_cleanup_(virConnectClosep) virConnectPtr secrets = NULL;
	_cleanup_(virConnectClosep) virConnectPtr qemu = NULL;
	_cleanup_(virDomainFreep) virDomainPtr dom = NULL;

	if (read_file(xml_path, &xml) < 0)
		return 1;
	/* the secret driver first, so the QEMU driver finds it when the guest starts */
	secrets = open_embedded("secret", root);
	if (!secrets)
		return 1;
	qemu = open_embedded("qemu", root);
	if (!qemu)
		return 1;
	identity_set_system();
	dom = virDomainDefineXML(qemu, xml);
	if (!dom) {
		fprintf(stderr, "e2e-virt: cannot define the domain: %s\n",
		        virGetLastErrorMessage());
		return 1;
	}
	if (virDomainCreate(dom) < 0) {
		/* every libvirt call resets the last error: print it before the next call */
		fprintf(stderr, "e2e-virt: cannot start the domain: %s\n",
		        virGetLastErrorMessage());
		if (virDomainUndefine(dom) < 0)
			fprintf(stderr, "e2e-virt: cannot undefine domain '%s': %s\n",
			        virDomainGetName(dom), virGetLastErrorMessage());
		return 1;
	}
	printf("%s\n", virDomainGetName(dom));
	return 0;
}

static int cmd_stop(const char *root, const char *name)
{
	_cleanup_(virConnectClosep) virConnectPtr qemu = open_embedded("qemu", root);
	_cleanup_(virDomainFreep) virDomainPtr dom = NULL;
	int active;

	if (!qemu)
		return 1;
	dom = virDomainLookupByName(qemu, name);
	if (!dom) {
		if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
			return 0;
		fprintf(stderr, "e2e-virt: cannot look up domain '%s': %s\n", name,
		        virGetLastErrorMessage());
		return 1;
	}
	active = virDomainIsActive(dom);
	if (active > 0 && virDomainDestroy(dom) < 0 && virDomainIsActive(dom) != 0) {
		fprintf(stderr, "e2e-virt: cannot destroy domain '%s': %s\n", name,
		        virGetLastErrorMessage());
		return 1;
	}
	if (virDomainIsPersistent(dom) > 0 && virDomainUndefine(dom) < 0) {
		fprintf(stderr, "e2e-virt: cannot undefine domain '%s': %s\n", name,
		        virGetLastErrorMessage());
		return 1;
	}
	return 0;
}

/* The usage name of ceph secret UUID (its value stays private: libvirt never shows it). */
static int cmd_secret_usage(const char *root, const char *uuid)
{
	_cleanup_(virConnectClosep) virConnectPtr secrets = open_embedded("secret", root);
	_cleanup_(virSecretFreep) virSecretPtr s = NULL;
	const char *usage;

	if (!secrets)
		return 1;
	s = virSecretLookupByUUIDString(secrets, uuid);
	if (!s) {
		fprintf(stderr, "e2e-virt: no secret '%s': %s\n", uuid, virGetLastErrorMessage());
		return 1;
	}
	if (virSecretGetUsageType(s) != VIR_SECRET_USAGE_TYPE_CEPH) {
		fprintf(stderr, "e2e-virt: secret '%s' is not a ceph secret\n", uuid);
		return 1;
	}
	usage = virSecretGetUsageID(s);
	if (!usage) {
		fprintf(stderr, "e2e-virt: secret '%s' has no usage: %s\n", uuid,
		        virGetLastErrorMessage());
		return 1;
	}
	printf("%s\n", usage);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4 || argv[1][0] != '/') {
		fprintf(stderr, "usage: e2e-virt ROOT start DOMAIN.xml | stop NAME | "
		                "secret-usage UUID\n(ROOT: an absolute path)\n");
		return 2;
	}
	virSetErrorFunc(NULL, quiet_errors);
	/* libvirt's own log lines (the embedded drivers log to stderr) go to a file in ROOT */
	_cleanup_(freep) char *log = str_printf("3:file:%s/e2e-virt.log", argv[1]);
	if (!log || (!getenv("LIBVIRT_LOG_OUTPUTS") && setenv("LIBVIRT_LOG_OUTPUTS", log, 1) < 0))
		return 1;
	if (virInitialize() < 0 || event_loop_start() < 0)
		return 1;
	if (strcmp(argv[2], "start") == 0)
		return cmd_start(argv[1], argv[3]);
	if (strcmp(argv[2], "stop") == 0)
		return cmd_stop(argv[1], argv[3]);
	if (strcmp(argv[2], "secret-usage") == 0)
		return cmd_secret_usage(argv[1], argv[3]);
	fprintf(stderr, "e2e-virt: unknown command '%s'\n", argv[2]);
	return 2;
}
