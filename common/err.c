/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

int err_setv(struct cairn_err *err, int code, const char *fmt, va_list ap)
{
	if (code > 0)
		code = -code;
	if (code == 0)
		code = -EIO;
	if (!err)
		return code;
	if (err->code != 0)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int err_set(struct cairn_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_setv(err, code, fmt, ap);
	va_end(ap);
	return r;
}

void err_clear(struct cairn_err *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}

static const struct {
	int errnum;
	int status;
	const char *reason;
} err_table[] = {
        {EINVAL, 400, "invalid_argument"},
        {ENAMETOOLONG, 400, "invalid_argument"},
        {ERANGE, 400, "out_of_range"},
        {EOVERFLOW, 400, "out_of_range"},
        {EBADMSG, 400, "bad_request"},
        {EACCES, 403, "forbidden"},
        {EPERM, 403, "forbidden"},
        {EROFS, 403, "read_only"},
        {ENOENT, 404, "not_found"},
        {EEXIST, 409, "conflict"},
        {EBUSY, 409, "busy"},
        {ENOTEMPTY, 409, "has_dependents"},
        {EALREADY, 409, "in_progress"},
        {ECANCELED, 409, "canceled"},
        {EMSGSIZE, 413, "payload_too_large"},
        {E2BIG, 413, "payload_too_large"},
        {EPROTO, 422, "unprocessable"},
        {EDOM, 422, "unprocessable"},
        {EILSEQ, 422, "corrupt"},
        {EAGAIN, 503, "overloaded"},
        {ETIMEDOUT, 503, "cluster_unavailable"},
        {ENOTCONN, 503, "cluster_unavailable"},
        {ECONNREFUSED, 503, "cluster_unavailable"},
        {ESHUTDOWN, 503, "shutting_down"},
        {ENXIO, 502, "libvirt_unavailable"},
        {ENOSPC, 507, "insufficient_storage"},
        {EDQUOT, 507, "insufficient_storage"},
        {EINTR, 500, "interrupted"}, /* an operation cut short by a stop of cairnd */
        {ENOSYS, 501, "not_supported"},
        {EOPNOTSUPP, 501, "not_supported"},
};

static int err_lookup(int code)
{
	if (code < 0)
		code = -code;
	for (size_t i = 0; i < ARRAY_SIZE(err_table); i++)
		if (err_table[i].errnum == code)
			return (int)i;
	return -1;
}

const char *err_reason(int code)
{
	int i = err_lookup(code);
	return i < 0 ? "internal_error" : err_table[i].reason;
}

int err_http_status(int code)
{
	int i = err_lookup(code);
	return i < 0 ? 500 : err_table[i].status;
}
