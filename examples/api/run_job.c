/* run_job.c: a small orchestrator on libshipgate's C API (docs/api.md).
 *
 *     run_job JOB.json KEY.pem PUB.pem [OUT_DIR]
 *
 * Runs the job with the private key, printing its progress events on stderr as they
 * come; checks the signed verdict with the public key; decides SHIP or DIAGNOSE; prints
 * the verdict's statement (the exact bytes of statement.json) on stdout. Exits like
 * `shipgate run`: 0 PASSED, 1 FAILED, 2 bad input, 3 infrastructure. With
 * SHIPGATE_ALLOW_WEAKER set in the environment it runs as `run --allow-weaker` does.
 *
 * Build it against an installed shipgate:
 *     cc -o run_job run_job.c $(pkg-config --cflags --libs shipgate)
 */
#define _POSIX_C_SOURCE 200809L /* sigaction */

#include <shipgate/shipgate.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void on_event(void *ctx, sg_event_kind kind, const char *json, size_t len)
{
	(void)ctx;
	(void)kind;
	fprintf(stderr, "event: %.*s\n", (int)len, json);
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: %s JOB.json KEY.pem PUB.pem [OUT_DIR]\n", argv[0]);
		return 2;
	}
	if (sg_api_version() != SHIPGATE_API_VERSION) {
		fprintf(stderr, "run_job: built for API %d, the library has %d\n", SHIPGATE_API_VERSION,
			sg_api_version());
		return 2;
	}
	/* ^C stops the job cleanly: the library polls the flag, we own the signal */
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	sg_error err = {0};
	int rc = 2;
	sg_job_t *job = NULL;
	sg_key_t *key = NULL, *pub = NULL;
	sg_result_t *res = NULL;
	sg_verified_t *v = NULL;
	sg_decision_t *d = NULL;

	if (!(job = sg_job_open(argv[1], &err)) || !(key = sg_key_open_private(argv[2], &err)) ||
	    !(pub = sg_key_open_public(argv[3], &err))) {
		fprintf(stderr, "run_job: %s\n", err.msg);
		goto out;
	}
	fprintf(stderr, "run_job: libshipgate %s, job %s (%zu steps)\n", sg_version(), sg_job_get_name(job),
		sg_job_get_step_count(job));

	sg_run_config cfg = SG_RUN_CONFIG_INIT;
	cfg.out_dir = argc == 5 ? argv[4] : NULL;
	cfg.interrupted = &interrupted;
	cfg.on_event = on_event;
	/* as `shipgate run --allow-weaker`: run although a limit cannot be enforced (an
	 * unprivileged user without a delegated cgroup), and say so in the verdict */
	cfg.allow_weaker = getenv("SHIPGATE_ALLOW_WEAKER") != NULL;
	res = sg_job_run(job, key, &cfg, &err);
	if (!res) {
		fprintf(stderr, "run_job: %s (%s)\n", err.msg, sg_error_kind_name(err.kind));
		rc = err.kind == SG_ERR_USAGE || err.kind == SG_ERR_INPUT ? 2 : 3;
		goto out;
	}
	rc = sg_result_get_exit_code(res);

	/* trust nothing unsigned: verify the envelope's bytes before deciding on them */
	size_t env_len;
	const char *env = sg_result_get_envelope(res, &env_len);
	if (!(v = sg_verify_envelope(env, env_len, pub, &err)) ||
	    sg_verified_check_workspace(v, sg_job_get_workspace(job), &err) < 0) {
		fprintf(stderr, "run_job: the verdict does not verify: %s\n", err.msg);
		rc = 3;
		goto out;
	}
	d = sg_verified_decide(v, 0);
	fprintf(stderr, "run_job: %s: %s, signed by %s\n", sg_verified_get_result(v), sg_result_get_reason(res),
		sg_verified_get_keyid(v));
	if (sg_decision_get_kind(d) == SG_DECIDE_SHIP)
		fprintf(stderr, "run_job: SHIP: %s\n", sg_decision_get_summary(d));
	else
		fprintf(stderr, "run_job: DIAGNOSE: %s: %s\n", sg_decision_get_category(d),
			sg_decision_get_summary(d));

	size_t st_len;
	const char *st = sg_result_get_statement(res, &st_len);
	fwrite(st, 1, st_len, stdout);
out:
	sg_decision_close(d);
	sg_verified_close(v);
	sg_result_close(res);
	sg_key_close(pub);
	sg_key_close(key);
	sg_job_close(job);
	return rc;
}
