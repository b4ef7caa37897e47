/* SPDX-License-Identifier: MIT */
/*
 * libvirt routes: the <disk> XML of a volume (and a whole domain that boots from it), the
 * ceph secret in libvirt, hot-plug. The cephx key goes from the keyring file to libvirt's
 * secret and nowhere else: never into XML, a reply or a log line.
 */
#define LOG_MODULE "svc"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "libvirt-glue/libvirt-glue.h"
#include "svc/http-util.h"
#include "svc/svc-internal.h"
#include "volumes/volumes.h"

#define DEFAULT_URI "qemu:///system"

struct virt_args {
	const char *domain, *target, *bus, *cache, *serial, *uri, *secret, *type, *vm_name;
	const char *console_log, *network;
	char **volumes; /* domain-xml: the disks after the boot volume, NULL-terminated */
	size_t n_volumes;
	bool live, config, readonly, shareable;
	uint64_t memory_mib;
	uint32_t vcpus;
	char *xml;          /* result */
	char *target_owned; /* a target picked here, when none was given */
};

static void virt_args_free(void *data)
{
	struct virt_args *a = data;

	free(a->xml);
	free(a->target_owned);
	xml_strv_free(a->volumes);
	free(a);
}

static struct virt_args *virt_args_new(struct svc_call *call)
{
	struct virt_args *a = calloc(1, sizeof(*a));

	if (!a) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return NULL;
	}
	call->data = a;
	call->data_free = virt_args_free;
	return a;
}

/* A volume's disk as libvirt sees it: the record and the monitors it needs, owned here. */
struct disk_ctx {
	struct vol_record rec;
	struct xml_host *hosts;
	size_t n_hosts;
	struct xml_disk d;
};

static void disk_ctx_release(struct disk_ctx *dc)
{
	xml_hosts_free(dc->hosts, dc->n_hosts);
	vol_record_release(&dc->rec);
}

/* Look up the volume and the monitors, and fill dc->d for it. */
static int disk_prepare(struct svc *svc, const char *name, const struct virt_args *a,
                        struct disk_ctx *dc, struct cairn_err *err)
{
	_cleanup_(freep) char *dump = NULL;
	const char *secret = a->secret ? a->secret : svc->conf->ceph.secret_uuid;
	struct xml_disk *d = &dc->d;
	int r;

	memset(dc, 0, sizeof(*dc));
	r = vol_record_load(svc->cluster, false, name, &dc->rec, NULL, err);
	if (r < 0)
		return r;
	r = cluster_mon_dump(svc->cluster, &dump, err);
	if (r >= 0)
		r = xml_mon_hosts_parse(dump, &dc->hosts, &dc->n_hosts, err);
	if (r < 0) {
		disk_ctx_release(dc);
		return r;
	}
	d->pool = dc->rec.pool;
	d->image = dc->rec.rbd_image;
	d->hosts = dc->hosts;
	d->n_hosts = dc->n_hosts;
	if (secret && secret[0]) {
		d->auth_user = svc->conf->ceph.user;
		d->secret_uuid = secret;
	}
	d->target_dev = a->target ? a->target : "vda";
	d->bus = a->bus;
	d->cache = a->cache;
	d->serial = a->serial;
	d->readonly = a->readonly;
	d->shareable = a->shareable;
	d->iotune.total_iops_sec = (uint64_t)json_get_int(dc->rec.qos, "iops", 0);
	d->iotune.read_iops_sec = (uint64_t)json_get_int(dc->rec.qos, "read_iops", 0);
	d->iotune.write_iops_sec = (uint64_t)json_get_int(dc->rec.qos, "write_iops", 0);
	d->iotune.total_bytes_sec = (uint64_t)json_get_int(dc->rec.qos, "bps", 0);
	d->iotune.read_bytes_sec = (uint64_t)json_get_int(dc->rec.qos, "read_bps", 0);
	d->iotune.write_bytes_sec = (uint64_t)json_get_int(dc->rec.qos, "write_bps", 0);
	return 0;
}

static int disk_xml_build(struct svc *svc, const char *name, const struct virt_args *a,
                          char **ret_xml, struct cairn_err *err)
{
	struct disk_ctx dc;
	int r = disk_prepare(svc, name, a, &dc, err);

	if (r < 0)
		return r;
	r = xml_disk_format(&dc.d, ret_xml, err);
	disk_ctx_release(&dc);
	return r;
}

static void disk_query(struct svc_call *call, struct virt_args *a)
{
	a->target = http_request_query_param(call->req, "target");
	a->bus = http_request_query_param(call->req, "bus");
	a->cache = http_request_query_param(call->req, "cache");
	a->serial = http_request_query_param(call->req, "serial");
	a->secret = http_request_query_param(call->req, "secret");
	a->readonly = http_request_query_param(call->req, "readonly") != NULL;
	a->shareable = http_request_query_param(call->req, "shareable") != NULL;
}

static void xml_reply(struct svc_call *call, struct virt_args *a)
{
	call_reply_text(call, 200, "application/xml", a->xml, strlen(a->xml));
}

static bool xml_after(struct svc_call *call)
{
	xml_reply(call, call->data);
	return true;
}

static void volume_xml_work(struct svc_call *call)
{
	struct virt_args *a = call->data;

	disk_xml_build(call->svc, call->params[0], a, &a->xml, &call->err);
}

static void route_volume_xml(struct svc_call *call)
{
	struct virt_args *a;

	if (call_param_name(call, 0, "volume") < 0 || !(a = virt_args_new(call)))
		return;
	disk_query(call, a);
	call->after_fn = xml_after;
	call_submit(call, volume_xml_work, false);
}

static void domain_xml_work(struct svc_call *call)
{
	struct virt_args *a = call->data;
	struct xml_domain dom = {0};
	size_t n = 1 + a->n_volumes, ready = 0;
	struct disk_ctx *dc = calloc(n, sizeof(*dc));
	struct xml_disk *disks = calloc(n, sizeof(*disks));
	char *used[XML_DOMAIN_DISKS_MAX + 1] = {NULL};
	char *targets[XML_DOMAIN_DISKS_MAX] = {NULL};

	if (!dc || !disks) {
		err_set(&call->err, -ENOMEM, "out of memory");
		goto out;
	}
	/* the boot volume as the query says; the others on its bus at the next free targets */
	for (size_t i = 0; i < n; i++) {
		struct virt_args extra = {.bus = a->bus, .cache = a->cache, .secret = a->secret};
		const char *name = i == 0 ? call->params[0] : a->volumes[i - 1];

		if (i > 0) {
			if (xml_disk_target_next(used, i, a->bus, &targets[i], &call->err) < 0)
				goto out;
			extra.target = targets[i];
		}
		if (disk_prepare(call->svc, name, i == 0 ? a : &extra, &dc[i], &call->err) < 0)
			goto out;
		ready++;
		disks[i] = dc[i].d;
		used[i] = (char *)disks[i].target_dev;
	}
	dom.name = a->vm_name ? a->vm_name : call->params[0];
	dom.memory_mib = a->memory_mib ? a->memory_mib : 512;
	dom.vcpus = a->vcpus ? a->vcpus : 1;
	dom.type = a->type;
	dom.disks = disks;
	dom.n_disks = n;
	dom.serial_console = true;
	dom.serial_log_file = a->console_log;
	dom.network = a->network;
	xml_domain_format(&dom, &a->xml, &call->err);
out:
	for (size_t i = 0; i < ready; i++)
		disk_ctx_release(&dc[i]);
	for (size_t i = 0; i < n && i < XML_DOMAIN_DISKS_MAX; i++)
		free(targets[i]);
	free(disks);
	free(dc);
}

/*
 * ?volumes=a,b: the extra disks of domain-xml, in order. Each a volume name, none twice
 * and none the boot volume; at most XML_DOMAIN_DISKS_MAX - 1.
 */
static int query_volumes(struct svc_call *call, struct virt_args *a)
{
	const char *v = http_request_query_param(call->req, "volumes");
	struct cairn_err err = {0};
	const char *p;

	if (!v)
		return 0;
	a->volumes = calloc(XML_DOMAIN_DISKS_MAX, sizeof(char *));
	if (!a->volumes) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (p = v;; p++) {
		size_t len = strcspn(p, ",");
		char *name;

		if (a->n_volumes == XML_DOMAIN_DISKS_MAX - 1) {
			call_reply_error(
			        call, -EINVAL,
			        "query 'volumes' names more than %d volumes, a domain takes "
			        "at most %d disks",
			        XML_DOMAIN_DISKS_MAX - 1, XML_DOMAIN_DISKS_MAX);
			return -EINVAL;
		}
		name = strndup(p, len);
		if (!name) {
			call_reply_error(call, -ENOMEM, "out of memory");
			return -ENOMEM;
		}
		a->volumes[a->n_volumes++] = name;
		if (name_validate(name, "volume", &err) < 0) {
			call_reply_error(call, err.code, "query 'volumes': %s", err.msg);
			return err.code;
		}
		if (strcmp(name, call->params[0]) == 0) {
			call_reply_error(
			        call, -EINVAL,
			        "query 'volumes' names the boot volume '%s': it is the first "
			        "disk already",
			        name);
			return -EINVAL;
		}
		for (size_t i = 0; i + 1 < a->n_volumes; i++)
			if (strcmp(a->volumes[i], name) == 0) {
				call_reply_error(call, -EINVAL,
				                 "query 'volumes' names volume '%s' twice", name);
				return -EINVAL;
			}
		p += len;
		if (!*p)
			break;
	}
	return 0;
}

static int query_uint(struct svc_call *call, const char *name, uint64_t max, uint64_t *ret)
{
	const char *v = http_request_query_param(call->req, name);
	char *end;

	if (!v)
		return 0;
	errno = 0;
	*ret = strtoull(v, &end, 10);
	if (!*v || *end || errno || *ret == 0 || *ret > max) {
		call_reply_error(call, -EINVAL, "query '%s' must be a whole number from 1 to %llu",
		                 name, (unsigned long long)max);
		return -EINVAL;
	}
	return 0;
}

static void route_volume_domain_xml(struct svc_call *call)
{
	struct virt_args *a;
	uint64_t vcpus = 0;

	if (call_param_name(call, 0, "volume") < 0 || !(a = virt_args_new(call)))
		return;
	disk_query(call, a);
	a->vm_name = http_request_query_param(call->req, "name");
	a->type = http_request_query_param(call->req, "type");
	a->console_log = http_request_query_param(call->req, "console_log");
	a->network = http_request_query_param(call->req, "network");
	if (query_uint(call, "memory", XML_DOMAIN_MEMORY_MAX_MIB, &a->memory_mib) < 0 ||
	    query_uint(call, "vcpus", XML_DOMAIN_VCPUS_MAX, &vcpus) < 0 ||
	    query_volumes(call, a) < 0)
		return;
	a->vcpus = (uint32_t)vcpus;
	call->after_fn = xml_after;
	call_submit(call, domain_xml_work, false);
}

/* ---- libvirt connections ---------------------------------------------------------------- */

/*
 * Connections stay open for the daemon's life, one per URI: libvirt's embedded drivers
 * (qemu:///embed, secret:///embed) register once per process and cannot be opened twice,
 * and a reconnect per request would cost a round trip anyway. A dead one is replaced.
 * The caller gets a reference and drops it with virConnectClose().
 */
struct virt_conn {
	struct virt_conn *next;
	char *uri;
	virConnectPtr conn;
};

/*
 * A libvirt URI from a client is a capability of this daemon's user (root): the "ext"
 * transport runs any command, "ssh" and "socket=" reach anywhere, and an embedded driver
 * writes (the cephx key too) wherever "root=" says. Only a local driver is taken:
 * "driver[+unix]:///path", with no query but "root=" of /embed naming an existing
 * directory of this daemon's user that nobody else may write, without symlinks.
 */
static int virt_uri_check(const char *uri, struct cairn_err *err)
{
	const char *sep = strstr(uri, "://"), *path, *query;
	_cleanup_(freep) char *root = NULL, *real = NULL;
	struct stat st;
	size_t n;

	if (!sep || sep == uri || strlen(uri) > 1024 || strpbrk(uri, "#\\"))
		return err_set(err, -EINVAL, "libvirt uri '%.200s' is not driver:///path", uri);
	n = strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789");
	if (n == 0 || (uri + n != sep && strncmp(uri + n, "+unix://", 8) != 0))
		return err_set(err, -EINVAL,
		               "libvirt uri '%.200s': only a local driver is taken (no transport "
		               "but unix)",
		               uri);
	path = sep + 3;
	if (*path != '/')
		return err_set(err, -EINVAL, "libvirt uri '%.200s': only the local host is taken",
		               uri);
	query = strchr(path, '?');
	n = query ? (size_t)(query - path) : strlen(path);
	if (strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != n)
		return err_set(err, -EINVAL, "libvirt uri '%.200s': the path is not /name", uri);
	if (!query)
		return 0;
	if (n != strlen("/embed") || strncmp(path, "/embed", 6) != 0 ||
	    strncmp(query, "?root=", 6) != 0 || strpbrk(query + 6, "&;"))
		return err_set(err, -EINVAL,
		               "libvirt uri '%.200s': the only parameter taken is root= of /embed",
		               uri);
	if (http_percent_decode(query + 6, strlen(query + 6), false, &root) < 0 || root[0] != '/')
		return err_set(err, -EINVAL, "libvirt uri '%.200s': root must be an absolute path",
		               uri);
	real = realpath(root, NULL);
	if (!real || strcmp(real, root) != 0 || stat(real, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return err_set(err, -EACCES,
		               "libvirt uri '%.200s': root must be an existing directory of "
		               "cairnd's user, without symlinks, that nobody else may write",
		               uri);
	return 0;
}

static int virt_open(struct svc *svc, const char *uri, virConnectPtr *ret, struct cairn_err *err)
{
	struct virt_conn *vc;
	virConnectPtr conn;
	int r;

	if (!uri)
		uri = DEFAULT_URI;
	r = virt_uri_check(uri, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->virt_lock);
	for (vc = svc->virt_conns; vc; vc = vc->next)
		if (strcmp(vc->uri, uri) == 0)
			break;
	if (vc && virConnectIsAlive(vc->conn) == 1) {
		virConnectRef(vc->conn);
		*ret = vc->conn;
		pthread_mutex_unlock(&svc->virt_lock);
		return 0;
	}
	if (vc) { /* dead: open a new one below and keep it in this slot */
		virConnectClose(vc->conn);
		vc->conn = NULL;
	}
	/* opening under the lock: two workers must not open one embedded driver twice */
	conn = virConnectOpen(uri);
	if (conn && !vc) {
		vc = calloc(1, sizeof(*vc));
		if (vc && !(vc->uri = strdup(uri))) {
			free(vc);
			vc = NULL;
		}
		if (vc) {
			vc->next = svc->virt_conns;
			svc->virt_conns = vc;
		}
	}
	if (conn && vc) {
		vc->conn = conn;
		virConnectRef(conn);
	}
	pthread_mutex_unlock(&svc->virt_lock);
	if (!conn) {
		const char *m = virGetLastErrorMessage();
		/* not ECONNREFUSED: that would read as "the ceph cluster is down" */
		return err_set(err, -ENXIO, "cannot connect to libvirt at '%s': %s", uri,
		               m ? m : "unknown error");
	}
	*ret = conn;
	return 0;
}

static void secret_ensure_work(struct svc_call *call)
{
	struct virt_args *a = call->data;
	char key_b64[CEPHX_KEY_B64_MAX], uuid[VIR_UUID_STRING_BUFLEN];
	unsigned char key[CEPHX_KEY_MAX];
	_cleanup_(freep) char *usage = str_printf("client.%s secret", call->svc->conf->ceph.user);
	virConnectPtr conn = NULL;
	size_t key_len = 0;
	int r;

	if (!usage) {
		err_set(&call->err, -ENOMEM, "out of memory");
		return;
	}
	r = cluster_secret_key(call->svc->cluster, key_b64, &call->err);
	if (r >= 0)
		r = cephx_key_decode(key_b64, key, &key_len, &call->err);
	secure_erase(key_b64, sizeof(key_b64));
	if (r >= 0)
		r = virt_open(call->svc, a->uri, &conn, &call->err);
	if (r >= 0)
		r = virt_secret_ensure(conn, usage, key, key_len, uuid, &call->err);
	secure_erase(key, sizeof(key));
	if (conn)
		virConnectClose(conn);
	if (r < 0)
		return;
	call->reply = json_object_new_object();
	json_add_string(call->reply, "uuid", uuid);
	json_add_string(call->reply, "usage", usage);
	json_add_string(call->reply, "uri", a->uri ? a->uri : DEFAULT_URI);
}

static void route_secret_ensure(struct svc_call *call)
{
	struct virt_args *a = virt_args_new(call);
	const struct jfield fields[] = {
	        {"uri", JF_STRING, offsetof(struct virt_args, uri), JF_NULLABLE, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	if (!a || call_parse_body(call, fields, a, NULL) < 0)
		return;
	call_submit(call, secret_ensure_work, false);
}

/* No target given: the next free one of the bus among the domain's disks. */
static int attach_target_pick(virConnectPtr conn, struct virt_args *a, struct cairn_err *err)
{
	char **used = NULL;
	size_t n = 0;
	int r;

	if (a->target)
		return 0;
	r = virt_disk_targets(conn, a->domain, a->live, a->config, &used, &n, err);
	if (r < 0)
		return r;
	r = xml_disk_target_next(used, n, a->bus, &a->target_owned, err);
	xml_strv_free(used);
	if (r < 0)
		return r;
	a->target = a->target_owned;
	return 0;
}

static void attach_work(struct svc_call *call)
{
	struct virt_args *a = call->data;
	virConnectPtr conn = NULL;

	if (virt_open(call->svc, a->uri, &conn, &call->err) < 0)
		return;
	if (attach_target_pick(conn, a, &call->err) >= 0 &&
	    disk_xml_build(call->svc, call->params[0], a, &a->xml, &call->err) >= 0 &&
	    virt_disk_attach(conn, a->domain, a->xml, a->live, a->config, &call->err) >= 0) {
		call->reply = json_object_new_object();
		json_add_string(call->reply, "volume", call->params[0]);
		json_add_string(call->reply, "domain", a->domain);
		json_add_string(call->reply, "target", a->target);
		json_add_bool(call->reply, "attached", true);
	}
	virConnectClose(conn);
}

/* Only the disk whose source is this volume's RBD image is unplugged. */
static void detach_work(struct svc_call *call)
{
	struct virt_args *a = call->data;
	_cleanup_(freep) char *dev = NULL;
	struct vol_record rec;
	virConnectPtr conn = NULL;
	int r;

	/* the uri first: a refused one is refused whatever the volume */
	if (virt_open(call->svc, a->uri, &conn, &call->err) < 0)
		return;
	r = vol_record_load(call->svc->cluster, false, call->params[0], &rec, NULL, &call->err);
	if (r < 0) {
		virConnectClose(conn);
		return;
	}
	r = virt_disk_detach(conn, a->domain, call->params[0], rec.pool, rec.rbd_image, a->target,
	                     a->live, a->config, &dev, &call->err);
	if (r >= 0) {
		call->reply = json_object_new_object();
		json_add_string(call->reply, "volume", call->params[0]);
		json_add_string(call->reply, "domain", a->domain);
		json_add_string(call->reply, "target", dev);
		json_add_bool(call->reply, "attached", false);
	}
	virConnectClose(conn);
	vol_record_release(&rec);
}

static void route_attach_detach(struct svc_call *call, call_work_fn work)
{
	struct virt_args *a;
	const struct jfield fields[] = {
	        {"domain", JF_NAME, offsetof(struct virt_args, domain), JF_REQUIRED, NULL},
	        {"target", JF_STRING, offsetof(struct virt_args, target), JF_NULLABLE, NULL},
	        {"bus", JF_STRING, offsetof(struct virt_args, bus), JF_NULLABLE, NULL},
	        {"live", JF_BOOL, offsetof(struct virt_args, live), 0, NULL},
	        {"config", JF_BOOL, offsetof(struct virt_args, config), 0, NULL},
	        {"uri", JF_STRING, offsetof(struct virt_args, uri), JF_NULLABLE, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	if (call_param_name(call, 0, "volume") < 0 || !(a = virt_args_new(call)) ||
	    call_parse_body(call, fields, a, NULL) < 0)
		return;
	call_submit(call, work, false);
}

static void route_volume_attach(struct svc_call *call)
{
	route_attach_detach(call, attach_work);
}

static void route_volume_detach(struct svc_call *call)
{
	route_attach_detach(call, detach_work);
}

const struct route routes_virt[] = {
        {HTTP_METHOD_POST, "/v1/secret/ensure", route_secret_ensure, ROUTE_MUTATING | ROUTE_CLUSTER,
         "define or update the libvirt ceph secret of cairn's user"},
        {HTTP_METHOD_POST, "/v1/volumes/{name}/attach", route_volume_attach,
         ROUTE_MUTATING | ROUTE_CLUSTER, "hot-plug a volume into a libvirt domain"},
        {HTTP_METHOD_POST, "/v1/volumes/{name}/detach", route_volume_detach,
         ROUTE_MUTATING | ROUTE_CLUSTER, "unplug a volume from a libvirt domain"},
        {HTTP_METHOD_GET, "/v1/volumes/{name}/domain-xml", route_volume_domain_xml, ROUTE_CLUSTER,
         "libvirt domain XML that boots from the volume"},
        {HTTP_METHOD_GET, "/v1/volumes/{name}/xml", route_volume_xml, ROUTE_CLUSTER,
         "libvirt <disk> XML of a volume"},
        {0, NULL, NULL, 0, NULL},
};

void virt_conns_close(struct svc *svc)
{
	while (svc->virt_conns) {
		struct virt_conn *vc = svc->virt_conns;

		svc->virt_conns = vc->next;
		if (vc->conn)
			virConnectClose(vc->conn);
		free(vc->uri);
		free(vc);
	}
}
