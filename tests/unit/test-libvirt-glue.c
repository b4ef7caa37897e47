/* SPDX-License-Identifier: MIT */
/*
 * libvirt-glue: XML against golden files in tests/data/xml (CAIRN_REGENERATE_GOLDEN=1
 * rewrites them from what the code writes now), validation of every input, monitor
 * addresses from real `ceph mon dump` output, cephx key decoding, reading domain XML, and
 * the libvirt calls as far as libvirt's in-process test driver (test:///default) goes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "libvirt-glue/libvirt-glue.h"

#define SECRET_UUID "5a7c3e2b-1f4d-4c8e-9b6a-2d3e4f5a6b7c"
#define VOLUME      "volume-0b8f3e1a-1d2c-4b5a-9e8f-123456789abc"
#define VOLUME2     "volume-7c6d5e4f-3a2b-4c1d-8e9f-0a1b2c3d4e5f"
/* a key printed by `ceph-authtool --gen-print-key`, used for nothing else */
#define CEPHX_KEY "AQBwJghrmjfGExAAdQATP58znuT7drub9nL24A=="

/* ---- helpers ---------------------------------------------------------------------------- */

static char *data_path(const char *rel)
{
	char *p = str_printf("%s/%s", CAIRN_TEST_DATA_DIR, rel);

	assert_non_null(p);
	return p;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)size + 1);
		if (buf) {
			len = fread(buf, 1, (size_t)size, f);
			buf[len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

static char *data_read(const char *rel)
{
	_cleanup_(freep) char *path = data_path(rel);
	char *s = slurp(path);

	if (!s)
		fail_msg("cannot read test data '%s'", path);
	return s;
}

/* Compare actual with tests/data/xml/<name> byte for byte, or rewrite the file. */
static void assert_golden(const char *name, const char *actual)
{
	_cleanup_(freep) char *rel = str_printf("xml/%s", name);
	_cleanup_(freep) char *path = data_path(rel);
	_cleanup_(freep) char *expected = NULL;
	const char *regen = getenv("CAIRN_REGENERATE_GOLDEN");

	assert_non_null(actual);
	if (regen && strcmp(regen, "1") == 0) {
		FILE *f = fopen(path, "we");

		if (!f)
			fail_msg("cannot write golden file '%s'", path);
		assert_int_equal(fputs(actual, f) >= 0, 1);
		assert_int_equal(fclose(f), 0);
		print_message("regenerated %s\n", path);
		return;
	}
	expected = slurp(path);
	if (!expected)
		fail_msg("golden file '%s' is missing (CAIRN_REGENERATE_GOLDEN=1 writes it)", path);
	if (strcmp(expected, actual) != 0) {
		print_error("%s differs from the generated document:\n%s", path, actual);
		fail();
	}
}

static void assert_msg_has(const struct cairn_err *err, const char *part)
{
	if (!strstr(err->msg, part))
		fail_msg("message '%s' does not contain '%s'", err->msg, part);
}

static const struct xml_host local_hosts[] = {
        {"127.0.0.1", 3300},
        {"127.0.0.2", 3300},
        {"127.0.0.3", 3300},
};

static struct xml_disk disk_basic(void)
{
	return (struct xml_disk){
	        .pool = "volumes",
	        .image = VOLUME,
	        .hosts = local_hosts,
	        .n_hosts = ARRAY_SIZE(local_hosts),
	        .auth_user = "cairn",
	        .secret_uuid = SECRET_UUID,
	        .target_dev = "vda",
	};
}

static char *disk_format_ok(const struct xml_disk *d)
{
	struct cairn_err err = {0};
	char *xml = NULL;
	int r = xml_disk_format(d, &xml, &err);

	if (r < 0)
		fail_msg("xml_disk_format: %d %s", r, err.msg);
	assert_non_null(xml);
	return xml;
}

static char *domain_format_ok(const struct xml_domain *dom)
{
	struct cairn_err err = {0};
	char *xml = NULL;
	int r = xml_domain_format(dom, &xml, &err);

	if (r < 0)
		fail_msg("xml_domain_format: %d %s", r, err.msg);
	assert_non_null(xml);
	return xml;
}

/* The value of attribute attr of the first element named elem (depth-first), or NULL. */
static xmlChar *find_attr(xmlNodePtr n, const char *elem, const char *attr)
{
	for (; n; n = n->next) {
		xmlChar *v;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrEqual(n->name, BAD_CAST elem))
			return xmlGetProp(n, BAD_CAST attr);
		v = find_attr(n->children, elem, attr);
		if (v)
			return v;
	}
	return NULL;
}

static void assert_doc_attr(const char *xml, const char *elem, const char *attr,
                            const char *expected)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	xmlChar *v;

	assert_non_null(doc);
	v = find_attr(xmlDocGetRootElement(doc), elem, attr);
	if (!v)
		fail_msg("no %s/@%s in the document", elem, attr);
	assert_string_equal((const char *)v, expected);
	xmlFree(v);
	xmlFreeDoc(doc);
}

/* ---- disk XML --------------------------------------------------------------------------- */

static void test_disk_basic(void **state)
{
	struct xml_disk d = disk_basic();
	_cleanup_(freep) char *xml = disk_format_ok(&d);

	assert_golden("disk-basic.xml", xml);
	/* the facts the golden file stands for, so a careless regeneration cannot hide a bug */
	assert_non_null(strstr(xml, "<source protocol=\"rbd\" name=\"volumes/" VOLUME "\">"));
	assert_non_null(strstr(xml, "<secret type=\"ceph\" uuid=\"" SECRET_UUID "\"/>"));
	assert_non_null(strstr(xml, "cache=\"none\" discard=\"unmap\""));
	assert_null(strstr(xml, "<iotune>"));
	assert_null(strstr(xml, "<readonly/>"));
	assert_int_equal(xml[strlen(xml) - 1], '\n');
	assert_int_equal(strncmp(xml, "<disk ", 6), 0);
}

static void test_disk_iotune(void **state)
{
	struct xml_disk d = disk_basic();
	_cleanup_(freep) char *xml = NULL;

	d.target_dev = "vdb";
	d.iotune.read_bytes_sec = 104857600;
	d.iotune.write_bytes_sec = 52428800;
	d.iotune.total_iops_sec = 2000;
	d.serial = "cairn-0b8f3e1a";
	xml = disk_format_ok(&d);
	assert_golden("disk-iotune.xml", xml);
	assert_non_null(strstr(xml, "<read_bytes_sec>104857600</read_bytes_sec>"));
	assert_non_null(strstr(xml, "<total_iops_sec>2000</total_iops_sec>"));
	assert_null(strstr(xml, "total_bytes_sec"));
	assert_null(strstr(xml, "read_iops_sec"));
}

static void test_disk_readonly_snapshot(void **state)
{
	struct xml_disk d = disk_basic();
	_cleanup_(freep) char *xml = NULL;
	_cleanup_(freep) char *plain = NULL;

	d.pool = "images";
	d.image = "image-4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8";
	d.snapshot = "base";
	d.target_dev = "vdc";
	d.shareable = true;
	xml = disk_format_ok(&d);
	assert_golden("disk-readonly.xml", xml);
	assert_non_null(strstr(xml, "<snapshot name=\"base\"/>"));
	assert_non_null(strstr(xml, "<readonly/>"));
	assert_non_null(strstr(xml, "<shareable/>"));
	assert_null(strstr(xml, "discard="));

	/* readonly without a snapshot */
	d.snapshot = NULL;
	d.shareable = false;
	d.readonly = true;
	plain = disk_format_ok(&d);
	assert_non_null(strstr(plain, "<readonly/>"));
	assert_null(strstr(plain, "<snapshot"));
	assert_null(strstr(plain, "<shareable/>"));
}

static void test_disk_monitors_ipv6(void **state)
{
	static const struct xml_host hosts[] = {
	        {"192.0.2.10", 3300},
	        {"2001:db8::11", 3300},
	        {"::1", 6789},
	        {"mon-c.example.com", 3300},
	};
	struct xml_disk d = disk_basic();
	_cleanup_(freep) char *xml = NULL;

	d.hosts = hosts;
	d.n_hosts = ARRAY_SIZE(hosts);
	d.auth_user = NULL;
	d.secret_uuid = NULL;
	d.target_dev = "sdb";
	d.bus = "scsi";
	d.cache = "writeback";
	d.discard_ignore = true;
	d.boot_order = 2;
	xml = disk_format_ok(&d);
	assert_golden("disk-monitors.xml", xml);
	assert_non_null(strstr(xml, "<host name=\"2001:db8::11\" port=\"3300\"/>"));
	assert_non_null(strstr(xml, "<host name=\"::1\" port=\"6789\"/>"));
	assert_non_null(strstr(xml, "discard=\"ignore\""));
	assert_non_null(strstr(xml, "<boot order=\"2\"/>"));
	assert_null(strstr(xml, "<auth"));
}

/* From the real monmap fixture straight to a disk, as the daemon does. */
static void test_disk_from_mon_dump(void **state)
{
	_cleanup_(freep) char *json = data_read("libvirt-glue/mon-dump-multi.json");
	_cleanup_(freep) char *xml = NULL;
	struct xml_disk d = disk_basic();
	struct cairn_err err = {0};
	struct xml_host *hosts = NULL;
	size_t n = 0;

	assert_int_equal(xml_mon_hosts_parse(json, &hosts, &n, &err), 0);
	d.hosts = hosts;
	d.n_hosts = n;
	xml = disk_format_ok(&d);
	xml_hosts_free(hosts, n);
	assert_golden("disk-mon-dump.xml", xml);
}

static void disk_expect_einval(const struct xml_disk *d, const char *part)
{
	struct cairn_err err = {0};
	char *sentinel = (char *)"untouched";
	char *xml = sentinel;

	assert_int_equal(xml_disk_format(d, &xml, &err), -EINVAL);
	assert_ptr_equal(xml, sentinel);
	assert_int_equal(err.code, -EINVAL);
	assert_msg_has(&err, part);
}

/* Names with markup characters never reach the writer; values that may hold them are escaped. */
static void test_escaping(void **state)
{
	static const char log_file[] = "/var/log/cairn/a&b <c> 'd' \"e\".log";
	static const char emulator[] = "/opt/qemu & co/bin/qemu-<kvm>";
	struct xml_disk d = disk_basic();
	struct xml_domain dom = {
	        .name = "web1",
	        .memory_mib = 512,
	        .vcpus = 1,
	        .type = "qemu",
	        .machine = "q35",
	        .disks = &d,
	        .n_disks = 1,
	        .serial_console = true,
	        .serial_log_file = log_file,
	        .emulator = emulator,
	};
	_cleanup_(freep) char *xml = NULL;

	xml = domain_format_ok(&dom);
	assert_golden("domain-escape.xml", xml);
	assert_null(strstr(xml, "a&b"));
	assert_null(strstr(xml, "<c>"));
	assert_non_null(strstr(xml, "a&amp;b &lt;c&gt; 'd' &quot;e&quot;.log"));
	assert_non_null(
	        strstr(xml, "<emulator>/opt/qemu &amp; co/bin/qemu-&lt;kvm&gt;</emulator>"));
	/* and a parser gets the very same strings back */
	assert_doc_attr(xml, "log", "file", log_file);

	d = disk_basic();
	d.serial = "a&b<c>'d\"e";
	disk_expect_einval(&d, "disk serial has a character that is not allowed at position 2");
	d = disk_basic();
	d.pool = "vol&umes";
	disk_expect_einval(&d, "pool name has a character that is not allowed");
	d = disk_basic();
	d.image = "volume<1>";
	disk_expect_einval(&d, "image name has a character that is not allowed");
	d = disk_basic();
	d.auth_user = "cairn'x";
	disk_expect_einval(&d, "auth user name");
	d = disk_basic();
	d.snapshot = "snap\"1";
	disk_expect_einval(&d, "snapshot name");
}

static void mut_dev_digit(struct xml_disk *d)
{
	d->target_dev = "vd1";
}
static void mut_dev_prefix(struct xml_disk *d)
{
	d->target_dev = "xda";
}
static void mut_dev_short(struct xml_disk *d)
{
	d->target_dev = "vd";
}
static void mut_dev_long(struct xml_disk *d)
{
	d->target_dev = "vdaaaaa";
}
static void mut_dev_missing(struct xml_disk *d)
{
	d->target_dev = NULL;
}
static void mut_bus(struct xml_disk *d)
{
	d->bus = "usb";
}
static void mut_cache(struct xml_disk *d)
{
	d->cache = "fast";
}
static void mut_pool_missing(struct xml_disk *d)
{
	d->pool = NULL;
}
static void mut_pool_long(struct xml_disk *d)
{
	d->pool = "p123456789012345678901234567890123456789012345678901234567890123";
}
static void mut_secret_uuid(struct xml_disk *d)
{
	d->secret_uuid = "not-a-uuid";
}
static void mut_secret_upper(struct xml_disk *d)
{
	d->secret_uuid = "5A7C3E2B-1F4D-4C8E-9B6A-2D3E4F5A6B7C";
}
static void mut_secret_missing(struct xml_disk *d)
{
	d->secret_uuid = NULL;
}
static void mut_secret_no_user(struct xml_disk *d)
{
	d->auth_user = NULL;
}
static void mut_user_client(struct xml_disk *d)
{
	d->auth_user = "client.cairn";
}
static void mut_no_hosts(struct xml_disk *d)
{
	d->n_hosts = 0;
}
static void mut_port_zero(struct xml_disk *d)
{
	static const struct xml_host h[] = {{"127.0.0.1", 0}};
	d->hosts = h;
	d->n_hosts = 1;
}
static void mut_port_big(struct xml_disk *d)
{
	static const struct xml_host h[] = {{"127.0.0.1", 65536}};
	d->hosts = h;
	d->n_hosts = 1;
}
static void mut_host_bad(struct xml_disk *d)
{
	static const struct xml_host h[] = {{"127.0.0.1", 3300}, {"mon_1!", 3300}};
	d->hosts = h;
	d->n_hosts = 2;
}
static void mut_host_brackets(struct xml_disk *d)
{
	static const struct xml_host h[] = {{"[::1]", 3300}};
	d->hosts = h;
	d->n_hosts = 1;
}
static void mut_host_bad_ipv4(struct xml_disk *d)
{
	static const struct xml_host h[] = {{"127.0.0.256", 3300}};
	d->hosts = h;
	d->n_hosts = 1;
}
static void mut_host_dash(struct xml_disk *d)
{
	static const struct xml_host h[] = {{"-mon.example.com", 3300}};
	d->hosts = h;
	d->n_hosts = 1;
}
static void mut_iotune_both(struct xml_disk *d)
{
	d->iotune.total_bytes_sec = 1;
	d->iotune.read_bytes_sec = 1;
}
static void mut_iotune_iops_both(struct xml_disk *d)
{
	d->iotune.total_iops_sec = 1;
	d->iotune.write_iops_sec = 1;
}
static void mut_iotune_big(struct xml_disk *d)
{
	d->iotune.read_iops_sec = XML_IOTUNE_MAX + 1;
}
static void mut_serial_long(struct xml_disk *d)
{
	d->serial = "0123456789012345678901234567890123456789012345678901234567890123456789"
	            "0123456789012345678901234567890123456789012345678901234567890123456789";
}
static void mut_serial_empty(struct xml_disk *d)
{
	d->serial = "";
}

static void test_disk_validation(void **state)
{
	static const struct {
		void (*mutate)(struct xml_disk *d);
		const char *part;
	} cases[] = {
	        {mut_dev_digit, "disk target dev 'vd1' is not valid"},
	        {mut_dev_prefix, "disk target dev 'xda' is not valid"},
	        {mut_dev_short, "disk target dev 'vd' is not valid"},
	        {mut_dev_long, "disk target dev 'vdaaaaa' is not valid"},
	        {mut_dev_missing, "disk target dev is missing"},
	        {mut_bus, "disk bus 'usb' is not one of"},
	        {mut_cache, "disk cache 'fast' is not one of"},
	        {mut_pool_missing, "pool name is missing"},
	        {mut_pool_long, "pool name is 64 characters long"},
	        {mut_secret_uuid, "secret uuid 'not-a-uuid'"},
	        {mut_secret_upper, "is not a lowercase uuid"},
	        {mut_secret_missing, "auth user 'cairn' needs a secret uuid"},
	        {mut_secret_no_user, "secret uuid is given without an auth user"},
	        {mut_user_client, "must be given without 'client.'"},
	        {mut_no_hosts, "at least one monitor host"},
	        {mut_port_zero, "port 0 is not in 1..65535"},
	        {mut_port_big, "port 65536 is not in 1..65535"},
	        {mut_host_bad, "monitor host 'mon_1!' is neither"},
	        {mut_host_brackets, "must be given without brackets"},
	        {mut_host_bad_ipv4, "monitor host '127.0.0.256' is neither"},
	        {mut_host_dash, "monitor host '-mon.example.com' is neither"},
	        {mut_iotune_both, "total_bytes_sec cannot be set together"},
	        {mut_iotune_iops_both, "total_iops_sec cannot be set together"},
	        {mut_iotune_big, "iotune read_iops_sec is above the limit"},
	        {mut_serial_long, "disk serial is 140 characters long"},
	        {mut_serial_empty, "disk serial is empty"},
	};
	struct cairn_err err = {0};
	struct xml_disk good = disk_basic();

	/* the starting point is valid, so each failure below is the mutation's */
	assert_int_equal(xml_disk_validate(&good, &err), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct xml_disk d = disk_basic();

		cases[i].mutate(&d);
		disk_expect_einval(&d, cases[i].part);
	}
	assert_int_equal(xml_disk_validate(NULL, &err), -EINVAL);
}

/* Every bus, cache and target form the header promises is accepted. */
static void test_disk_accepted_values(void **state)
{
	static const char *const buses[] = {"virtio", "scsi", "sata", "ide"};
	static const char *const caches[] = {"none", "writeback", "writethrough", "directsync",
	                                     "unsafe"};
	static const char *const devs[] = {"vda", "vdz", "sdaa", "hdc", "vdzzzz"};
	static const struct xml_host hosts[] = {
	        {"mon1", 1}, {"fd00::5", 65535}, {"a.b-c.example", 6789}};
	struct xml_disk d = disk_basic();

	for (size_t i = 0; i < ARRAY_SIZE(buses); i++) {
		_cleanup_(freep) char *xml = NULL;
		_cleanup_(freep) char *want = str_printf("bus=\"%s\"", buses[i]);

		d.bus = buses[i];
		xml = disk_format_ok(&d);
		assert_non_null(strstr(xml, want));
	}
	d = disk_basic();
	for (size_t i = 0; i < ARRAY_SIZE(caches); i++) {
		_cleanup_(freep) char *xml = NULL;
		_cleanup_(freep) char *want = str_printf("cache=\"%s\"", caches[i]);

		d.cache = caches[i];
		xml = disk_format_ok(&d);
		assert_non_null(strstr(xml, want));
	}
	d = disk_basic();
	d.hosts = hosts;
	d.n_hosts = ARRAY_SIZE(hosts);
	for (size_t i = 0; i < ARRAY_SIZE(devs); i++) {
		_cleanup_(freep) char *xml = NULL;
		_cleanup_(freep) char *dev = NULL;
		struct cairn_err err = {0};

		d.target_dev = devs[i];
		xml = disk_format_ok(&d);
		assert_int_equal(xml_disk_target(xml, &dev, &err), 0);
		assert_string_equal(dev, devs[i]);
	}
}

/* ---- domain XML ------------------------------------------------------------------------- */

static void test_domain_basic(void **state)
{
	struct xml_disk disks[2] = {disk_basic(), disk_basic()};
	struct xml_domain dom = {
	        .name = "web1",
	        .uuid = "3f2b8c1e-5d4a-4f6b-9c7d-1e2f3a4b5c6d",
	        .memory_mib = 2048,
	        .vcpus = 2,
	        .disks = disks,
	        .n_disks = 2,
	        .serial_console = true,
	        .network = "default",
	        .emulator = "/usr/bin/qemu-system-x86_64",
	};
	_cleanup_(freep) char *xml = NULL;
	_cleanup_(freep) char *found = NULL;
	_cleanup_(freep) char *dev = NULL;
	struct cairn_err err = {0};
	char **targets = NULL;
	size_t n = 0;

	disks[0].boot_order = 5; /* the first disk boots whatever it says */
	disks[1].image = VOLUME2;
	disks[1].target_dev = "sda";
	disks[1].bus = "scsi";
	xml = domain_format_ok(&dom);
	assert_golden("domain-basic.xml", xml);
	assert_non_null(strstr(xml, "<domain type=\"kvm\">"));
	assert_non_null(strstr(xml, "<memory unit=\"MiB\">2048</memory>"));
	assert_non_null(strstr(xml, "<type arch=\"x86_64\" machine=\"pc\">hvm</type>"));
	assert_non_null(strstr(xml, "<on_poweroff>destroy</on_poweroff>"));
	assert_non_null(strstr(xml, "model=\"virtio-scsi\""));
	assert_non_null(strstr(xml, "<boot order=\"1\"/>"));
	assert_null(strstr(xml, "<boot order=\"5\"/>"));
	assert_null(strstr(xml, "<graphics"));
	assert_null(strstr(xml, "<log "));
	assert_null(strstr(xml, "<?xml"));

	/* what we wrote reads back: two disks, the second one found by its target */
	assert_int_equal(xml_domain_disk_targets(xml, &targets, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(targets[0], "vda");
	assert_string_equal(targets[1], "sda");
	assert_null(targets[2]);
	xml_strv_free(targets);
	assert_int_equal(xml_domain_disk_find(xml, "sda", &found, &err), 0);
	assert_non_null(strstr(found, VOLUME2));
	assert_null(strstr(found, VOLUME "\""));
	assert_int_equal(xml_disk_target(found, &dev, &err), 0);
	assert_string_equal(dev, "sda");
}

static void test_domain_validation(void **state)
{
	struct xml_disk disks[2] = {disk_basic(), disk_basic()};
	const struct xml_domain good = {
	        .name = "web1",
	        .memory_mib = 1024,
	        .vcpus = 1,
	        .disks = disks,
	        .n_disks = 1,
	};
	static const struct {
		const char *what;
		const char *part;
	} cases[] = {
	        {"name", "domain name has a character that is not allowed"},
	        {"uuid", "domain uuid 'ABC' is not a lowercase uuid"},
	        {"memory0", "domain memory 0 MiB is not in"},
	        {"memorybig", "domain memory 16777217 MiB is not in"},
	        {"vcpus0", "domain vcpus 0 is not in"},
	        {"vcpusbig", "domain vcpus 1025 is not in"},
	        {"type", "domain type 'xen' is not one of kvm, qemu"},
	        {"machine", "machine type name has a character"},
	        {"network", "network name has a character"},
	        {"emulator", "emulator must be an absolute path"},
	        {"log", "serial log file needs the serial console"},
	        {"logctl", "serial log file has control characters"},
	        {"nodisk", "domain needs at least one disk"},
	        {"dup", "disk target dev 'vda' is used twice"},
	        {"boot1", "has boot order 1, which the first disk has"},
	        {"baddisk", "disk cache 'fast'"},
	        {"utf8", "emulator has control characters or is not valid UTF-8"},
	};
	struct cairn_err err = {0};
	char *xml = NULL;

	assert_int_equal(xml_domain_format(&good, &xml, &err), 0);
	free(xml);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct xml_domain dom = good;
		const char *w = cases[i].what;
		char *sentinel = (char *)"untouched";

		disks[1] = disk_basic();
		disks[1].target_dev = "vdb";
		if (strcmp(w, "name") == 0)
			dom.name = "vm<1>";
		else if (strcmp(w, "uuid") == 0)
			dom.uuid = "ABC";
		else if (strcmp(w, "memory0") == 0)
			dom.memory_mib = 0;
		else if (strcmp(w, "memorybig") == 0)
			dom.memory_mib = XML_DOMAIN_MEMORY_MAX_MIB + 1;
		else if (strcmp(w, "vcpus0") == 0)
			dom.vcpus = 0;
		else if (strcmp(w, "vcpusbig") == 0)
			dom.vcpus = XML_DOMAIN_VCPUS_MAX + 1;
		else if (strcmp(w, "type") == 0)
			dom.type = "xen";
		else if (strcmp(w, "machine") == 0)
			dom.machine = "pc i440fx";
		else if (strcmp(w, "network") == 0)
			dom.network = "net'1";
		else if (strcmp(w, "emulator") == 0)
			dom.emulator = "qemu-system-x86_64";
		else if (strcmp(w, "log") == 0)
			dom.serial_log_file = "/var/log/web1.log";
		else if (strcmp(w, "logctl") == 0) {
			dom.serial_console = true;
			dom.serial_log_file = "/var/log/web1\n.log";
		} else if (strcmp(w, "nodisk") == 0)
			dom.n_disks = 0;
		else if (strcmp(w, "dup") == 0) {
			disks[1].target_dev = "vda";
			dom.n_disks = 2;
		} else if (strcmp(w, "boot1") == 0) {
			disks[1].boot_order = 1;
			dom.n_disks = 2;
		} else if (strcmp(w, "baddisk") == 0) {
			disks[1].cache = "fast";
			dom.n_disks = 2;
		} else if (strcmp(w, "utf8") == 0)
			dom.emulator = "/usr/bin/qemu-\xff";
		else
			fail_msg("unknown case %s", w);
		xml = sentinel;
		err_clear(&err);
		assert_int_equal(xml_domain_format(&dom, &xml, &err), -EINVAL);
		assert_ptr_equal(xml, sentinel);
		assert_msg_has(&err, cases[i].part);
	}
}

/* ---- secrets ---------------------------------------------------------------------------- */

static void test_secret_xml(void **state)
{
	_cleanup_(freep) char *xml = NULL;
	struct cairn_err err = {0};
	char *sentinel = (char *)"untouched";
	char *bad = sentinel;
	char long_name[XML_SECRET_USAGE_MAX + 2];

	assert_int_equal(xml_secret_format("client.cairn secret", &xml, &err), 0);
	assert_golden("secret-ceph.xml", xml);
	assert_non_null(strstr(xml, "ephemeral=\"no\" private=\"yes\""));
	assert_non_null(strstr(xml, "<usage type=\"ceph\">"));
	assert_null(strstr(xml, "AQ"));

	assert_int_equal(xml_secret_format("a\tb", &bad, &err), -EINVAL);
	assert_msg_has(&err, "not printable ASCII at position 2");
	err_clear(&err);
	assert_int_equal(xml_secret_format("", &bad, &err), -EINVAL);
	assert_msg_has(&err, "secret usage name is missing");
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	err_clear(&err);
	assert_int_equal(xml_secret_format(long_name, &bad, &err), -EINVAL);
	assert_msg_has(&err, "256 characters long");
	assert_ptr_equal(bad, sentinel);
}

static void test_cephx_key_decode(void **state)
{
	static const unsigned char want[] = {
	        0x01, 0x00, 0x70, 0x26, 0x08, 0x6b, 0x9a, 0x37, 0xc6, 0x13, 0x10, 0x00, 0x75, 0x00,
	        0x13, 0x3f, 0x9f, 0x33, 0x9e, 0xe4, 0xfb, 0x76, 0xbb, 0x9b, 0xf6, 0x72, 0xf6, 0xe0,
	};
	static const char *const bad[] = {
	        "AQB",                                      /* not a multiple of 4 */
	        "AQBwJghrmjfGExAAdQATP58znuT7drub9nL24A=!", /* not the alphabet */
	        "AQBwJghrmjfGExAAdQATP58znuT7drub9nL2 A==", /* space */
	        "AQ==AQBwJghrmjfGExAAdQATP58znuT7drub9nL2", /* padding inside */
	        "AQBwJghrmjfGExAAdQATP58znuT7drub9nL24=A=", /* padding then data */
	        "AQBwJghrmjfGExAAdQATP58znuT7drub9nL24===", /* three '=' */
	        "AQAAAAAAAAAAABEAAAAAAAAAAAAAAAAAAAAAAA==", /* length field 17, 16 bytes follow */
	        "AQAAAAAAAAAAAAAA",                         /* length field 0 */
	        "AQAAAA==",                                 /* shorter than the header */
	};
	unsigned char key[CEPHX_KEY_MAX];
	struct cairn_err err = {0};
	size_t len = 0;
	char too_long[CEPHX_KEY_MAX * 2];

	assert_int_equal(cephx_key_decode(CEPHX_KEY, key, &len, &err), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(key, want, sizeof(want));

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(key, 0xaa, sizeof(key));
		len = 77;
		err_clear(&err);
		assert_int_equal(cephx_key_decode(bad[i], key, &len, &err), -EINVAL);
		assert_int_equal(len, 77);
		for (size_t j = 0; j < sizeof(key); j++)
			assert_int_equal(key[j], 0xaa);
		assert_msg_has(&err, "cephx key");
		/* no part of what was given shows in the message */
		assert_null(strstr(err.msg, "AQ"));
	}
	memset(too_long, 'A', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	too_long[sizeof(too_long) - 1 - (sizeof(too_long) - 1) % 4] = '\0';
	err_clear(&err);
	assert_int_equal(cephx_key_decode(too_long, key, &len, &err), -EINVAL);
	assert_msg_has(&err, "cephx key is too long");
	err_clear(&err);
	assert_int_equal(cephx_key_decode("", key, &len, &err), -EINVAL);
	assert_msg_has(&err, "cephx key is missing");
}

/* ---- monitors --------------------------------------------------------------------------- */

static void assert_hosts(const struct xml_host *got, size_t n_got, const struct xml_host *want,
                         size_t n_want)
{
	assert_int_equal(n_got, n_want);
	for (size_t i = 0; i < n_want; i++) {
		assert_string_equal(got[i].name, want[i].name);
		assert_int_equal(got[i].port, want[i].port);
	}
}

static void check_mon_dump(const char *fixture, const struct xml_host *want, size_t n_want)
{
	_cleanup_(freep) char *rel = str_printf("libvirt-glue/%s", fixture);
	_cleanup_(freep) char *json = data_read(rel);
	struct cairn_err err = {0};
	struct xml_host *hosts = NULL;
	size_t n = 0;
	int r = xml_mon_hosts_parse(json, &hosts, &n, &err);

	if (r < 0)
		fail_msg("%s: %d %s", fixture, r, err.msg);
	assert_hosts(hosts, n, want, n_want);
	xml_hosts_free(hosts, n);
}

static void test_mon_dump(void **state)
{
	static const struct xml_host single[] = {{"127.0.0.1", 13300}};
	static const struct xml_host ipv6[] = {{"::1", 13300}};
	/* monmap order; v1-only monitors keep their v1 port */
	static const struct xml_host multi[] = {
	        {"127.0.0.3", 6789}, {"127.0.0.1", 13300}, {"::1", 6789},
	        {"::1", 13301},      {"127.0.0.5", 3300},
	};
	/* before nautilus; the monitor at 0.0.0.0:0 is skipped */
	static const struct xml_host legacy[] = {{"192.0.2.10", 6789}, {"2001:db8::11", 6789}};

	check_mon_dump("mon-dump-single.json", single, ARRAY_SIZE(single));
	check_mon_dump("mon-dump-ipv6.json", ipv6, ARRAY_SIZE(ipv6));
	check_mon_dump("mon-dump-multi.json", multi, ARRAY_SIZE(multi));
	check_mon_dump("mon-dump-legacy.json", legacy, ARRAY_SIZE(legacy));
}

static void test_mon_dump_errors(void **state)
{
	static const struct {
		const char *json;
		const char *part;
	} cases[] = {
	        {"not json", "mon dump is not valid json"},
	        {"[1,2]", "mon dump has no 'mons' array"},
	        {"{\"mons\":{}}", "mon dump has no 'mons' array"},
	        {"{\"mons\":[]}", "no monitor with a usable address"},
	        {"{\"mons\":[{\"name\":\"a\",\"addr\":\"0.0.0.0:0/0\"}]}",
	         "no monitor with a usable address"},
	        {"{\"mons\":[{\"name\":\"a\",\"public_addrs\":{\"addrvec\":[{\"type\":\"v2\","
	         "\"addr\":\"127.0.0.1:99999\"}]}}]}",
	         "no monitor with a usable address"},
	        {"{\"mons\":[3]}", "mon dump 'mons' entry 0 is not an object"},
	};
	struct xml_host *sentinel = (struct xml_host *)(uintptr_t)1, *hosts = sentinel;
	struct cairn_err err;
	size_t n = 99;
	char *many, *p;
	size_t cap = 64 * (XML_HOSTS_MAX + 1) + 32;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err_clear(&err);
		assert_int_equal(xml_mon_hosts_parse(cases[i].json, &hosts, &n, &err), -EINVAL);
		assert_ptr_equal(hosts, sentinel);
		assert_int_equal(n, 99);
		assert_msg_has(&err, cases[i].part);
	}

	/* one monitor more than a disk may name */
	many = malloc(cap);
	assert_non_null(many);
	p = many + snprintf(many, cap, "{\"mons\":[");
	for (int i = 0; i <= XML_HOSTS_MAX; i++)
		p += snprintf(p, cap - (size_t)(p - many), "%s{\"addr\":\"127.0.%d.1:6789/0\"}",
		              i ? "," : "", i);
	snprintf(p, cap - (size_t)(p - many), "]}");
	err_clear(&err);
	assert_int_equal(xml_mon_hosts_parse(many, &hosts, &n, &err), -EINVAL);
	assert_msg_has(&err, "more than 64 monitors");
	free(many);
}

static void check_mon_host(const char *conf, const struct xml_host *want, size_t n_want)
{
	struct cairn_err err = {0};
	struct xml_host *hosts = NULL;
	size_t n = 0;
	int r = xml_mon_host_conf_parse(conf, &hosts, &n, &err);

	if (r < 0)
		fail_msg("'%s': %d %s", conf, r, err.msg);
	assert_hosts(hosts, n, want, n_want);
	xml_hosts_free(hosts, n);
}

static void test_mon_host_conf(void **state)
{
	static const struct xml_host vecs[] = {{"127.0.0.1", 3300}, {"10.0.0.2", 3300}};
	static const struct xml_host plain[] = {{"10.0.0.1", 3300}, {"10.0.0.2", 6789}};
	static const struct xml_host v6vec[] = {{"::1", 3300}, {"127.0.0.1", 6789}};
	static const struct xml_host typed[] = {
	        {"192.0.2.1", 6789}, {"192.0.2.2", 3300}, {"192.0.2.3", 3301}};
	static const struct xml_host v6[] = {
	        {"2001:db8::1", 6789}, {"2001:db8::2", 3300}, {"::1", 3300}};
	static const struct xml_host dns[] = {
	        {"mon1.example.com", 3300}, {"mon2.example.com", 6789}, {"mon3.example.com", 6789}};
	static const struct xml_host nonce[] = {{"192.0.2.7", 6789}, {"192.0.2.8", 3300}};

	check_mon_host("[v2:127.0.0.1:3300,v1:127.0.0.1:6789],[v2:10.0.0.2:3300]", vecs,
	               ARRAY_SIZE(vecs));
	check_mon_host("10.0.0.1,10.0.0.2:6789", plain, ARRAY_SIZE(plain));
	check_mon_host("  [v1:[::1]:6789,v2:[::1]:3300] [v1:127.0.0.1:6789]  ", v6vec,
	               ARRAY_SIZE(v6vec));
	check_mon_host("v1:192.0.2.1; v2:192.0.2.2,any:192.0.2.3:3301", typed, ARRAY_SIZE(typed));
	check_mon_host("[2001:db8::1]:6789,[2001:db8::2],::1", v6, ARRAY_SIZE(v6));
	check_mon_host("mon1.example.com,mon2.example.com:6789\tv1:mon3.example.com", dns,
	               ARRAY_SIZE(dns));
	check_mon_host("[v1:192.0.2.7:6789/0] v2:192.0.2.8:3300/12345", nonce, ARRAY_SIZE(nonce));
}

static void test_mon_host_conf_errors(void **state)
{
	static const struct {
		const char *conf;
		const char *part;
	} cases[] = {
	        {"", "mon_host names no monitor"},
	        {" ,; ", "mon_host names no monitor"},
	        {"[v2:127.0.0.1:3300", "has no closing ']'"},
	        {"127.0.0.1:99999", "'127.0.0.1:99999' has no valid port"},
	        {"127.0.0.1:", "has no valid port"},
	        {"mon_1!", "monitor address 'mon_1!' is neither"},
	        {"[v2:127.0.0.1:3300,127.0.0.2:6789]", "has an address without v1:, v2: or any:"},
	        {"[::1", "monitor address '[::1' is not valid"},
	        {"[::1]6789", "is not valid"},
	        {"0.0.0.0", "is not a usable address"},
	        {"[v2:[::]:3300]", "is not a usable address"},
	        {"127.0.0.1/x", "is not valid"},
	};
	struct xml_host *sentinel = (struct xml_host *)(uintptr_t)1, *hosts = sentinel;
	struct cairn_err err;
	size_t n = 99;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err_clear(&err);
		assert_int_equal(xml_mon_host_conf_parse(cases[i].conf, &hosts, &n, &err), -EINVAL);
		assert_ptr_equal(hosts, sentinel);
		assert_int_equal(n, 99);
		assert_msg_has(&err, cases[i].part);
	}
}

/* ---- reading domain XML ----------------------------------------------------------------- */

static void test_domain_targets(void **state)
{
	_cleanup_(freep) char *xml = data_read("libvirt-glue/domain-live.xml");
	struct cairn_err err = {0};
	char **targets = NULL;
	size_t n = 0;

	assert_int_equal(xml_domain_disk_targets(xml, &targets, &n, &err), 0);
	/* the interface's <target dev="vnet3"/> is not a disk */
	assert_int_equal(n, 3);
	assert_string_equal(targets[0], "vda");
	assert_string_equal(targets[1], "vdb");
	assert_string_equal(targets[2], "sdc");
	assert_null(targets[3]);
	xml_strv_free(targets);

	assert_int_equal(xml_domain_disk_targets("<domain type='kvm'><name>x</name></domain>",
	                                         &targets, &n, &err),
	                 0);
	assert_int_equal(n, 0);
	assert_null(targets[0]);
	xml_strv_free(targets);
}

static void test_domain_targets_errors(void **state)
{
	/* an external entity must not be fetched: the parser never reads the file */
	static const char xxe[] = "<?xml version=\"1.0\"?>\n"
	                          "<!DOCTYPE domain [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
	                          "<domain><devices><disk><target dev=\"&x;\"/></disk></devices>"
	                          "</domain>";
	char **sentinel = (char **)(uintptr_t)1, **targets = sentinel;
	struct cairn_err err;
	size_t n = 99;
	int r;

	err_clear(&err);
	assert_int_equal(xml_domain_disk_targets("<domain><devices>", &targets, &n, &err), -EINVAL);
	assert_msg_has(&err, "domain xml is not well-formed");
	err_clear(&err);
	assert_int_equal(xml_domain_disk_targets("<disk/>", &targets, &n, &err), -EINVAL);
	assert_msg_has(&err, "domain xml does not start with <domain>");
	err_clear(&err);
	assert_int_equal(xml_domain_disk_targets("", &targets, &n, &err), -EINVAL);
	assert_ptr_equal(targets, sentinel);
	assert_int_equal(n, 99);

	err_clear(&err);
	r = xml_domain_disk_targets(xxe, &targets, &n, &err);
	if (r == 0) {
		for (size_t i = 0; i < n; i++)
			assert_null(strstr(targets[i], "root:"));
		xml_strv_free(targets);
	} else {
		assert_int_equal(r, -EINVAL);
	}
}

static void test_domain_disk_find(void **state)
{
	_cleanup_(freep) char *xml = data_read("libvirt-glue/domain-live.xml");
	_cleanup_(freep) char *disk = NULL;
	_cleanup_(freep) char *dev = NULL;
	struct cairn_err err = {0};
	char *sentinel = (char *)"untouched", *none = sentinel;

	assert_int_equal(xml_domain_disk_find(xml, "vdb", &disk, &err), 0);
	assert_int_equal(strncmp(disk, "<disk type=\"network\" device=\"disk\">", 35), 0);
	assert_non_null(strstr(disk, VOLUME2));
	assert_non_null(strstr(disk, "<serial>data-disk</serial>"));
	assert_null(strstr(disk, "vda"));
	assert_int_equal(xml_disk_target(disk, &dev, &err), 0);
	assert_string_equal(dev, "vdb");

	assert_int_equal(xml_domain_disk_find(xml, "vdq", &none, &err), -ENOENT);
	assert_msg_has(&err, "domain has no disk with target dev 'vdq'");
	err_clear(&err);
	/* the interface's target is no disk */
	assert_int_equal(xml_domain_disk_find(xml, "vnet3", &none, &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(xml_domain_disk_find("<domain>", "vda", &none, &err), -EINVAL);
	assert_ptr_equal(none, sentinel);

	err_clear(&err);
	assert_int_equal(xml_disk_target("<disk><target bus='virtio'/></disk>", &dev, &err),
	                 -EINVAL);
	assert_msg_has(&err, "disk xml has no target dev");
	err_clear(&err);
	assert_int_equal(xml_disk_target("<domain/>", &dev, &err), -EINVAL);
	assert_msg_has(&err, "disk xml does not start with <disk>");
	err_clear(&err);
	assert_int_equal(xml_disk_target("<disk><target dev='../x'/></disk>", &dev, &err), -EINVAL);
	assert_msg_has(&err, "is not valid");
	assert_string_equal(dev, "vdb");
}

/* Detach finds the disk by its source: only the volume's own RBD image counts. */
static void test_domain_disk_find_by_source(void **state)
{
	static const char other_sources[] =
	        "<domain><devices>"
	        /* a snapshot of the image, another protocol, a file: none is the image */
	        "<disk type='network'><source protocol='rbd' name='volumes/img@snap'/>"
	        "<target dev='vda'/></disk>"
	        "<disk type='network'><source protocol='nbd' name='volumes/img'/>"
	        "<target dev='vdb'/></disk>"
	        "<disk type='file'><source file='volumes/img'/><target dev='vdc'/></disk>"
	        "<disk type='network'><source protocol='rbd' name='volumes/img'/>"
	        "<target dev='vdd'/></disk>"
	        "</devices></domain>";
	_cleanup_(freep) char *xml = data_read("libvirt-glue/domain-live.xml");
	_cleanup_(freep) char *disk = NULL, *dev = NULL;
	char *sentinel = (char *)"untouched", *none = sentinel, *none_dev = sentinel;
	struct cairn_err err = {0};

	assert_int_equal(
	        xml_domain_disk_find_by_source(xml, "volumes", VOLUME2, NULL, &disk, &dev, &err),
	        0);
	assert_string_equal(dev, "vdb");
	assert_int_equal(strncmp(disk, "<disk type=\"network\" device=\"disk\">", 35), 0);
	assert_non_null(strstr(disk, "<serial>data-disk</serial>"));
	assert_null(strstr(disk, VOLUME "'"));
	free(disk);
	free(dev);
	disk = dev = NULL;
	/* the boot disk, and with its target given */
	assert_int_equal(
	        xml_domain_disk_find_by_source(xml, "volumes", VOLUME, "vda", &disk, &dev, &err),
	        0);
	assert_string_equal(dev, "vda");
	assert_non_null(strstr(disk, VOLUME));
	free(disk);
	free(dev);
	disk = dev = NULL;

	/* the volume at another target than the one asked for */
	assert_int_equal(xml_domain_disk_find_by_source(xml, "volumes", VOLUME2, "vda", &none,
	                                                &none_dev, &err),
	                 -EEXIST);
	assert_string_equal(err.msg,
	                    "rbd image 'volumes/" VOLUME2 "' is the disk 'vdb', not 'vda'");
	err_clear(&err);
	/* not attached: another image, the same image in another pool */
	assert_int_equal(xml_domain_disk_find_by_source(xml, "volumes", "volume-other", NULL, &none,
	                                                &none_dev, &err),
	                 -ENOENT);
	assert_string_equal(err.msg, "no disk has rbd image 'volumes/volume-other' as its source");
	err_clear(&err);
	assert_int_equal(
	        xml_domain_disk_find_by_source(xml, "vms", VOLUME2, NULL, &none, &none_dev, &err),
	        -ENOENT);
	err_clear(&err);
	assert_int_equal(xml_domain_disk_find_by_source(other_sources, "volumes", "img", NULL,
	                                                &disk, &dev, &err),
	                 0);
	assert_string_equal(dev, "vdd");
	err_clear(&err);
	assert_int_equal(xml_domain_disk_find_by_source(other_sources, "volumes", "img", "vda",
	                                                &none, &none_dev, &err),
	                 -EEXIST);
	err_clear(&err);
	/* bad input */
	assert_int_equal(xml_domain_disk_find_by_source(xml, "volumes", VOLUME2, "eth0", &none,
	                                                &none_dev, &err),
	                 -EINVAL);
	assert_msg_has(&err, "disk target dev 'eth0' is not valid");
	err_clear(&err);
	assert_int_equal(
	        xml_domain_disk_find_by_source(xml, "", VOLUME2, NULL, &none, &none_dev, &err),
	        -EINVAL);
	err_clear(&err);
	assert_int_equal(xml_domain_disk_find_by_source("<domain>", "volumes", VOLUME2, NULL, &none,
	                                                &none_dev, &err),
	                 -EINVAL);
	assert_ptr_equal(none, sentinel);
	assert_ptr_equal(none_dev, sentinel);
}

static void next_target_is(char *const *used, size_t n, const char *bus, const char *want)
{
	_cleanup_(freep) char *dev = NULL;
	struct cairn_err err = {0};

	assert_int_equal(xml_disk_target_next(used, n, bus, &dev, &err), 0);
	assert_string_equal(dev, want);
}

/* Attach without a target takes the bus's first free name, as libvirt counts them. */
static void test_disk_target_next(void **state)
{
	char *live[] = {(char *)"vda", (char *)"vdb", (char *)"sdc", NULL};
	char *gap[] = {(char *)"vdc", (char *)"vda"};
	char *many[26 + 26 * 26];
	char names[26 + 26 * 26][8];
	struct cairn_err err = {0};
	char *dev = (char *)"untouched";

	next_target_is(NULL, 0, NULL, "vda");
	next_target_is(live, 3, NULL, "vdc");
	next_target_is(live, 3, "virtio", "vdc");
	next_target_is(gap, 2, NULL, "vdb");
	next_target_is(live, 3, "scsi", "sda");
	next_target_is(live, 3, "sata", "sda");
	next_target_is(live, 3, "ide", "hda");
	for (size_t i = 0; i < ARRAY_SIZE(many); i++) {
		if (i < 26)
			snprintf(names[i], sizeof(names[i]), "vd%c", (char)('a' + i));
		else
			snprintf(names[i], sizeof(names[i]), "vd%c%c", (char)('a' + (i - 26) / 26),
			         (char)('a' + (i - 26) % 26));
		many[i] = names[i];
	}
	next_target_is(many, 26, NULL, "vdaa");
	next_target_is(many, 27, NULL, "vdab");
	next_target_is(many, 52, NULL, "vdba");
	next_target_is(many, ARRAY_SIZE(many) - 1, NULL, "vdzz");

	assert_int_equal(xml_disk_target_next(many, ARRAY_SIZE(many), NULL, &dev, &err), -EBUSY);
	assert_string_equal(err.msg, "no free vdX disk target among the first 702");
	err_clear(&err);
	assert_int_equal(xml_disk_target_next(live, 3, "usb", &dev, &err), -EINVAL);
	assert_msg_has(&err, "disk bus 'usb' is not one of virtio, scsi, sata, ide");
	assert_string_equal(dev, "untouched");
}

/* ---- libvirt calls, through libvirt's in-process test driver ---------------------------- */

struct virt_state {
	virConnectPtr conn;
};

static int virt_setup(void **state)
{
	struct virt_state *s = calloc(1, sizeof(*s));

	if (!s || virt_glue_init() < 0)
		return -1;
	s->conn = virConnectOpen("test:///default");
	if (!s->conn) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int virt_teardown(void **state)
{
	struct virt_state *s = *state;

	virConnectClose(s->conn);
	free(s);
	return 0;
}

static char *disk_xml_for(const char *dev)
{
	struct xml_disk d = disk_basic();

	d.target_dev = dev;
	return disk_format_ok(&d);
}

static void test_virt_attach_detach(void **state)
{
	struct virt_state *s = *state;
	_cleanup_(freep) char *vda = disk_xml_for("vda");
	_cleanup_(freep) char *vdb = disk_xml_for("vdb");
	struct cairn_err err = {0};

	/* the test driver's domain "test" has a disk vda */
	assert_int_equal(virt_disk_attach(s->conn, "nosuch", vdb, true, false, &err), -ENOENT);
	assert_string_equal(err.msg, "domain 'nosuch' not found");
	err_clear(&err);
	assert_int_equal(virt_disk_attach(s->conn, "test", vda, true, true, &err), -EEXIST);
	assert_string_equal(err.msg, "disk target 'vda' is already used in domain 'test'");
	err_clear(&err);
	assert_int_equal(virt_disk_attach(s->conn, "test", "<disk/>", true, false, &err), -EINVAL);
	assert_msg_has(&err, "disk xml has no target dev");
	err_clear(&err);
	/* a free target gets as far as libvirt, whose test driver cannot hot-plug */
	assert_int_equal(virt_disk_attach(s->conn, "test", vdb, true, false, &err), -ENOSYS);
	assert_msg_has(&err, "cannot attach disk 'vdb' to domain 'test': ");

	err_clear(&err);
	assert_int_equal(virt_disk_detach(s->conn, "nosuch", "data1", "volumes", VOLUME, NULL, true,
	                                  false, NULL, &err),
	                 -ENOENT);
	assert_string_equal(err.msg, "domain 'nosuch' not found");
	err_clear(&err);
	/* "test" has one disk, vda, a file: no volume is attached, whatever the target */
	assert_int_equal(virt_disk_detach(s->conn, "test", "data1", "volumes", VOLUME, NULL, false,
	                                  true, NULL, &err),
	                 -ENOENT);
	assert_string_equal(
	        err.msg, "volume 'data1' is not attached to domain 'test' (persistent definition)");
	err_clear(&err);
	assert_int_equal(virt_disk_detach(s->conn, "test", "data1", "volumes", VOLUME, "vda", false,
	                                  false, NULL, &err),
	                 -ENOENT);
	assert_string_equal(err.msg, "volume 'data1' is not attached to domain 'test'");
}

static void test_virt_disk_targets(void **state)
{
	struct virt_state *s = *state;
	struct cairn_err err = {0};
	char **targets = NULL;
	size_t n = 0;

	assert_int_equal(virt_disk_targets(s->conn, "test", false, false, &targets, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(targets[0], "vda");
	assert_null(targets[1]);
	xml_strv_free(targets);
	/* live and persistent: both definitions' targets */
	assert_int_equal(virt_disk_targets(s->conn, "test", true, true, &targets, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(targets[1], "vda");
	xml_strv_free(targets);
	assert_int_equal(virt_disk_targets(s->conn, "nosuch", false, false, &targets, &n, &err),
	                 -ENOENT);
	assert_string_equal(err.msg, "domain 'nosuch' not found");
}

static void test_virt_secret(void **state)
{
	struct virt_state *s = *state;
	unsigned char key[CEPHX_KEY_MAX];
	char uuid[VIR_UUID_STRING_BUFLEN] = "untouched";
	struct cairn_err err = {0};
	size_t len = 0;

	assert_int_equal(cephx_key_decode(CEPHX_KEY, key, &len, &err), 0);
	assert_int_equal(virt_secret_ensure(s->conn, "client.cairn\nsecret", key, len, uuid, &err),
	                 -EINVAL);
	assert_msg_has(&err, "secret usage name");
	err_clear(&err);
	assert_int_equal(virt_secret_ensure(s->conn, "client.cairn secret", key, 0, uuid, &err),
	                 -EINVAL);
	err_clear(&err);
	/* the test driver has no secrets: the error is libvirt's, mapped, and names no key */
	assert_int_equal(virt_secret_ensure(s->conn, "client.cairn secret", key, len, uuid, &err),
	                 -ENOSYS);
	assert_msg_has(&err, "cannot look up libvirt secret 'client.cairn secret': ");
	assert_null(strstr(err.msg, "AQ"));
	assert_string_equal(uuid, "untouched");
	secure_erase(key, sizeof(key));
}

static int group_teardown(void **state)
{
	virt_glue_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_disk_basic),
	        cmocka_unit_test(test_disk_iotune),
	        cmocka_unit_test(test_disk_readonly_snapshot),
	        cmocka_unit_test(test_disk_monitors_ipv6),
	        cmocka_unit_test(test_disk_from_mon_dump),
	        cmocka_unit_test(test_escaping),
	        cmocka_unit_test(test_disk_validation),
	        cmocka_unit_test(test_disk_accepted_values),
	        cmocka_unit_test(test_domain_basic),
	        cmocka_unit_test(test_domain_validation),
	        cmocka_unit_test(test_secret_xml),
	        cmocka_unit_test(test_cephx_key_decode),
	        cmocka_unit_test(test_mon_dump),
	        cmocka_unit_test(test_mon_dump_errors),
	        cmocka_unit_test(test_mon_host_conf),
	        cmocka_unit_test(test_mon_host_conf_errors),
	        cmocka_unit_test(test_domain_targets),
	        cmocka_unit_test(test_domain_targets_errors),
	        cmocka_unit_test(test_domain_disk_find),
	        cmocka_unit_test(test_domain_disk_find_by_source),
	        cmocka_unit_test(test_disk_target_next),
	        cmocka_unit_test_setup_teardown(test_virt_disk_targets, virt_setup, virt_teardown),
	        cmocka_unit_test_setup_teardown(test_virt_attach_detach, virt_setup, virt_teardown),
	        cmocka_unit_test_setup_teardown(test_virt_secret, virt_setup, virt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
