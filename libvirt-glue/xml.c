/* SPDX-License-Identifier: MIT */
/*
 * XML for libvirt. Documents are written with xmlTextWriter, which escapes every value;
 * nothing here pastes strings into markup. Inputs are validated before a byte is written,
 * so a document either comes out whole or not at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libxml/encoding.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlwriter.h>

#define LOG_MODULE "libvirt-glue"
#include "libvirt-glue/glue-internal.h"

/* ---- validation ------------------------------------------------------------------------- */

static const char *const disk_buses[] = {"virtio", "scsi", "sata", "ide"};
static const char *const disk_caches[] = {"none", "writeback", "writethrough", "directsync",
                                          "unsafe"};
static const char *const domain_types[] = {"kvm", "qemu"};

#define SERIAL_MAX        128
#define PATH_LEN_MAX      4096
#define TARGET_SUFFIX_MAX 4

static bool str_in(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_alnum(char c)
{
	return is_lower(c) || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* vd[a-z]+, sd[a-z]+, hd[a-z]+ (at most 4 letters: libvirt's disk index range). */
static int target_dev_validate(const char *dev, struct cairn_err *err)
{
	size_t len;

	if (!dev || !*dev)
		return err_set(err, -EINVAL, "disk target dev is missing");
	len = strlen(dev);
	if (len < 3 || len > 2 + TARGET_SUFFIX_MAX ||
	    (dev[0] != 'v' && dev[0] != 's' && dev[0] != 'h') || dev[1] != 'd')
		goto bad;
	for (size_t i = 2; i < len; i++)
		if (!is_lower(dev[i]))
			goto bad;
	return 0;
bad:
	return err_set(err, -EINVAL,
	               "disk target dev '%.16s' is not valid (vd, sd or hd followed by 1 to %d "
	               "letters a-z, e.g. 'vda')",
	               dev, TARGET_SUFFIX_MAX);
}

/* One DNS label: 1..63 of [A-Za-z0-9-], not starting or ending with '-'. */
static bool dns_name_is_valid(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-')
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}

int glue__host_validate(const char *name, const char *what, struct cairn_err *err)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (!name || !*name)
		return err_set(err, -EINVAL, "%s is missing", what);
	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
		return 0;
	if (name[0] == '[')
		return err_set(err, -EINVAL, "%s '%.64s' must be given without brackets", what,
		               name);
	/* "1.2.3.999" looks like an IPv4 address, not like a host name that could mean it */
	if (strspn(name, "0123456789.") == strlen(name) || !dns_name_is_valid(name))
		return err_set(err, -EINVAL,
		               "%s '%.64s' is neither an IPv4 or IPv6 address nor a DNS name", what,
		               name);
	return 0;
}

static bool utf8_ok(const char *s)
{
	return xmlCheckUTF8((const unsigned char *)s) != 0;
}

/* Free text that goes into the XML: valid UTF-8 without control characters. */
static bool text_is_clean(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return utf8_ok(s);
}

static int path_validate(const char *path, const char *what, struct cairn_err *err)
{
	size_t len = strlen(path);

	if (path[0] != '/' || len < 2)
		return err_set(err, -EINVAL, "%s must be an absolute path", what);
	if (len > PATH_LEN_MAX)
		return err_set(err, -EINVAL, "%s is %zu characters long, at most %d are allowed",
		               what, len, PATH_LEN_MAX);
	if (!text_is_clean(path))
		return err_set(err, -EINVAL, "%s has control characters or is not valid UTF-8",
		               what);
	return 0;
}

/* libvirt's schema: [A-Za-z0-9_.+ -]+ */
static int serial_validate(const char *serial, struct cairn_err *err)
{
	size_t len = strlen(serial);

	if (len == 0)
		return err_set(err, -EINVAL, "disk serial is empty");
	if (len > SERIAL_MAX)
		return err_set(err, -EINVAL,
		               "disk serial is %zu characters long, at most %d are allowed", len,
		               SERIAL_MAX);
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(serial[i]) && !strchr("_.+- ", serial[i]))
			return err_set(err, -EINVAL,
			               "disk serial has a character that is not allowed at "
			               "position %zu (allowed: A-Z a-z 0-9 _ . + - space)",
			               i + 1);
	return 0;
}

static int iotune_validate(const struct xml_iotune *t, struct cairn_err *err)
{
	const struct {
		const char *name;
		uint64_t value;
	} v[] = {
	        {"total_bytes_sec", t->total_bytes_sec}, {"read_bytes_sec", t->read_bytes_sec},
	        {"write_bytes_sec", t->write_bytes_sec}, {"total_iops_sec", t->total_iops_sec},
	        {"read_iops_sec", t->read_iops_sec},     {"write_iops_sec", t->write_iops_sec},
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		if (v[i].value > XML_IOTUNE_MAX)
			return err_set(err, -EINVAL, "iotune %s is above the limit of %" PRIu64,
			               v[i].name, XML_IOTUNE_MAX);
	if (t->total_bytes_sec && (t->read_bytes_sec || t->write_bytes_sec))
		return err_set(err, -EINVAL,
		               "iotune total_bytes_sec cannot be set together with "
		               "read_bytes_sec or write_bytes_sec");
	if (t->total_iops_sec && (t->read_iops_sec || t->write_iops_sec))
		return err_set(err, -EINVAL,
		               "iotune total_iops_sec cannot be set together with "
		               "read_iops_sec or write_iops_sec");
	return 0;
}

static bool iotune_is_set(const struct xml_iotune *t)
{
	return t->total_bytes_sec || t->read_bytes_sec || t->write_bytes_sec || t->total_iops_sec ||
	       t->read_iops_sec || t->write_iops_sec;
}

int xml_disk_validate(const struct xml_disk *d, struct cairn_err *err)
{
	int r;

	if (!d)
		return err_set(err, -EINVAL, "disk is missing");
	r = name_validate(d->pool, "pool", err);
	if (r < 0)
		return r;
	r = name_validate(d->image, "image", err);
	if (r < 0)
		return r;
	if (d->snapshot) {
		r = name_validate(d->snapshot, "snapshot", err);
		if (r < 0)
			return r;
	}
	if (d->n_hosts == 0 || !d->hosts)
		return err_set(err, -EINVAL, "disk needs at least one monitor host");
	if (d->n_hosts > XML_HOSTS_MAX)
		return err_set(err, -EINVAL, "disk has %zu monitor hosts, at most %d are allowed",
		               d->n_hosts, XML_HOSTS_MAX);
	for (size_t i = 0; i < d->n_hosts; i++) {
		r = glue__host_validate(d->hosts[i].name, "monitor host", err);
		if (r < 0)
			return r;
		if (d->hosts[i].port < 1 || d->hosts[i].port > 65535)
			return err_set(err, -EINVAL,
			               "monitor host '%.64s' port %u is not in 1..65535",
			               d->hosts[i].name, d->hosts[i].port);
	}
	if (d->auth_user) {
		if (str_has_prefix(d->auth_user, "client."))
			return err_set(err, -EINVAL,
			               "auth user '%.64s' must be given without 'client.'",
			               d->auth_user);
		r = name_validate(d->auth_user, "auth user", err);
		if (r < 0)
			return r;
		if (!d->secret_uuid)
			return err_set(err, -EINVAL, "auth user '%s' needs a secret uuid",
			               d->auth_user);
		if (!uuid_is_valid(d->secret_uuid))
			return err_set(err, -EINVAL,
			               "secret uuid '%.40s' is not a lowercase uuid "
			               "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
			               d->secret_uuid);
	} else if (d->secret_uuid) {
		return err_set(err, -EINVAL, "secret uuid is given without an auth user");
	}
	r = target_dev_validate(d->target_dev, err);
	if (r < 0)
		return r;
	if (d->bus && !str_in(d->bus, disk_buses, ARRAY_SIZE(disk_buses)))
		return err_set(err, -EINVAL,
		               "disk bus '%.16s' is not one of virtio, scsi, sata, ide", d->bus);
	if (d->cache && !str_in(d->cache, disk_caches, ARRAY_SIZE(disk_caches)))
		return err_set(err, -EINVAL,
		               "disk cache '%.16s' is not one of none, writeback, writethrough, "
		               "directsync, unsafe",
		               d->cache);
	if (d->serial) {
		r = serial_validate(d->serial, err);
		if (r < 0)
			return r;
	}
	return iotune_validate(&d->iotune, err);
}

/* ---- the writer ------------------------------------------------------------------------- */

/*
 * xmlTextWriter calls with a latched result: after the first failure the others do
 * nothing, and xw_finish() reports it. Attributes use the writer's default double quotes:
 * with single quotes libxml2 2.9 does not escape a ' inside a value.
 */
struct xw {
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	int r;
};

static void xw_release(struct xw *x)
{
	if (x->w)
		xmlFreeTextWriter(x->w);
	if (x->buf)
		xmlBufferFree(x->buf);
	x->w = NULL;
	x->buf = NULL;
}

static int xw_open(struct xw *x)
{
	x->r = 0;
	x->buf = xmlBufferCreate();
	if (!x->buf)
		return -ENOMEM;
	x->w = xmlNewTextWriterMemory(x->buf, 0);
	if (!x->w)
		return -ENOMEM;
	if (xmlTextWriterSetIndent(x->w, 1) < 0 ||
	    xmlTextWriterSetIndentString(x->w, BAD_CAST "  ") < 0)
		return -ENOMEM;
	return 0;
}

static void xw_check(struct xw *x, int r)
{
	if (r < 0 && x->r == 0)
		x->r = -ENOMEM;
}

static void xw_start(struct xw *x, const char *name)
{
	if (x->r == 0)
		xw_check(x, xmlTextWriterStartElement(x->w, BAD_CAST name));
}

static void xw_end(struct xw *x)
{
	if (x->r == 0)
		xw_check(x, xmlTextWriterEndElement(x->w));
}

static void xw_attr(struct xw *x, const char *name, const char *value)
{
	if (x->r == 0)
		xw_check(x, xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value));
}

static void xw_attr_u64(struct xw *x, const char *name, uint64_t value)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	xw_attr(x, name, buf);
}

static void xw_text(struct xw *x, const char *text)
{
	if (x->r == 0)
		xw_check(x, xmlTextWriterWriteString(x->w, BAD_CAST text));
}

static void xw_text_u64(struct xw *x, uint64_t value)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	xw_text(x, buf);
}

/* <name>text</name> */
static void xw_element(struct xw *x, const char *name, const char *text)
{
	xw_start(x, name);
	xw_text(x, text);
	xw_end(x);
}

static void xw_element_u64(struct xw *x, const char *name, uint64_t value)
{
	xw_start(x, name);
	xw_text_u64(x, value);
	xw_end(x);
}

/* <name/> */
static void xw_empty(struct xw *x, const char *name)
{
	xw_start(x, name);
	xw_end(x);
}

static int xw_finish(struct xw *x, const char *what, char **ret_xml, struct cairn_err *err)
{
	char *s;

	if (x->r == 0)
		xw_check(x, xmlTextWriterEndDocument(x->w));
	if (x->r == 0)
		xw_check(x, xmlTextWriterFlush(x->w));
	if (x->r < 0)
		return err_set(err, x->r, "cannot write %s xml", what);
	s = strdup((const char *)xmlBufferContent(x->buf));
	if (!s)
		return err_set(err, -ENOMEM, "cannot write %s xml", what);
	*ret_xml = s;
	return 0;
}

/* ---- disks ------------------------------------------------------------------------------ */

static void disk_write(struct xw *x, const struct xml_disk *d, unsigned boot_order)
{
	bool readonly = d->readonly || d->snapshot;
	_cleanup_(freep) char *source = str_printf("%s/%s", d->pool, d->image);

	if (!source) {
		x->r = -ENOMEM;
		return;
	}
	xw_start(x, "disk");
	xw_attr(x, "type", "network");
	xw_attr(x, "device", "disk");

	xw_start(x, "driver");
	xw_attr(x, "name", "qemu");
	xw_attr(x, "type", "raw");
	xw_attr(x, "cache", d->cache ? d->cache : "none");
	/* a read-only disk sends no discards: leave the attribute out */
	if (!readonly)
		xw_attr(x, "discard", d->discard_ignore ? "ignore" : "unmap");
	xw_end(x);

	if (d->auth_user) {
		xw_start(x, "auth");
		xw_attr(x, "username", d->auth_user);
		xw_start(x, "secret");
		xw_attr(x, "type", "ceph");
		xw_attr(x, "uuid", d->secret_uuid);
		xw_end(x);
		xw_end(x);
	}

	xw_start(x, "source");
	xw_attr(x, "protocol", "rbd");
	xw_attr(x, "name", source);
	for (size_t i = 0; i < d->n_hosts; i++) {
		xw_start(x, "host");
		xw_attr(x, "name", d->hosts[i].name);
		xw_attr_u64(x, "port", d->hosts[i].port);
		xw_end(x);
	}
	if (d->snapshot) {
		xw_start(x, "snapshot");
		xw_attr(x, "name", d->snapshot);
		xw_end(x);
	}
	xw_end(x);

	xw_start(x, "target");
	xw_attr(x, "dev", d->target_dev);
	xw_attr(x, "bus", d->bus ? d->bus : "virtio");
	xw_end(x);

	if (iotune_is_set(&d->iotune)) {
		const struct xml_iotune *t = &d->iotune;

		xw_start(x, "iotune");
		if (t->total_bytes_sec)
			xw_element_u64(x, "total_bytes_sec", t->total_bytes_sec);
		if (t->read_bytes_sec)
			xw_element_u64(x, "read_bytes_sec", t->read_bytes_sec);
		if (t->write_bytes_sec)
			xw_element_u64(x, "write_bytes_sec", t->write_bytes_sec);
		if (t->total_iops_sec)
			xw_element_u64(x, "total_iops_sec", t->total_iops_sec);
		if (t->read_iops_sec)
			xw_element_u64(x, "read_iops_sec", t->read_iops_sec);
		if (t->write_iops_sec)
			xw_element_u64(x, "write_iops_sec", t->write_iops_sec);
		xw_end(x);
	}
	if (readonly)
		xw_empty(x, "readonly");
	if (d->shareable)
		xw_empty(x, "shareable");
	if (d->serial)
		xw_element(x, "serial", d->serial);
	if (boot_order) {
		xw_start(x, "boot");
		xw_attr_u64(x, "order", boot_order);
		xw_end(x);
	}
	xw_end(x);
}

int xml_disk_format(const struct xml_disk *d, char **ret_xml, struct cairn_err *err)
{
	_cleanup_(xw_release) struct xw x = {0};
	int r;

	r = xml_disk_validate(d, err);
	if (r < 0)
		return r;
	r = xw_open(&x);
	if (r < 0)
		return err_set(err, r, "cannot write disk xml");
	disk_write(&x, d, d->boot_order);
	return xw_finish(&x, "disk", ret_xml, err);
}

/* ---- domains ---------------------------------------------------------------------------- */

static int domain_validate(const struct xml_domain *dom, struct cairn_err *err)
{
	int r;

	if (!dom)
		return err_set(err, -EINVAL, "domain is missing");
	r = name_validate(dom->name, "domain", err);
	if (r < 0)
		return r;
	if (dom->uuid && !uuid_is_valid(dom->uuid))
		return err_set(err, -EINVAL,
		               "domain uuid '%.40s' is not a lowercase uuid "
		               "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
		               dom->uuid);
	if (dom->memory_mib == 0 || dom->memory_mib > XML_DOMAIN_MEMORY_MAX_MIB)
		return err_set(err, -EINVAL, "domain memory %" PRIu64 " MiB is not in 1..%" PRIu64,
		               dom->memory_mib, XML_DOMAIN_MEMORY_MAX_MIB);
	if (dom->vcpus == 0 || dom->vcpus > XML_DOMAIN_VCPUS_MAX)
		return err_set(err, -EINVAL, "domain vcpus %u is not in 1..%d", dom->vcpus,
		               XML_DOMAIN_VCPUS_MAX);
	if (dom->type && !str_in(dom->type, domain_types, ARRAY_SIZE(domain_types)))
		return err_set(err, -EINVAL, "domain type '%.16s' is not one of kvm, qemu",
		               dom->type);
	if (dom->machine) {
		r = name_validate(dom->machine, "machine type", err);
		if (r < 0)
			return r;
	}
	if (dom->network) {
		r = name_validate(dom->network, "network", err);
		if (r < 0)
			return r;
	}
	if (dom->emulator) {
		r = path_validate(dom->emulator, "emulator", err);
		if (r < 0)
			return r;
	}
	if (dom->serial_log_file) {
		if (!dom->serial_console)
			return err_set(err, -EINVAL, "serial log file needs the serial console");
		r = path_validate(dom->serial_log_file, "serial log file", err);
		if (r < 0)
			return r;
	}
	if (dom->n_disks == 0 || !dom->disks)
		return err_set(err, -EINVAL, "domain needs at least one disk to boot from");
	if (dom->n_disks > XML_DOMAIN_DISKS_MAX)
		return err_set(err, -EINVAL, "domain has %zu disks, at most %d are allowed",
		               dom->n_disks, XML_DOMAIN_DISKS_MAX);
	for (size_t i = 0; i < dom->n_disks; i++) {
		const struct xml_disk *d = &dom->disks[i];

		r = xml_disk_validate(d, err);
		if (r < 0)
			return r;
		if (i > 0 && d->boot_order == 1)
			return err_set(err, -EINVAL,
			               "disk '%s' has boot order 1, which the first disk has",
			               d->target_dev);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(d->target_dev, dom->disks[j].target_dev) == 0)
				return err_set(err, -EINVAL, "disk target dev '%s' is used twice",
				               d->target_dev);
			if (j > 0 && d->boot_order && d->boot_order == dom->disks[j].boot_order)
				return err_set(err, -EINVAL,
				               "disks '%s' and '%s' have the same boot order %u",
				               dom->disks[j].target_dev, d->target_dev,
				               d->boot_order);
		}
	}
	return 0;
}

int xml_domain_format(const struct xml_domain *dom, char **ret_xml, struct cairn_err *err)
{
	_cleanup_(xw_release) struct xw x = {0};
	bool scsi = false;
	int r;

	r = domain_validate(dom, err);
	if (r < 0)
		return r;
	r = xw_open(&x);
	if (r < 0)
		return err_set(err, r, "cannot write domain xml");

	xw_start(&x, "domain");
	xw_attr(&x, "type", dom->type ? dom->type : "kvm");
	xw_element(&x, "name", dom->name);
	if (dom->uuid)
		xw_element(&x, "uuid", dom->uuid);
	xw_start(&x, "memory");
	xw_attr(&x, "unit", "MiB");
	xw_text_u64(&x, dom->memory_mib);
	xw_end(&x);
	xw_element_u64(&x, "vcpu", dom->vcpus);

	xw_start(&x, "os");
	xw_start(&x, "type");
	xw_attr(&x, "arch", "x86_64");
	xw_attr(&x, "machine", dom->machine ? dom->machine : "pc");
	xw_text(&x, "hvm");
	xw_end(&x);
	xw_end(&x);

	xw_start(&x, "features");
	xw_empty(&x, "acpi");
	xw_end(&x);

	xw_element(&x, "on_poweroff", "destroy");
	xw_element(&x, "on_reboot", "restart");
	xw_element(&x, "on_crash", "destroy");

	xw_start(&x, "devices");
	if (dom->emulator)
		xw_element(&x, "emulator", dom->emulator);
	for (size_t i = 0; i < dom->n_disks; i++) {
		disk_write(&x, &dom->disks[i], i == 0 ? 1 : dom->disks[i].boot_order);
		if (dom->disks[i].bus && strcmp(dom->disks[i].bus, "scsi") == 0)
			scsi = true;
	}
	if (scsi) {
		xw_start(&x, "controller");
		xw_attr(&x, "type", "scsi");
		xw_attr(&x, "index", "0");
		xw_attr(&x, "model", "virtio-scsi");
		xw_end(&x);
	}
	if (dom->network) {
		xw_start(&x, "interface");
		xw_attr(&x, "type", "network");
		xw_start(&x, "source");
		xw_attr(&x, "network", dom->network);
		xw_end(&x);
		xw_start(&x, "model");
		xw_attr(&x, "type", "virtio");
		xw_end(&x);
		xw_end(&x);
	}
	if (dom->serial_console) {
		xw_start(&x, "serial");
		xw_attr(&x, "type", "pty");
		if (dom->serial_log_file) {
			xw_start(&x, "log");
			xw_attr(&x, "file", dom->serial_log_file);
			xw_attr(&x, "append", "on");
			xw_end(&x);
		}
		xw_start(&x, "target");
		xw_attr(&x, "port", "0");
		xw_end(&x);
		xw_end(&x);
		xw_start(&x, "console");
		xw_attr(&x, "type", "pty");
		xw_start(&x, "target");
		xw_attr(&x, "type", "serial");
		xw_attr(&x, "port", "0");
		xw_end(&x);
		xw_end(&x);
	}
	xw_end(&x); /* devices */
	xw_end(&x); /* domain */
	return xw_finish(&x, "domain", ret_xml, err);
}

/* ---- secrets ---------------------------------------------------------------------------- */

int xml_secret_format(const char *usage_name, char **ret_xml, struct cairn_err *err)
{
	_cleanup_(xw_release) struct xw x = {0};
	size_t len;
	int r;

	if (!usage_name || !*usage_name)
		return err_set(err, -EINVAL, "secret usage name is missing");
	len = strlen(usage_name);
	if (len > XML_SECRET_USAGE_MAX)
		return err_set(err, -EINVAL,
		               "secret usage name is %zu characters long, at most %d are allowed",
		               len, XML_SECRET_USAGE_MAX);
	for (size_t i = 0; i < len; i++)
		if (usage_name[i] < 0x20 || usage_name[i] > 0x7e)
			return err_set(err, -EINVAL,
			               "secret usage name has a character that is not printable "
			               "ASCII at position %zu",
			               i + 1);
	r = xw_open(&x);
	if (r < 0)
		return err_set(err, r, "cannot write secret xml");
	xw_start(&x, "secret");
	xw_attr(&x, "ephemeral", "no");
	xw_attr(&x, "private", "yes");
	xw_element(&x, "description", "ceph client key, managed by cairn");
	xw_start(&x, "usage");
	xw_attr(&x, "type", "ceph");
	xw_element(&x, "name", usage_name);
	xw_end(&x);
	xw_end(&x);
	return xw_finish(&x, "secret", ret_xml, err);
}

/* ---- reading ---------------------------------------------------------------------------- */

int glue__xml_parse(const char *xml, const char *what, xmlDocPtr *ret_doc, struct cairn_err *err)
{
	xmlDocPtr doc;
	size_t len;

	if (!xml)
		return err_set(err, -EINVAL, "%s xml is missing", what);
	len = strlen(xml);
	if (len > GLUE_DOC_MAX)
		return err_set(err, -EINVAL, "%s xml is %zu bytes long, at most %u are read", what,
		               len, GLUE_DOC_MAX);
	/* no XML_PARSE_NOENT (entity expansion) and no DTD loading; never the network */
	doc = xmlReadMemory(xml, (int)len, NULL, NULL,
	                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlGetLastError();
		char msg[128] = "";

		if (e && e->message) {
			str_copy(msg, sizeof(msg), e->message);
			msg[strcspn(msg, "\n")] = '\0';
		}
		xmlResetLastError();
		return err_set(err, -EINVAL, "%s xml is not well-formed%s%s", what,
		               msg[0] ? ": " : "", msg);
	}
	*ret_doc = doc;
	return 0;
}

static bool node_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name);
}

static xmlNodePtr child_element(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr n = parent->children; n; n = n->next)
		if (node_is(n, name))
			return n;
	return NULL;
}

/* The target/@dev of a <disk> node, owned by libxml2 (xmlFree), or NULL. */
static xmlChar *disk_node_target(xmlNodePtr disk)
{
	xmlNodePtr target = child_element(disk, "target");

	return target ? xmlGetProp(target, BAD_CAST "dev") : NULL;
}

static int domain_doc_devices(const char *domain_xml, xmlDocPtr *ret_doc, xmlNodePtr *ret_devices,
                              struct cairn_err *err)
{
	_cleanup_(xml_free_docp) xmlDocPtr doc = NULL;
	xmlNodePtr root;
	int r;

	r = glue__xml_parse(domain_xml, "domain", &doc, err);
	if (r < 0)
		return r;
	root = xmlDocGetRootElement(doc);
	if (!root || !node_is(root, "domain"))
		return err_set(err, -EINVAL, "domain xml does not start with <domain>");
	*ret_devices = child_element(root, "devices");
	*ret_doc = TAKE_PTR(doc);
	return 0;
}

void xml_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static inline void xml_strv_freep(char ***v)
{
	xml_strv_free(*v);
}

int xml_domain_disk_targets(const char *domain_xml, char ***ret_targets, size_t *ret_n,
                            struct cairn_err *err)
{
	_cleanup_(xml_free_docp) xmlDocPtr doc = NULL;
	_cleanup_(xml_strv_freep) char **v = NULL;
	xmlNodePtr devices = NULL;
	size_t n = 0;
	int r;

	r = domain_doc_devices(domain_xml, &doc, &devices, err);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(char *));
	if (!v)
		return err_set(err, -ENOMEM, "out of memory");
	for (xmlNodePtr d = devices ? devices->children : NULL; d; d = d->next) {
		xmlChar *dev;
		char **nv;

		if (!node_is(d, "disk"))
			continue;
		dev = disk_node_target(d);
		if (!dev)
			continue;
		nv = reallocarray(v, n + 2, sizeof(char *));
		if (!nv) {
			xmlFree(dev);
			return err_set(err, -ENOMEM, "out of memory");
		}
		v = nv;
		v[n] = strdup((const char *)dev);
		xmlFree(dev);
		v[n + 1] = NULL;
		if (!v[n])
			return err_set(err, -ENOMEM, "out of memory");
		n++;
	}
	*ret_targets = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* Node d of doc as its own document (no declaration), in *ret. */
static int disk_node_dump(xmlDocPtr doc, xmlNodePtr d, char **ret, struct cairn_err *err)
{
	xmlBufferPtr buf = xmlBufferCreate();
	char *s;

	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	if (xmlNodeDump(buf, doc, d, 0, 0) < 0) {
		xmlBufferFree(buf);
		return err_set(err, -ENOMEM, "cannot write disk xml");
	}
	s = strdup((const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	if (!s)
		return err_set(err, -ENOMEM, "out of memory");
	*ret = s;
	return 0;
}

int xml_domain_disk_find(const char *domain_xml, const char *target_dev, char **ret_disk_xml,
                         struct cairn_err *err)
{
	_cleanup_(xml_free_docp) xmlDocPtr doc = NULL;
	xmlNodePtr devices = NULL;
	int r;

	r = target_dev_validate(target_dev, err);
	if (r < 0)
		return r;
	r = domain_doc_devices(domain_xml, &doc, &devices, err);
	if (r < 0)
		return r;
	for (xmlNodePtr d = devices ? devices->children : NULL; d; d = d->next) {
		xmlChar *dev;
		bool match;

		if (!node_is(d, "disk"))
			continue;
		dev = disk_node_target(d);
		match = dev && xmlStrEqual(dev, BAD_CAST target_dev);
		xmlFree(dev);
		if (match)
			return disk_node_dump(doc, d, ret_disk_xml, err);
	}
	return err_set(err, -ENOENT, "domain has no disk with target dev '%s'", target_dev);
}

/* Is <disk> node d a network disk whose source is rbd image NAME ("pool/image")? */
static bool disk_node_is_rbd(xmlNodePtr d, const char *name)
{
	xmlNodePtr source = child_element(d, "source");
	xmlChar *type, *protocol, *src;
	bool match;

	if (!source)
		return false;
	type = xmlGetProp(d, BAD_CAST "type");
	protocol = xmlGetProp(source, BAD_CAST "protocol");
	src = xmlGetProp(source, BAD_CAST "name");
	match = type && xmlStrEqual(type, BAD_CAST "network") && protocol &&
	        xmlStrEqual(protocol, BAD_CAST "rbd") && src && xmlStrEqual(src, BAD_CAST name);
	xmlFree(type);
	xmlFree(protocol);
	xmlFree(src);
	return match;
}

int xml_domain_disk_find_by_source(const char *domain_xml, const char *pool, const char *image,
                                   const char *target_dev, char **ret_disk_xml,
                                   char **ret_target_dev, struct cairn_err *err)
{
	_cleanup_(xml_free_docp) xmlDocPtr doc = NULL;
	_cleanup_(freep) char *name = NULL, *first = NULL;
	xmlNodePtr devices = NULL;
	int r;

	if (!pool || !*pool || !image || !*image)
		return err_set(err, -EINVAL, "rbd pool or image name is missing");
	if (target_dev) {
		r = target_dev_validate(target_dev, err);
		if (r < 0)
			return r;
	}
	name = str_printf("%s/%s", pool, image);
	if (!name)
		return err_set(err, -ENOMEM, "out of memory");
	r = domain_doc_devices(domain_xml, &doc, &devices, err);
	if (r < 0)
		return r;
	for (xmlNodePtr d = devices ? devices->children : NULL; d; d = d->next) {
		_cleanup_(freep) char *disk = NULL;
		xmlChar *dev;
		char *s;

		if (!node_is(d, "disk") || !disk_node_is_rbd(d, name))
			continue;
		dev = disk_node_target(d);
		if (!dev)
			continue;
		if (target_dev && !xmlStrEqual(dev, BAD_CAST target_dev)) {
			if (!first)
				first = strdup((const char *)dev);
			xmlFree(dev);
			continue;
		}
		s = strdup((const char *)dev);
		xmlFree(dev);
		if (!s)
			return err_set(err, -ENOMEM, "out of memory");
		r = disk_node_dump(doc, d, &disk, err);
		if (r < 0) {
			free(s);
			return r;
		}
		*ret_disk_xml = TAKE_PTR(disk);
		*ret_target_dev = s;
		return 0;
	}
	if (first)
		return err_set(err, -EEXIST, "rbd image '%s' is the disk '%s', not '%s'", name,
		               first, target_dev);
	return err_set(err, -ENOENT, "no disk has rbd image '%s' as its source", name);
}

/* The n-th name of a bus's disks as libvirt counts them: a..z, aa..zz, aaa... */
static void target_suffix(unsigned n, char *buf, size_t size)
{
	char tmp[TARGET_SUFFIX_MAX + 1];
	size_t len = 0;

	n++;
	while (n > 0 && len < TARGET_SUFFIX_MAX) {
		n--;
		tmp[len++] = (char)('a' + n % 26);
		n /= 26;
	}
	for (size_t i = 0; i < len && i + 1 < size; i++)
		buf[i] = tmp[len - 1 - i];
	buf[len < size ? len : size - 1] = '\0';
}

/* First free target beyond this many disks is given up on: libvirt takes far fewer. */
#define TARGET_NEXT_MAX (26u + 26u * 26u)

int xml_disk_target_next(char *const *used, size_t n_used, const char *bus, char **ret_target_dev,
                         struct cairn_err *err)
{
	const char *prefix = "vd";

	if (bus && !str_in(bus, disk_buses, ARRAY_SIZE(disk_buses)))
		return err_set(err, -EINVAL,
		               "disk bus '%.16s' is not one of virtio, scsi, sata, ide", bus);
	if (bus && (strcmp(bus, "scsi") == 0 || strcmp(bus, "sata") == 0))
		prefix = "sd";
	else if (bus && strcmp(bus, "ide") == 0)
		prefix = "hd";
	for (unsigned i = 0; i < TARGET_NEXT_MAX; i++) {
		char dev[3 + TARGET_SUFFIX_MAX] = {prefix[0], prefix[1]};
		bool taken = false;

		target_suffix(i, dev + 2, sizeof(dev) - 2);
		for (size_t j = 0; j < n_used && !taken; j++)
			taken = used[j] && strcmp(used[j], dev) == 0;
		if (taken)
			continue;
		*ret_target_dev = strdup(dev);
		if (!*ret_target_dev)
			return err_set(err, -ENOMEM, "out of memory");
		return 0;
	}
	return err_set(err, -EBUSY, "no free %sX disk target among the first %u", prefix,
	               TARGET_NEXT_MAX);
}

int xml_disk_target(const char *disk_xml, char **ret_target_dev, struct cairn_err *err)
{
	_cleanup_(xml_free_docp) xmlDocPtr doc = NULL;
	xmlNodePtr root;
	xmlChar *dev;
	char *s;
	int r;

	r = glue__xml_parse(disk_xml, "disk", &doc, err);
	if (r < 0)
		return r;
	root = xmlDocGetRootElement(doc);
	if (!root || !node_is(root, "disk"))
		return err_set(err, -EINVAL, "disk xml does not start with <disk>");
	dev = disk_node_target(root);
	if (!dev)
		return err_set(err, -EINVAL, "disk xml has no target dev");
	r = target_dev_validate((const char *)dev, err);
	if (r < 0) {
		xmlFree(dev);
		return r;
	}
	s = strdup((const char *)dev);
	xmlFree(dev);
	if (!s)
		return err_set(err, -ENOMEM, "out of memory");
	*ret_target_dev = s;
	return 0;
}
