/* SPDX-License-Identifier: MIT */
/*
 * The cephx key in libvirt: decoded from ceph's base64 form and stored as the value of a
 * private, persistent ceph secret that disks name by UUID. The key is never logged, never
 * put in a message and every scratch copy of it is wiped.
 */
#include <errno.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#define LOG_MODULE "libvirt-glue"
#include "libvirt-glue/glue-internal.h"

/* le16 type, le32 seconds, le32 nanoseconds, le16 length, then the secret itself */
#define CEPHX_HEADER_LEN 12

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int cephx_key_decode(const char *b64, unsigned char ret[CEPHX_KEY_MAX], size_t *ret_len,
                     struct cairn_err *err)
{
	/* room for a whole last quantum: its padding is only known when it is decoded */
	unsigned char buf[CEPHX_KEY_MAX + 3];
	size_t len, n = 0, secret_len;
	int r = 0;

	if (!b64 || !*b64)
		return err_set(err, -EINVAL, "cephx key is missing");
	len = strlen(b64);
	if (len % 4 != 0)
		return err_set(err, -EINVAL, "cephx key is not valid base64 (length)");
	if (len / 4 * 3 > sizeof(buf))
		return err_set(err, -EINVAL, "cephx key is too long");
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int v[4];
		size_t pad = 0;

		for (size_t j = 0; j < 4; j++) {
			v[j] = b64_value(b64[i + j]);
			if (v[j] >= 0 && pad == 0)
				continue;
			/* '=' only closes the last quantum, after at least two characters */
			if (b64[i + j] == '=' && last && j >= 2) {
				pad++;
				v[j] = 0;
				continue;
			}
			r = err_set(err, -EINVAL, "cephx key is not valid base64");
			goto out;
		}
		buf[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			buf[n++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			buf[n++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
		secure_erase(v, sizeof(v));
	}
	secret_len = n >= CEPHX_HEADER_LEN ? (size_t)buf[10] | (size_t)buf[11] << 8 : 0;
	if (n > CEPHX_KEY_MAX) {
		r = err_set(err, -EINVAL, "cephx key is too long");
		goto out;
	}
	if (n < CEPHX_HEADER_LEN + 1 || secret_len == 0 || CEPHX_HEADER_LEN + secret_len != n) {
		r = err_set(err, -EINVAL, "cephx key does not have the layout of a ceph key");
		goto out;
	}
	memcpy(ret, buf, n);
	*ret_len = n;
out:
	secure_erase(buf, sizeof(buf));
	return r;
}

static void secret_freep(virSecretPtr *s)
{
	if (*s)
		virSecretFree(*s);
}

int virt_secret_ensure(virConnectPtr conn, const char *usage_name, const unsigned char *key,
                       size_t key_len, char ret_uuid[VIR_UUID_STRING_BUFLEN], struct cairn_err *err)
{
	_cleanup_(secret_freep) virSecretPtr secret = NULL;
	_cleanup_(freep) char *xml = NULL;
	char uuid[VIR_UUID_STRING_BUFLEN];
	bool defined = false;
	int r;

	if (!conn)
		return err_set(err, -EINVAL, "no libvirt connection");
	if (!key || key_len == 0 || key_len > CEPHX_KEY_MAX)
		return err_set(err, -EINVAL, "cephx key is missing or has a wrong length");
	r = xml_secret_format(usage_name, &xml, err);
	if (r < 0)
		return r;

	secret = virSecretLookupByUsage(conn, VIR_SECRET_USAGE_TYPE_CEPH, usage_name);
	if (!secret) {
		virErrorPtr e = virGetLastError();

		if (!e || e->code != VIR_ERR_NO_SECRET)
			return glue__virt_err(err, -EIO, "cannot look up libvirt secret '%s'",
			                      usage_name);
		virResetLastError();
		secret = virSecretDefineXML(conn, xml, 0);
		if (!secret)
			return glue__virt_err(err, -EIO, "cannot define libvirt secret '%s'",
			                      usage_name);
		defined = true;
		log_debug("defined libvirt secret '%s'", usage_name);
	}
	if (virSecretGetUUIDString(secret, uuid) < 0) {
		r = glue__virt_err(err, -EIO, "cannot read the uuid of libvirt secret '%s'",
		                   usage_name);
		goto undo;
	}
	if (virSecretSetValue(secret, key, key_len, 0) < 0) {
		r = glue__virt_err(err, -EIO, "cannot set the value of libvirt secret '%s'",
		                   usage_name);
		goto undo;
	}
	log_debug("libvirt secret '%s' is %s", usage_name, uuid);
	memcpy(ret_uuid, uuid, sizeof(uuid));
	return 0;

undo:
	/* a secret without its value must not stay behind */
	if (defined && virSecretUndefine(secret) < 0)
		log_warn("cannot undefine libvirt secret '%s' after a failure: %s", usage_name,
		         virGetLastErrorMessage());
	return r;
}
