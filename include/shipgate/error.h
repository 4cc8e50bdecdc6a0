/* shipgate/error.h: the error object every fallible call of libshipgate fills in.
 *
 * A function that can fail takes `sg_error *err` as its last argument and returns a
 * negative value (or NULL) on failure. The error carries a kind (what sort of failure,
 * which decides the exit code), the errno that caused it (0 if none) and a sentence a
 * person can read. Callers add their own context on the way up with sg_error_prefix(),
 * so the user reads "workspace: open_tree /src: Operation not permitted", not a code.
 */
#ifndef SHIPGATE_ERROR_H
#define SHIPGATE_ERROR_H

#include <shipgate/export.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sg_error_kind {
	SG_ERR_NONE = 0,
	SG_ERR_USAGE,      /* bad command line or bad input file: nothing ran */
	SG_ERR_INPUT,      /* unreadable or invalid input (job, policy, verdict) */
	SG_ERR_SANDBOX,    /* the sandbox could not be set up as asked (infrastructure) */
	SG_ERR_NOT_FOUND,  /* the command to run does not exist */
	SG_ERR_NOT_EXEC,   /* the command exists but cannot be executed */
	SG_ERR_INTERNAL,   /* a bug or resource exhaustion in shipgate itself */
	SG_ERR_VERIFY,     /* a signature, key or subject did not check out */
} sg_error_kind;

#define SG_ERROR_MSG_MAX 1024

typedef struct sg_error {
	sg_error_kind kind;
	int errnum;
	char msg[SG_ERROR_MSG_MAX];
} sg_error;

/* Set the error and return -1, so a caller can write `return sg_error_set(...)`.
 * If errnum is non-zero, ": strerror(errnum)" is appended to the message. */
SG_API int sg_error_set(sg_error *err, sg_error_kind kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prepend "context: " to an error already set. Returns -1. */
SG_API int sg_error_prefix(sg_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset an error to SG_ERR_NONE. */
SG_API void sg_error_clear(sg_error *err);

SG_API const char *sg_error_kind_name(sg_error_kind kind);

#ifdef __cplusplus
}
#endif
#endif
