/* SPDX-License-Identifier: MIT */
/*
 * common: SHA-256 through OpenSSL's libcrypto (SHA-NI where the CPU has it). Shared by
 * backups (file and volume checksums) and image imports (the checksum of the source file).
 */
#define LOG_MODULE "sha256"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/common.h"
#include "common/sha256.h"

static const uint8_t zeros_64k[64 * 1024];

int sha256_init(struct sha256 *s)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	s->ctx = ctx;
	return 0;
}

void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(s->ctx, data, len);
}

void sha256_update_zeros(struct sha256 *s, uint64_t len)
{
	while (len) {
		size_t n = len < sizeof(zeros_64k) ? (size_t)len : sizeof(zeros_64k);
		EVP_DigestUpdate(s->ctx, zeros_64k, n);
		len -= n;
	}
}

void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN])
{
	unsigned int len = SHA256_LEN;

	EVP_DigestFinal_ex(s->ctx, out, &len);
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

void sha256_release(struct sha256 *s)
{
	if (s->ctx)
		EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

int sha256_buf(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	unsigned int n = SHA256_LEN;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	return 0;
}

void sha256_hex(const uint8_t d[SHA256_LEN], char out[SHA256_HEX])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * SHA256_LEN] = '\0';
}

int sha256_from_hex(const char *hex, uint8_t out[SHA256_LEN])
{
	if (!hex || strlen(hex) != 2 * SHA256_LEN)
		return -EINVAL;
	for (int i = 0; i < SHA256_LEN; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int sha256_fd_stoppable(int fd, const atomic_bool *stop, uint8_t out[SHA256_LEN])
{
	struct sha256 s;
	const size_t cap = 1024 * 1024;
	_cleanup_(freep) uint8_t *buf = malloc(cap);
	off_t off = 0;
	int r;

	if (!buf)
		return -ENOMEM;
	r = sha256_init(&s);
	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = pread(fd, buf, cap, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			sha256_release(&s);
			return r;
		}
		if (n == 0)
			break;
		if (stop && atomic_load(stop)) {
			sha256_release(&s);
			return -ECANCELED;
		}
		sha256_update(&s, buf, (size_t)n);
		off += n;
	}
	sha256_final(&s, out);
	return 0;
}

int sha256_fd(int fd, uint8_t out[SHA256_LEN])
{
	return sha256_fd_stoppable(fd, NULL, out);
}
