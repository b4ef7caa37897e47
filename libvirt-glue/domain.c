/* SPDX-License-Identifier: MIT */
/*
 * Disks in and out of libvirt domains. The checks libvirt would only answer with a
 * generic error are made first, from the domain's own XML: is the target dev free (attach),
 * which <disk> has it (detach).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

#define LOG_MODULE "libvirt-glue"
#include "libvirt-glue/glue-internal.h"

static void virt_error_ignore(void *data, virErrorPtr e)
{
}

int virt_glue_init(void)
{
	xmlInitParser();
	if (virInitialize() < 0)
		return -EIO;
	/* errors come back through struct cairn_err, not on stderr */
	virSetErrorFunc(NULL, virt_error_ignore);
	return 0;
}

void virt_glue_cleanup(void)
{
	xmlCleanupParser();
}

static int virt_errno(int code, int fallback)
{
	switch (code) {
	case VIR_ERR_NO_DOMAIN:
	case VIR_ERR_NO_SECRET:
	case VIR_ERR_DEVICE_MISSING:
		return -ENOENT;
	case VIR_ERR_OPERATION_TIMEOUT:
		return -ETIME; /* not ETIMEDOUT: the service reads that as "ceph is down" */
	case VIR_ERR_AUTH_FAILED:
	case VIR_ERR_AUTH_CANCELLED:
	case VIR_ERR_ACCESS_DENIED:
		return -EACCES;
	case VIR_ERR_NO_SUPPORT:
	case VIR_ERR_OPERATION_UNSUPPORTED:
	case VIR_ERR_ARGUMENT_UNSUPPORTED:
		return -ENOSYS;
	case VIR_ERR_XML_ERROR:
	case VIR_ERR_XML_DETAIL:
	case VIR_ERR_INVALID_ARG:
	case VIR_ERR_CONFIG_UNSUPPORTED:
		return -EINVAL;
	case VIR_ERR_OPERATION_INVALID: /* e.g. "domain is not running" */
		return -EBUSY;
	case VIR_ERR_NO_CONNECT:
	case VIR_ERR_RPC:
		return -ENOTCONN;
	default:
		return fallback;
	}
}

int glue__virt_err(struct cairn_err *err, int fallback, const char *fmt, ...)
{
	virErrorPtr e = virGetLastError();
	char what[192];
	va_list ap;
	int code;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!e)
		return err_set(err, fallback, "%s", what);
	code = virt_errno(e->code, fallback);
	code = err_set(err, code, "%s: %s", what, e->message ? e->message : "unknown error");
	virResetLastError();
	return code;
}

static void domain_freep(virDomainPtr *d)
{
	if (*d)
		virDomainFree(*d);
}

static int domain_lookup(virConnectPtr conn, const char *name, virDomainPtr *ret_dom,
                         struct cairn_err *err)
{
	virDomainPtr dom;

	if (!conn)
		return err_set(err, -EINVAL, "no libvirt connection");
	if (!name || !*name)
		return err_set(err, -EINVAL, "domain name is missing");
	dom = virDomainLookupByName(conn, name);
	if (!dom) {
		virErrorPtr e = virGetLastError();

		if (e && e->code == VIR_ERR_NO_DOMAIN) {
			virResetLastError();
			return err_set(err, -ENOENT, "domain '%s' not found", name);
		}
		return glue__virt_err(err, -EIO, "cannot look up domain '%s'", name);
	}
	*ret_dom = dom;
	return 0;
}

static unsigned affect_flags(bool live, bool config)
{
	unsigned flags = 0;

	if (live)
		flags |= VIR_DOMAIN_AFFECT_LIVE;
	if (config)
		flags |= VIR_DOMAIN_AFFECT_CONFIG;
	return flags ? flags : VIR_DOMAIN_AFFECT_CURRENT;
}

static int domain_xml_get(virDomainPtr dom, const char *name, unsigned xml_flags, char **ret_xml,
                          struct cairn_err *err)
{
	char *xml = virDomainGetXMLDesc(dom, xml_flags);

	if (!xml)
		return glue__virt_err(err, -EIO, "cannot read the xml of domain '%s'", name);
	*ret_xml = xml;
	return 0;
}

/* Is dev a disk target in the domain's XML of this flavour (0: current, or INACTIVE)? */
static int target_used(virDomainPtr dom, const char *name, unsigned xml_flags, const char *dev,
                       bool *ret_used, struct cairn_err *err)
{
	_cleanup_(freep) char *xml = NULL;
	char **targets = NULL;
	size_t n = 0;
	bool used = false;
	int r;

	r = domain_xml_get(dom, name, xml_flags, &xml, err);
	if (r < 0)
		return r;
	r = xml_domain_disk_targets(xml, &targets, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (strcmp(targets[i], dev) == 0)
			used = true;
	xml_strv_free(targets);
	*ret_used = used;
	return 0;
}

/* The XML flavours (0: current/live, or INACTIVE) a change with live/config touches. */
static size_t xml_flavours(bool live, bool config, unsigned ret[2])
{
	size_t n = 0;

	if (live || !config)
		ret[n++] = 0;
	if (config)
		ret[n++] = VIR_DOMAIN_XML_INACTIVE;
	return n;
}

int virt_disk_attach(virConnectPtr conn, const char *domain, const char *disk_xml, bool live,
                     bool config, struct cairn_err *err)
{
	_cleanup_(domain_freep) virDomainPtr dom = NULL;
	_cleanup_(freep) char *dev = NULL;
	/* the definitions the change touches: the current one, or live and/or persistent */
	unsigned xml_flags[2];
	size_t n_xml = xml_flavours(live, config, xml_flags);
	int r;

	r = xml_disk_target(disk_xml, &dev, err);
	if (r < 0)
		return r;
	r = domain_lookup(conn, domain, &dom, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_xml; i++) {
		bool used = false;

		r = target_used(dom, domain, xml_flags[i], dev, &used, err);
		if (r < 0)
			return r;
		if (used)
			return err_set(err, -EEXIST,
			               "disk target '%s' is already used in domain '%s'", dev,
			               domain);
	}
	if (virDomainAttachDeviceFlags(dom, disk_xml, affect_flags(live, config)) < 0)
		return glue__virt_err(err, -EIO, "cannot attach disk '%s' to domain '%s'", dev,
		                      domain);
	log_debug("attached disk '%s' to domain '%s'", dev, domain);
	return 0;
}

int virt_disk_targets(virConnectPtr conn, const char *domain, bool live, bool config,
                      char ***ret_targets, size_t *ret_n, struct cairn_err *err)
{
	_cleanup_(domain_freep) virDomainPtr dom = NULL;
	char **all = NULL;
	unsigned flavours[2];
	size_t n_fl = xml_flavours(live, config, flavours), n_all = 0;
	int r;

	r = domain_lookup(conn, domain, &dom, err);
	if (r < 0)
		return r;
	all = calloc(1, sizeof(char *));
	if (!all)
		return err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n_fl; i++) {
		_cleanup_(freep) char *xml = NULL;
		char **t = NULL, **nv;
		size_t n = 0;

		r = domain_xml_get(dom, domain, flavours[i], &xml, err);
		if (r >= 0)
			r = xml_domain_disk_targets(xml, &t, &n, err);
		if (r < 0) {
			xml_strv_free(all);
			return r;
		}
		nv = reallocarray(all, n_all + n + 1, sizeof(char *));
		if (!nv) {
			xml_strv_free(t);
			xml_strv_free(all);
			return err_set(err, -ENOMEM, "out of memory");
		}
		all = nv;
		memcpy(all + n_all, t, n * sizeof(char *));
		n_all += n;
		all[n_all] = NULL;
		free(t); /* its strings now belong to all */
	}
	*ret_targets = all;
	*ret_n = n_all;
	return 0;
}

int virt_disk_detach(virConnectPtr conn, const char *domain, const char *volume, const char *pool,
                     const char *image, const char *target_dev, bool live, bool config,
                     char **ret_target_dev, struct cairn_err *err)
{
	_cleanup_(domain_freep) virDomainPtr dom = NULL;
	_cleanup_(freep) char *disk_xml = NULL, *dev = NULL;
	unsigned flavours[2];
	size_t n_fl = xml_flavours(live, config, flavours);
	int r;

	r = domain_lookup(conn, domain, &dom, err);
	if (r < 0)
		return r;
	/* every definition the change touches must have the volume, at one target */
	for (size_t i = 0; i < n_fl; i++) {
		_cleanup_(freep) char *xml = NULL, *disk = NULL, *d = NULL;
		const char *where = flavours[i] ? " (persistent definition)" : "";
		struct cairn_err find_err = {0};

		r = domain_xml_get(dom, domain, flavours[i], &xml, err);
		if (r < 0)
			return r;
		r = xml_domain_disk_find_by_source(xml, pool, image, target_dev, &disk, &d,
		                                   &find_err);
		if (r == -ENOENT)
			return err_set(err, r, "volume '%s' is not attached to domain '%s'%s",
			               volume, domain, where);
		if (r == -EEXIST)
			return err_set(err, r,
			               "volume '%s' is attached to domain '%s'%s as another disk "
			               "than '%s': %s",
			               volume, domain, where, target_dev, find_err.msg);
		if (r < 0)
			return err_set(err, r, "%s", find_err.msg);
		if (dev && strcmp(dev, d) != 0)
			return err_set(
			        err, -EEXIST,
			        "volume '%s' is disk '%s' of running domain '%s' but '%s' of "
			        "its persistent definition: detach with --live and --config "
			        "apart, giving --target",
			        volume, dev, domain, d);
		if (!dev) {
			dev = TAKE_PTR(d);
			/* with live, the running definition has the disk as QEMU knows it */
			disk_xml = TAKE_PTR(disk);
		}
	}
	if (virDomainDetachDeviceFlags(dom, disk_xml, affect_flags(live, config)) < 0)
		return glue__virt_err(err, -EIO,
		                      "cannot detach volume '%s' (disk '%s') from domain "
		                      "'%s'",
		                      volume, dev, domain);
	log_debug("detached volume '%s' (disk '%s') from domain '%s'", volume, dev, domain);
	if (ret_target_dev)
		*ret_target_dev = TAKE_PTR(dev);
	return 0;
}
