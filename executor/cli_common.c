/* cli_common.c: see cli_common.h. */
#include "cli_common.h"
#include "util.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>

volatile int sg_cli_interrupted;

static void on_signal(int sig)
{
	sg_cli_interrupted = sig;
}

void sg_cli_install_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* SIGCHLD ignored by whoever started us would be inherited: the kernel would then reap
	 * init unasked, wait4 fail, and a step that passed read as one that timed out */
	signal(SIGCHLD, SIG_DFL);
}

int sg_cli_write_json(const char *path, const cJSON *json)
{
	char *text = cJSON_Print(json);
	if (!text)
		return -1;
	size_t len = strlen(text);
	int rc = 0;
	if (!strcmp(path, "-")) {
		rc = (sg_write_all(1, text, len) < 0 || sg_write_all(1, "\n", 1) < 0) ? -1 : 0;
	} else {
		sg_buf b = {0};
		sg_buf_append(&b, text, len);
		sg_buf_append(&b, "\n", 1);
		sg_error err = {0};
		rc = sg_write_file_atomic(path, b.data, b.len, 0644, &err);
		if (rc < 0)
			fprintf(stderr, "shipgate: %s\n", err.msg);
		sg_buf_free(&b);
	}
	cJSON_free(text);
	return rc;
}

char *sg_cli_make_temp_dir(const char *prefix, sg_error *err)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	sg_autofree char *stale = sg_xasprintf("shipgate-%s-", prefix);
	sg_scratch_remove_stale(base, stale);
	char *path = sg_xasprintf("%s/shipgate-%s-%d-XXXXXX", base, prefix, (int)getpid());
	if (!mkdtemp(path)) {
		sg_error_set(err, SG_ERR_SANDBOX, errno, "mkdtemp %s", path);
		free(path);
		return NULL;
	}
	return path;
}

int sg_cli_exec_status(int rc, const sg_sandbox_result *r, const sg_error *err, bool quiet)
{
	if (r->interrupted || sg_cli_interrupted) {
		int sig = sg_cli_interrupted ? sg_cli_interrupted : SIGINT;
		if (!quiet)
			fprintf(stderr, "shipgate: interrupted: the sandbox was killed\n");
		return 128 + sig;
	}
	if (rc < 0) {
		switch (err->kind) {
		case SG_ERR_NOT_FOUND:
			fprintf(stderr, "shipgate exec: %s\n", err->msg);
			return 127;
		case SG_ERR_NOT_EXEC:
			fprintf(stderr, "shipgate exec: %s\n", err->msg);
			return 126;
		default:
			fprintf(stderr, "shipgate exec: sandbox setup failed: %s\n", err->msg);
			return 125;
		}
	}
	if (r->timed_out && !quiet)
		fprintf(stderr, "shipgate exec: timed out after %llu ms; the whole process tree was killed\n",
			(unsigned long long)r->wall_ms);
	if (r->signal)
		return 128 + r->signal;
	return r->exit_code;
}

bool sg_cli_stderr_is_tty(void)
{
	return isatty(2);
}
