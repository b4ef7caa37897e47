/* SPDX-License-Identifier: MIT */
/*
 * common: SHA-256 (OpenSSL's libcrypto). Backups checksum their files and volumes with it,
 * image imports their source file.
 */
#ifndef CAIRN_COMMON_SHA256_H
#define CAIRN_COMMON_SHA256_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX 65 /* 64 hex digits and a NUL */

struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};

int sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Feed len zero bytes. */
void sha256_update_zeros(struct sha256 *s, uint64_t len);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);
void sha256_release(struct sha256 *s);
int sha256_buf(const void *data, size_t len, uint8_t out[SHA256_LEN]);
void sha256_hex(const uint8_t d[SHA256_LEN], char out[SHA256_HEX]);
/* 64 hex digits (either case) -> bytes; -EINVAL otherwise. */
int sha256_from_hex(const char *hex, uint8_t out[SHA256_LEN]);
/* The SHA-256 of a whole file from its start; -errno. */
int sha256_fd(int fd, uint8_t out[SHA256_LEN]);
/*
 * The same, read with pread (the file offset is left alone, so another reader of the same
 * open file is not disturbed); -ECANCELED as soon as *stop is seen true between reads.
 */
int sha256_fd_stoppable(int fd, const atomic_bool *stop, uint8_t out[SHA256_LEN]);

#endif
