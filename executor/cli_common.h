/* cli_common.h: what the command-line faces share: signal handling, JSON output, temp
 * directories, the mapping of sandbox outcomes to exit codes. */
#ifndef SHIPGATE_CLI_COMMON_H
#define SHIPGATE_CLI_COMMON_H

#include "sandbox.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Set when SIGINT, SIGTERM or SIGHUP reached shipgate. */
extern volatile int sg_cli_interrupted;
/* Catch SIGINT/SIGTERM/SIGHUP (so that the sandbox is torn down, not abandoned) and
 * ignore SIGPIPE. */
void sg_cli_install_signals(void);

/* Write JSON (pretty, trailing newline) to path, or to stdout if path is "-". */
int sg_cli_write_json(const char *path, const cJSON *json);

/* A fresh private directory under $TMPDIR (or /tmp), "shipgate-PREFIX-XXXXXX". */
char *sg_cli_make_temp_dir(const char *prefix, sg_error *err);

/* exec's exit code: the command's own, 128+N for signal N, 125 setup error, 126 not
 * executable, 127 not found; 130/143 when shipgate itself was interrupted. Prints the
 * error, if any, on stderr. */
int sg_cli_exec_status(int rc, const sg_sandbox_result *r, const sg_error *err, bool quiet);

bool sg_cli_stderr_is_tty(void);

#endif
