/* SPDX-License-Identifier: MIT */
/*
 * common: the small pieces every other folder uses — errors, names, sizes, logging,
 * JSON parameter dispatch. Pure C, no Ceph, no libuv: all of it is unit-tested.
 */
#ifndef CAIRN_COMMON_H
#define CAIRN_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"

#define CAIRN_VERSION_STRING "0.1.0"

#define ARRAY_SIZE(a)                   (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define _printf_(a, b)                  __attribute__((format(printf, a, b)))
#define _unused_                        __attribute__((unused))

/* The value of the hex digit c (either case), -1 when it is none. */
static inline int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- errors ----------------------------------------------------------------------------- */

/*
 * The error of one request. code is a negative errno (0: no error yet); msg says what
 * failed in words an operator understands: lowercase, no final period, names quoted.
 */
struct cairn_err {
	int code;
	char msg[256];
};

/*
 * Record a failure and return code (a negative errno; a positive one is negated).
 * The first failure wins: a later call leaves an error already set as it is.
 */
int err_set(struct cairn_err *err, int code, const char *fmt, ...) _printf_(3, 4);
int err_setv(struct cairn_err *err, int code, const char *fmt, va_list ap) _printf_(3, 0);
void err_clear(struct cairn_err *err);

/* errno (either sign) -> the API's reason name ("not_found") and HTTP status (404). */
const char *err_reason(int code);
int err_http_status(int code);

/* ---- names and ids ---------------------------------------------------------------------- */

#define NAME_MAX_LEN 63

/* [A-Za-z0-9][A-Za-z0-9._-]{0,62}; what describes the name in the message ("volume"). */
int name_validate(const char *name, const char *what, struct cairn_err *err);

/* A random RFC 4122 version-4 UUID, 36 characters and a NUL. */
#define UUID_STR_LEN 37
int uuid_generate_str(char ret[UUID_STR_LEN]);
bool uuid_is_valid(const char *s);

/* ---- sizes ------------------------------------------------------------------------------ */

/*
 * Parse "10G", "512M", "1.5T", "4096", "10GiB" (binary units: K=1024) into bytes.
 * Overflow, negative numbers, fractions of a byte and trailing garbage are -EINVAL/-ERANGE.
 */
int size_parse(const char *s, uint64_t *ret_bytes);

/* Sizes given for disks: positive, a multiple of 512, at most max (0: no max). */
int size_validate(uint64_t bytes, uint64_t max, const char *what, struct cairn_err *err);

/* "10 GiB", "1.5 MiB", "512 B" into buf; returns buf. */
#define SIZE_STR_MAX 32
char *size_format(uint64_t bytes, char buf[SIZE_STR_MAX]);

/* ---- logging ---------------------------------------------------------------------------- */

enum log_level {
	LOG_LEVEL_ERR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_MAX,
};

const char *log_level_to_string(enum log_level level);
int log_level_from_string(const char *s);

/* Set once by main() before any thread starts; read-only afterwards. */
void log_setup(enum log_level max_level, bool timestamps);
void log_emit(enum log_level level, const char *module, const char *fmt, ...) _printf_(3, 4);

#ifndef LOG_MODULE
#define LOG_MODULE "cairn"
#endif
#define log_err(...)   log_emit(LOG_LEVEL_ERR, LOG_MODULE, __VA_ARGS__)
#define log_warn(...)  log_emit(LOG_LEVEL_WARN, LOG_MODULE, __VA_ARGS__)
#define log_info(...)  log_emit(LOG_LEVEL_INFO, LOG_MODULE, __VA_ARGS__)
#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, LOG_MODULE, __VA_ARGS__)

/* ---- progress and cancellation of long work ---------------------------------------------- */

/*
 * Long domain calls (import, flatten, backup) report progress through this and stop early,
 * with -ECANCELED, once cancel_requested() says so. Both may be called from any thread.
 */
struct cairn_progress {
	void (*report)(struct cairn_progress *p, uint64_t done, uint64_t total);
	bool (*cancel_requested)(struct cairn_progress *p);
};

static inline void progress_report(struct cairn_progress *p, uint64_t done, uint64_t total)
{
	if (p && p->report)
		p->report(p, done, total);
}

static inline bool progress_cancelled(struct cairn_progress *p)
{
	return p && p->cancel_requested && p->cancel_requested(p);
}

/* ---- fail points (crash tests) ------------------------------------------------------------ */

/*
 * When the environment variable CAIRN_FAILPOINT names this step ("volume.create.cloned"),
 * the process kills itself with SIGKILL right here, as a crash would. Tests use it to
 * prove that every step of every operation is recoverable. Costs a getenv otherwise.
 */
void failpoint(const char *step);

/* ---- strings ---------------------------------------------------------------------------- */

/* strdup that aborts on out-of-memory is not our style: these return NULL and callers check. */
char *str_printf(const char *fmt, ...) _printf_(1, 2);
bool str_has_prefix(const char *s, const char *prefix);
/* Copy src into dst of size n, always NUL-terminated; -ENAMETOOLONG when it did not fit. */
int str_copy(char *dst, size_t n, const char *src);

/* Overwrite memory that held a secret so the compiler cannot drop the write. */
void secure_erase(void *p, size_t n);

/* On SIGSEGV, SIGABRT, SIGBUS, SIGFPE or SIGILL: the stack to stderr, then die of it. */
void crash_handler_install(void);

/* last: turns unsafe libc calls into compile errors */
#include "banned.h"

#endif
