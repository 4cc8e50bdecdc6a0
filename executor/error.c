/* error.c: the sg_error object (see include/shipgate/error.h). */
#include <shipgate/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sg_error_set(sg_error *err, sg_error_kind kind, int errnum, const char *fmt, ...)
{
	if (!err)
		return -1;
	err->kind = kind;
	err->errnum = errnum;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
	if (errnum != 0) {
		size_t len = strlen(err->msg);
		if (len < sizeof(err->msg) - 1)
			snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errnum));
	}
	return -1;
}

int sg_error_prefix(sg_error *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char prefix[SG_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	char joined[2 * SG_ERROR_MSG_MAX + 4];
	snprintf(joined, sizeof(joined), "%s: %s", prefix, err->msg);
	size_t len = strnlen(joined, sizeof(err->msg) - 1);
	memcpy(err->msg, joined, len);
	err->msg[len] = '\0';
	return -1;
}

void sg_error_clear(sg_error *err)
{
	if (!err)
		return;
	err->kind = SG_ERR_NONE;
	err->errnum = 0;
	err->msg[0] = '\0';
}

const char *sg_error_kind_name(sg_error_kind kind)
{
	switch (kind) {
	case SG_ERR_NONE: return "none";
	case SG_ERR_USAGE: return "usage";
	case SG_ERR_INPUT: return "input";
	case SG_ERR_SANDBOX: return "sandbox";
	case SG_ERR_NOT_FOUND: return "not-found";
	case SG_ERR_NOT_EXEC: return "not-executable";
	case SG_ERR_INTERNAL: return "internal";
	case SG_ERR_VERIFY: return "verify";
	default: return "unknown";
	}
}
