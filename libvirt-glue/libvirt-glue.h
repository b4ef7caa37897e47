/* SPDX-License-Identifier: MIT */
/*
 * libvirt-glue: what a compute node needs to give a guest a cairn volume.
 *
 *  - XML for libvirt, written with libxml2's xmlTextWriter (every value is escaped by the
 *    writer, never pasted into a string): a <disk type="network"> with an rbd source, a whole
 *    <domain> that boots from volumes, and a ceph <secret>. Every input is validated first;
 *    a bad one is -EINVAL with a message that names the field.
 *  - The monitor addresses those disks name, from the cluster's monmap (`mon dump` JSON) or
 *    from a `mon_host` configuration string.
 *  - Reading a domain's XML back: which disk targets it uses, the <disk> behind a target.
 *  - Calls into libvirt: define/update the cephx secret, attach and detach disks.
 *
 * Everything but virt_secret_ensure and virt_disk_attach/detach is pure and unit-tested.
 * The cephx key never appears in any XML, message or log: only libvirt's secret holds it.
 */
#ifndef CAIRN_LIBVIRT_GLUE_H
#define CAIRN_LIBVIRT_GLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "common/common.h"

/*
 * Call once from main() before any thread uses this folder: initialises libxml2 (which
 * wants that before use from several threads) and libvirt, and stops libvirt printing its
 * errors to stderr (they come back in struct cairn_err instead). virt_glue_cleanup() at
 * exit releases libxml2's global state.
 */
int virt_glue_init(void);
void virt_glue_cleanup(void);

/*
 * libvirt's default event loop on a thread of its own, for connections that need one (the
 * embedded driver, qemu:///embed, refuses to open without it; keepalives use it too).
 * Start once after virt_glue_init(); stop joins the thread.
 */
struct virt_event_loop;
int virt_event_loop_start(struct virt_event_loop **ret);
struct virt_event_loop *virt_event_loop_stop(struct virt_event_loop *l);

/* ---- disks ------------------------------------------------------------------------------ */

/* A monitor: an IPv4 or IPv6 literal (no brackets) or a DNS name, and a port 1..65535. */
struct xml_host {
	const char *name;
	unsigned port;
};

/* At most this many monitors in one disk or parsed from one map. */
#define XML_HOSTS_MAX 64

/* Largest value libvirt/QEMU take for any iotune limit. */
#define XML_IOTUNE_MAX UINT64_C(1000000000000000)

/* QoS limits; 0 = not set. total_* cannot be set together with read_* / write_*. */
struct xml_iotune {
	uint64_t total_bytes_sec, read_bytes_sec, write_bytes_sec;
	uint64_t total_iops_sec, read_iops_sec, write_iops_sec;
};

struct xml_disk {
	const char *pool;     /* rbd pool, name_validate() rules */
	const char *image;    /* rbd image, e.g. "volume-<uuid>", name_validate() rules */
	const char *snapshot; /* optional rbd snapshot: the disk is then read-only */
	const struct xml_host *hosts;
	size_t n_hosts;          /* 1..XML_HOSTS_MAX */
	const char *auth_user;   /* cephx id without "client." ("cairn"); NULL: no <auth> */
	const char *secret_uuid; /* the libvirt secret holding that user's key; needs auth_user */
	const char *target_dev;  /* vd[a-z]+, sd[a-z]+ or hd[a-z]+ */
	const char *bus;         /* virtio (NULL), scsi, sata, ide */
	const char *cache;       /* none (NULL), writeback, writethrough, directsync, unsafe */
	bool discard_ignore;     /* false: discard="unmap" (guest TRIM frees RBD space) */
	const char *serial;      /* optional; libvirt allows [A-Za-z0-9_.+ -], at most 128 */
	bool readonly;
	bool shareable;
	struct xml_iotune iotune;
	unsigned boot_order; /* 0: none */
};

/* Check every field of d; the message names the first bad one. */
int xml_disk_validate(const struct xml_disk *d, struct cairn_err *err);

/*
 * The <disk type="network" device="disk"> element for d, indented, ending in a newline,
 * with no XML declaration (it is meant to be attached or pasted into a domain). *ret_xml is
 * the caller's to free().
 */
int xml_disk_format(const struct xml_disk *d, char **ret_xml, struct cairn_err *err);

/* ---- domains ---------------------------------------------------------------------------- */

#define XML_DOMAIN_MEMORY_MAX_MIB (UINT64_C(16) * 1024 * 1024) /* 16 TiB */
#define XML_DOMAIN_VCPUS_MAX      1024
#define XML_DOMAIN_DISKS_MAX      64

struct xml_domain {
	const char *name; /* name_validate() rules */
	const char *uuid; /* optional, lowercase RFC 4122 form; NULL: libvirt picks one */
	uint64_t memory_mib;
	unsigned vcpus;
	const char *type;             /* kvm (NULL) or qemu */
	const struct xml_disk *disks; /* 1..XML_DOMAIN_DISKS_MAX; disks[0] boots (order 1) */
	size_t n_disks;
	bool serial_console;         /* a pty serial port and its console */
	const char *serial_log_file; /* optional absolute path that logs the serial console */
	const char *network;         /* optional libvirt network for one virtio NIC */
	const char *emulator;        /* optional absolute path of the QEMU binary */
	const char *machine;         /* pc (NULL), q35, pc-i440fx-7.2, ... */
};

/*
 * A whole <domain> that boots from d->disks[0]: <os> hvm x86_64, ACPI, destroy on
 * power-off, the disks (a virtio-scsi controller when a disk uses the scsi bus), an
 * optional virtio NIC, an optional pty serial console, no graphics. The other disks keep
 * their own boot_order, which must then be above 1 and unique. *ret_xml is the caller's.
 */
int xml_domain_format(const struct xml_domain *dom, char **ret_xml, struct cairn_err *err);

/* ---- secrets ---------------------------------------------------------------------------- */

/* Longest usage name accepted for a ceph secret. */
#define XML_SECRET_USAGE_MAX 255

/*
 * <secret ephemeral="no" private="yes"> of usage type ceph named usage_name (printable
 * ASCII, e.g. "client.cairn secret"). It never holds the key itself.
 */
int xml_secret_format(const char *usage_name, char **ret_xml, struct cairn_err *err);

/*
 * Decode a cephx key as ceph prints it ("AQB...==", standard base64 with padding) into the
 * raw bytes libvirt's secret takes. The decoded key is checked against cephx's own layout
 * (type, creation time, length, secret). *ret_len is set to the number of bytes. Neither the
 * key nor any part of it appears in the error message; scratch copies are wiped.
 */
#define CEPHX_KEY_MAX 64
int cephx_key_decode(const char *b64, unsigned char ret[CEPHX_KEY_MAX], size_t *ret_len,
                     struct cairn_err *err);

/* ---- monitors --------------------------------------------------------------------------- */

/*
 * The monitors of a monmap given as the JSON of `ceph mon dump --format json` (or the
 * mon command {"prefix": "mon dump", "format": "json"}), in monmap order: each monitor's
 * msgr2 (v2) address, else its v1 address, else the legacy "addr" field. IPv6 addresses
 * lose their brackets. Monitors without a usable address are skipped; none at all is
 * -EINVAL. Free the result with xml_hosts_free().
 */
int xml_mon_hosts_parse(const char *mon_dump_json, struct xml_host **ret_hosts, size_t *ret_n,
                        struct cairn_err *err);

/*
 * The monitors of a ceph.conf `mon_host` value: entries separated by ',', ';' or spaces,
 * each an address vector "[v2:IP:PORT,v1:IP:PORT]" (its v2 address is chosen, else v1),
 * or one address "v2:IP:PORT", "v1:IP:PORT", "IP", "IP:PORT", "[IPv6]:PORT", "host.name".
 * A port left out is 3300 (msgr2), or 6789 after "v1:". Free with xml_hosts_free().
 */
int xml_mon_host_conf_parse(const char *mon_host, struct xml_host **ret_hosts, size_t *ret_n,
                            struct cairn_err *err);

/* Free what the two parsers above returned (their names are owned by the array). */
void xml_hosts_free(struct xml_host *hosts, size_t n);

/* ---- reading domain XML ----------------------------------------------------------------- */

/*
 * The target devs (devices/disk/target/@dev) a domain's XML uses, in document order.
 * *ret_targets is NULL-terminated as well; free it with xml_strv_free().
 */
int xml_domain_disk_targets(const char *domain_xml, char ***ret_targets, size_t *ret_n,
                            struct cairn_err *err);

/* The <disk> element of domain_xml whose target is target_dev, as its own document. */
int xml_domain_disk_find(const char *domain_xml, const char *target_dev, char **ret_disk_xml,
                         struct cairn_err *err);

/*
 * The <disk type="network"> of domain_xml whose source is rbd image POOL/IMAGE (source
 * protocol="rbd" name="POOL/IMAGE"), as its own document, and its target dev. With
 * target_dev, only the disk at that target counts. -ENOENT when no disk has that source,
 * -EEXIST when one has but at another target than target_dev.
 */
int xml_domain_disk_find_by_source(const char *domain_xml, const char *pool, const char *image,
                                   const char *target_dev, char **ret_disk_xml,
                                   char **ret_target_dev, struct cairn_err *err);

/*
 * The first target dev of bus (virtio or NULL: vdX; scsi, sata: sdX; ide: hdX) that is not
 * among used[0..n_used): vda, vdb, ..., vdz, vdaa, ... as libvirt names them. -EBUSY when
 * the first 702 are all taken.
 */
int xml_disk_target_next(char *const *used, size_t n_used, const char *bus, char **ret_target_dev,
                         struct cairn_err *err);

/* The target dev of a <disk> document (as xml_disk_format writes it). */
int xml_disk_target(const char *disk_xml, char **ret_target_dev, struct cairn_err *err);

void xml_strv_free(char **v);

/* ---- libvirt calls (need a running libvirt; not unit-tested) ---------------------------- */

/*
 * Make sure libvirt has a ceph secret with usage name usage_name ("client.cairn secret")
 * whose value is key (the decoded cephx key, see cephx_key_decode()): look it up, define it
 * when missing, set its value. ret_uuid receives the secret's UUID for <auth>. A secret this
 * call defined is undefined again when setting its value fails.
 */
int virt_secret_ensure(virConnectPtr conn, const char *usage_name, const unsigned char *key,
                       size_t key_len, char ret_uuid[VIR_UUID_STRING_BUFLEN],
                       struct cairn_err *err);

/*
 * Hot-plug (live) and/or add to the persistent definition (config) the <disk> in disk_xml;
 * neither: the domain's current state. -ENOENT when the domain does not exist, -EEXIST when
 * its target dev is already used there.
 */
int virt_disk_attach(virConnectPtr conn, const char *domain, const char *disk_xml, bool live,
                     bool config, struct cairn_err *err);

/*
 * The disk targets the domain uses in the definitions a change with live/config touches
 * (neither: the current one), all of them together. Free with xml_strv_free().
 */
int virt_disk_targets(virConnectPtr conn, const char *domain, bool live, bool config,
                      char ***ret_targets, size_t *ret_n, struct cairn_err *err);

/*
 * Unplug (live) and/or remove from the persistent definition (config) the disk whose
 * source is rbd image POOL/IMAGE, the volume called volume (for messages); with
 * target_dev, only when it is that disk. The disk is looked up in every definition the
 * change touches first, so nothing changes when it is missing from one. -ENOENT when the
 * domain does not exist or the volume is not attached to it, -EEXIST when it is attached
 * at another target than target_dev (or at different ones live and persistently).
 * *ret_target_dev (may be NULL) receives the target the disk had.
 */
int virt_disk_detach(virConnectPtr conn, const char *domain, const char *volume, const char *pool,
                     const char *image, const char *target_dev, bool live, bool config,
                     char **ret_target_dev, struct cairn_err *err);

#endif
