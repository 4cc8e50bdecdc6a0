/* api_handles.c: what libshipgate's handles promise (tests/integration/test_api.sh).
 *
 *     api_handles handles DIR
 *     api_handles nocrypto KEY PUB JOB
 *
 * handles: a handle is what runs, whatever happens to the files and the working directory
 * after it was opened. DIR holds (test_api.sh makes them) a/keys/shipgate.{key,pub} and
 * b/keys/shipgate.key (two key pairs), proj/job.json and proj/toc.json (a job, workspace
 * proj/ws), a copy of key a at proj/ws/leak/shipgate.key and at leak/shipgate.key.
 *   1. a job file rewritten after sg_job_open: the job that runs, and the job digest its
 *      statement records, are the handle's;
 *   2. chdir() to a directory with another keys/shipgate.key after
 *      sg_key_open_private("keys/shipgate.key"): the handle's key signs;
 *   3. a key opened by a relative path inside the workspace, then chdir() to where the
 *      same relative path is outside it: still refused (the check is on the file the
 *      handle was read from);
 *   4. sg_job_from_json with a relative base_dir, then chdir("/"): runs, its paths from
 *      the base_dir as it was when the handle was made;
 *   5. a config whose size was never set (memset to 0, then out_dir and on_event) or is
 *      smaller than any sg_run_config: refused with SG_ERR_USAGE naming `size`, nothing
 *      run, neither its out dir nor the default one written, no event; one of exactly
 *      SG_RUN_CONFIG_SIZE_V1 bytes (a program built against the first struct) runs with
 *      its out dir and its events.
 * nocrypto: run where libcrypto cannot be loaded: every call that needs it fails with an
 * error that says so, and the process lives on (the library never exits for its caller).
 * Prints TAP. Links libshipgate.so and sees only the public headers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <shipgate/shipgate.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_tests, n_failed;

static void ok(int cond, const char *what)
{
	n_tests++;
	if (!cond)
		n_failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n_tests, what);
}

static const char *dir_path(const char *dir, const char *rel)
{
	static char buf[8][PATH_MAX];
	static int next;
	char *out = buf[next++ % 8];
	if (snprintf(out, PATH_MAX, "%s/%s", dir, rel) >= PATH_MAX) {
		fprintf(stderr, "api_handles: %s/%s: too long\n", dir, rel);
		exit(2);
	}
	return out;
}

static void cd(const char *path)
{
	if (chdir(path) < 0) {
		perror(path);
		exit(2);
	}
}

typedef struct seen {
	char started_sha[80];
	int events;
} seen;

/* the job_started event's "sha256" */
static void on_event(void *ctx, sg_event_kind kind, const char *json, size_t len)
{
	seen *s = ctx;
	s->events++;
	const char key[] = "\"sha256\":\"";
	const char *p = kind == SG_EVENT_JOB_STARTED ? memmem(json, len, key, sizeof(key) - 1) : NULL;
	if (p)
		snprintf(s->started_sha, sizeof(s->started_sha), "%.64s", p + sizeof(key) - 1);
}

static sg_result_t *run(const sg_job_t *job, const sg_key_t *key, const char *out_dir, seen *s, sg_error *err)
{
	sg_run_config cfg = SG_RUN_CONFIG_INIT;
	cfg.out_dir = out_dir;
	cfg.allow_weaker = getenv("SHIPGATE_ALLOW_WEAKER") != NULL;
	cfg.on_event = s ? on_event : NULL;
	cfg.event_ctx = s;
	return sg_job_run(job, key, &cfg, err);
}

static bool statement_has(const sg_result_t *res, const char *needle)
{
	size_t len = 0;
	const char *st = res ? sg_result_get_statement(res, &len) : NULL;
	return st && memmem(st, len, needle, strlen(needle)) != NULL;
}

static int handles(const char *dir_arg)
{
	char dir[PATH_MAX];
	if (!realpath(dir_arg, dir)) {
		perror(dir_arg);
		return 2;
	}
	sg_error err = {0};
	sg_key_t *key_a = sg_key_open_private(dir_path(dir, "a/keys/shipgate.key"), &err);
	sg_key_t *pub_a = key_a ? sg_key_open_public(dir_path(dir, "a/keys/shipgate.pub"), &err) : NULL;
	if (!pub_a) {
		fprintf(stderr, "api_handles: %s\n", err.msg);
		return 2;
	}
	char want[PATH_MAX + 100];

	/* 1. the job file rewritten after it was opened */
	sg_job_t *job = sg_job_open(dir_path(dir, "proj/toc.json"), &err);
	if (!job) {
		fprintf(stderr, "api_handles: %s\n", err.msg);
		return 2;
	}
	char sha[80];
	snprintf(sha, sizeof(sha), "%s", sg_job_get_sha256(job));
	FILE *f = fopen(dir_path(dir, "proj/toc.json"), "w");
	if (!f) {
		perror("proj/toc.json");
		return 2;
	}
	fputs("{\"version\": 1, \"name\": \"swapped\", \"workspace\": \"ws\", \"steps\": [{\"name\": \"evil\", "
	      "\"run\": \"exit 7\"}]}\n", f);
	fclose(f);
	seen s = {{0}, 0};
	sg_result_t *res = run(job, key_a, dir_path(dir, "out-toc"), &s, &err);
	if (!res)
		printf("# toc: %s\n", err.msg);
	ok(res && sg_result_get_outcome(res) == SG_OUTCOME_PASSED && statement_has(res, "\"name\":\t\"t\"") &&
		   !statement_has(res, "evil"),
	   "a job file rewritten after sg_job_open: the handle's job runs (PASSED, its step)");
	snprintf(want, sizeof(want), "\"sha256\":\t\"%s\"", sha);
	ok(statement_has(res, want) && !strcmp(s.started_sha, sha),
	   "the statement and job_started carry the sha256 of the handle's bytes");
	sg_result_close(res);
	sg_job_close(job);

	/* 2. chdir() after opening a key by a relative path */
	job = sg_job_open(dir_path(dir, "proj/job.json"), &err);
	cd(dir_path(dir, "a"));
	sg_key_t *key_rel = sg_key_open_private("keys/shipgate.key", &err);
	cd(dir_path(dir, "b"));
	res = job && key_rel ? run(job, key_rel, dir_path(dir, "out-cwd"), NULL, &err) : NULL;
	if (!res)
		printf("# cwd: %s\n", err.msg);
	size_t len = 0;
	const char *env = res ? sg_result_get_envelope(res, &len) : NULL;
	sg_verified_t *v = env ? sg_verify_envelope(env, len, pub_a, &err) : NULL;
	if (res && !v)
		printf("# cwd: %s\n", err.msg);
	ok(v && !strcmp(sg_verified_get_keyid(v), sg_key_get_id(key_rel)),
	   "chdir() after sg_key_open_private(\"keys/shipgate.key\"): the handle's key signs");
	sg_verified_close(v);
	sg_result_close(res);
	sg_key_close(key_rel);

	/* 3. a key inside the workspace, opened by a relative path, then chdir() */
	cd(dir_path(dir, "proj/ws"));
	sg_key_t *leaked = sg_key_open_private("leak/shipgate.key", &err);
	cd(dir); /* where leak/shipgate.key is outside the workspace */
	sg_error rerr = {0};
	res = job && leaked ? run(job, leaked, dir_path(dir, "out-leak"), NULL, &rerr) : NULL;
	printf("# leak: %s\n", res ? "it ran" : rerr.msg);
	ok(leaked && !res && rerr.kind == SG_ERR_USAGE && strstr(rerr.msg, "workspace"),
	   "a key opened inside the workspace is refused after a chdir() (checked where it was read)");
	sg_result_close(res);
	sg_key_close(leaked);
	sg_job_close(job);

	/* 4. a job from JSON text with a relative base_dir, run from elsewhere */
	static const char text[] = "{\"version\": 1, \"name\": \"inline\", \"workspace\": \"ws\","
				   " \"limits\": {\"memory_mb\": 128, \"pids\": 32},"
				   " \"steps\": [{\"name\": \"t\", \"run\": [\"true\"]}]}";
	cd(dir);
	job = sg_job_from_json(text, strlen(text), "proj", &err);
	cd("/");
	res = job ? run(job, key_a, dir_path(dir, "out-inline"), NULL, &err) : NULL;
	if (!res)
		printf("# inline: %s\n", err.msg);
	snprintf(want, sizeof(want), "\"path\":\t\"%s/proj/<inline job>\"", dir);
	ok(res && sg_result_get_outcome(res) == SG_OUTCOME_PASSED && statement_has(res, want),
	   "sg_job_from_json(\"proj\"), then chdir(\"/\"): runs, BASE_DIR as it was at open");
	sg_result_close(res);
	sg_job_close(job);

	/* 5. the config's size */
	job = sg_job_open(dir_path(dir, "proj/job.json"), &err);
	static const size_t bad_sizes[] = {0, 1, SG_RUN_CONFIG_SIZE_V1 - 1};
	for (size_t i = 0; job && i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		sg_run_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.size = bad_sizes[i];
		cfg.out_dir = dir_path(dir, "out-nosize");
		cfg.on_event = on_event;
		seen s5 = {{0}, 0};
		cfg.event_ctx = &s5;
		sg_error cerr = {0};
		res = sg_job_run(job, key_a, &cfg, &cerr);
		printf("# size %zu: %s\n", bad_sizes[i], res ? "it ran" : cerr.msg);
		char what[200];
		snprintf(what, sizeof(what),
			 "cfg.size = %zu: SG_ERR_USAGE naming `size`, nothing run, no out dir, no event",
			 bad_sizes[i]);
		ok(!res && cerr.kind == SG_ERR_USAGE && strstr(cerr.msg, "size") &&
			   access(dir_path(dir, "out-nosize"), F_OK) < 0 &&
			   access(dir_path(dir, "proj/shipgate-out"), F_OK) < 0 && s5.events == 0,
		   what);
		sg_result_close(res);
	}
	if (job) {
		/* the first struct of API version 1: everything through event_ctx */
		sg_run_config cfg = SG_RUN_CONFIG_INIT;
		cfg.size = SG_RUN_CONFIG_SIZE_V1;
		cfg.out_dir = dir_path(dir, "out-v1");
		cfg.allow_weaker = getenv("SHIPGATE_ALLOW_WEAKER") != NULL;
		cfg.on_event = on_event;
		seen s5 = {{0}, 0};
		cfg.event_ctx = &s5;
		res = sg_job_run(job, key_a, &cfg, &err);
		if (!res)
			printf("# size v1: %s\n", err.msg);
		ok(res && sg_result_get_outcome(res) == SG_OUTCOME_PASSED && s5.events > 0 &&
			   !strcmp(sg_result_get_out_dir(res), dir_path(dir, "out-v1")),
		   "cfg.size = SG_RUN_CONFIG_SIZE_V1: runs, in its out dir, with its events");
		sg_result_close(res);
	}
	sg_job_close(job);

	sg_key_close(pub_a);
	sg_key_close(key_a);
	return 0;
}

/* Each call must fail, say why, and return. */
static void refused(const void *handle, const sg_error *err, const char *call)
{
	char what[200];
	snprintf(what, sizeof(what), "without libcrypto, %s fails and says why", call);
	if (handle || !strstr(err->msg, "libcrypto"))
		printf("# %s: %s\n", call, handle ? "succeeded" : err->msg);
	ok(!handle && strstr(err->msg, "libcrypto") != NULL, what);
}

static int nocrypto(char **argv)
{
	sg_error err = {0};
	sg_key_t *k = sg_key_open_private(argv[0], &err);
	refused(k, &err, "sg_key_open_private");
	sg_error_clear(&err);
	k = sg_key_open_public(argv[1], &err);
	refused(k, &err, "sg_key_open_public");
	sg_error_clear(&err);
	k = sg_key_open_default(false, &err);
	refused(k, &err, "sg_key_open_default");
	sg_error_clear(&err);
	/* a job's digest is shipgate's own SHA-256: opening one needs no libcrypto */
	sg_job_t *j = sg_job_open(argv[2], &err);
	ok(j != NULL, "without libcrypto, sg_job_open still opens a job (its digest needs none)");
	if (!j)
		printf("# sg_job_open: %s\n", err.msg);
	sg_job_close(j);
	sg_error_clear(&err);
	static const char text[] = "{\"version\": 1, \"name\": \"x\", \"steps\": [{\"name\": \"t\", \"run\": \"true\"}]}";
	j = sg_job_from_json(text, strlen(text), "/", &err);
	ok(j != NULL, "without libcrypto, so does sg_job_from_json");
	sg_job_close(j);
	ok(1, "the process is still running");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rc;
	if (argc == 3 && !strcmp(argv[1], "handles"))
		rc = handles(argv[2]);
	else if (argc == 5 && !strcmp(argv[1], "nocrypto"))
		rc = nocrypto(argv + 2);
	else {
		fprintf(stderr, "usage: %s handles DIR | nocrypto KEY PUB JOB\n", argv[0]);
		return 2;
	}
	printf("1..%d\n", n_tests);
	return rc ? rc : n_failed ? 1 : 0;
}
