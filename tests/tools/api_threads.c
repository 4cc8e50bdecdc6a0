/* api_threads.c: libshipgate from several threads at once (tests/integration/test_api.sh).
 *
 *     api_threads KEY PUB JOB_A JOB_B SLOW_JOB
 *
 * 1. JOB_A and JOB_B run at the same time in two threads; both must PASS, their
 *    envelopes must verify, each thread must see only its own job's events, and the two
 *    runs must overlap in time (else the test proves nothing about concurrency).
 * 2. SLOW_JOB (a step that sleeps far longer than the test waits) is stopped through the
 *    interrupt flag from another thread: the result is ERROR, interrupted, within
 *    seconds, and the sandbox is gone (the library kills it; test_api.sh checks the
 *    processes).
 * Prints TAP. Links libshipgate.so. */
#include <shipgate/shipgate.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int n_tests, n_failed;

static void ok(int cond, const char *what)
{
	n_tests++;
	if (!cond)
		n_failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n_tests, what);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct job_thread {
	const char *job_path;
	const sg_key_t *key, *pub;
	const char *name;      /* the job's name: every event must carry it */
	int events, foreign_events, verdict_events;
	double started, finished;
	sg_outcome outcome;
	bool verified;
	bool interrupted;
	volatile int *flag;
	char error[1100];
} job_thread;

static void on_event(void *ctx, sg_event_kind kind, const char *json, size_t len)
{
	job_thread *t = ctx;
	t->events++;
	char want[300];
	snprintf(want, sizeof(want), "\"job\":\"%s\"", t->name);
	char *copy = strndup(json, len);
	if (!strstr(copy, want))
		t->foreign_events++;
	free(copy);
	if (kind == SG_EVENT_VERDICT_WRITTEN)
		t->verdict_events++;
}

static void *run_thread(void *arg)
{
	job_thread *t = arg;
	sg_error err = {0};
	sg_job_t *job = sg_job_open(t->job_path, &err);
	if (!job) {
		snprintf(t->error, sizeof(t->error), "%s", err.msg);
		return NULL;
	}
	t->name = sg_job_get_name(job);
	sg_run_config cfg = SG_RUN_CONFIG_INIT;
	cfg.on_event = on_event;
	cfg.event_ctx = t;
	cfg.interrupted = t->flag;
	cfg.allow_weaker = getenv("SHIPGATE_ALLOW_WEAKER") != NULL;
	t->started = now_s();
	sg_result_t *res = sg_job_run(job, t->key, &cfg, &err);
	t->finished = now_s();
	if (!res) {
		snprintf(t->error, sizeof(t->error), "%s", err.msg);
		sg_job_close(job);
		return NULL;
	}
	t->outcome = sg_result_get_outcome(res);
	t->interrupted = sg_result_get_interrupted(res);
	size_t len;
	const char *env = sg_result_get_envelope(res, &len);
	sg_verified_t *v = sg_verify_envelope(env, len, t->pub, &err);
	t->verified = v && !strcmp(sg_verified_get_result(v), t->outcome == SG_OUTCOME_PASSED ? "PASSED"
									   : t->outcome == SG_OUTCOME_FAILED ? "FAILED"
														: "ERROR");
	if (!v)
		snprintf(t->error, sizeof(t->error), "verify: %s", err.msg);
	/* what was verified is what was written: the signed payload is statement.json */
	size_t st_len = 0, vst_len = 0;
	const char *st = sg_result_get_statement(res, &st_len);
	const char *vst = v ? sg_verified_get_statement(v, &vst_len) : NULL;
	if (v && (st_len != vst_len || memcmp(st, vst, st_len) != 0)) {
		t->verified = false;
		snprintf(t->error, sizeof(t->error), "the verified statement is not the statement written");
	}
	sg_verified_close(v);
	sg_result_close(res);
	sg_job_close(job);
	return NULL;
}

typedef struct raiser {
	volatile int *flag;
	unsigned delay_ms;
} raiser;

static void *raise_later(void *arg)
{
	raiser *r = arg;
	usleep(r->delay_ms * 1000);
	*r->flag = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s KEY PUB JOB_A JOB_B SLOW_JOB\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sg_error err = {0};
	sg_key_t *key = sg_key_open_private(argv[1], &err);
	sg_key_t *pub = key ? sg_key_open_public(argv[2], &err) : NULL;
	if (!pub) {
		fprintf(stderr, "api_threads: %s\n", err.msg);
		return 2;
	}
	printf("1..11\n");
	job_thread a = {.job_path = argv[3], .key = key, .pub = pub};
	job_thread b = {.job_path = argv[4], .key = key, .pub = pub};
	pthread_t ta, tb;
	pthread_create(&ta, NULL, run_thread, &a);
	pthread_create(&tb, NULL, run_thread, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (a.error[0])
		printf("# A: %s\n", a.error);
	if (b.error[0])
		printf("# B: %s\n", b.error);
	ok(a.outcome == SG_OUTCOME_PASSED && a.verified && !a.error[0], "thread A: PASSED, envelope verifies");
	ok(b.outcome == SG_OUTCOME_PASSED && b.verified && !b.error[0], "thread B: PASSED, envelope verifies");
	printf("# A ran %.2f..%.2f s, B %.2f..%.2f s\n", a.started - a.started, a.finished - a.started,
	       b.started - a.started, b.finished - a.started);
	ok(a.started < b.finished && b.started < a.finished, "the two runs overlapped in time");
	ok(a.events > 5 && b.events > 5 && a.verdict_events == 1 && b.verdict_events == 1,
	   "each thread got its own job's events, one verdict_written each");
	ok(a.foreign_events == 0 && b.foreign_events == 0, "no thread saw the other job's events");

	volatile int flag = 0;
	job_thread s = {.job_path = argv[5], .key = key, .pub = pub, .flag = &flag};
	raiser r = {.flag = &flag, .delay_ms = 1500};
	pthread_t ts, tr;
	pthread_create(&ts, NULL, run_thread, &s);
	pthread_create(&tr, NULL, raise_later, &r);
	pthread_join(tr, NULL);
	double raised = now_s();
	pthread_join(ts, NULL);
	if (s.error[0])
		printf("# slow: %s\n", s.error);
	printf("# the slow job ended %.2f s after the flag was raised\n", s.finished - raised);
	ok(s.outcome == SG_OUTCOME_ERROR && s.interrupted, "the interrupt flag stops a running step: ERROR, interrupted");
	ok(s.finished - raised < 2.0, "within 2 s of the flag");
	ok(s.verified, "the interrupted run's verdict is signed and verifies");
	ok(sg_api_version() == SHIPGATE_API_VERSION, "sg_api_version() is SHIPGATE_API_VERSION");

	/* a job made from JSON text, its paths relative to a base dir (JOB_A's) */
	char base[4096];
	snprintf(base, sizeof(base), "%s", argv[3]);
	char *slash = strrchr(base, '/');
	if (slash)
		*slash = '\0';
	static const char text[] = "{\"version\": 1, \"name\": \"inline\", \"workspace\": \"calc\","
				   " \"limits\": {\"memory_mb\": 128, \"pids\": 32},"
				   " \"steps\": [{\"name\": \"t\", \"run\": [\"true\"]}]}";
	sg_job_t *ij = sg_job_from_json(text, strlen(text), base, &err);
	char out[4200];
	snprintf(out, sizeof(out), "%s/inline-out", base);
	sg_run_config cfg = SG_RUN_CONFIG_INIT;
	cfg.out_dir = out;
	cfg.allow_weaker = getenv("SHIPGATE_ALLOW_WEAKER") != NULL;
	sg_result_t *ir = ij ? sg_job_run(ij, key, &cfg, &err) : NULL;
	if (!ir)
		printf("# inline: %s\n", err.msg);
	size_t ilen = 0;
	const char *ist = ir ? sg_result_get_statement(ir, &ilen) : NULL;
	ok(ir && sg_result_get_outcome(ir) == SG_OUTCOME_PASSED && !strcmp(sg_result_get_out_dir(ir), out),
	   "a job from JSON text runs (PASSED, in the out dir asked for)");
	ok(ist && strstr(ist, "<inline job>") && strstr(ist, "\"inline\""),
	   "its statement names it BASE/<inline job>");
	sg_result_close(ir);
	sg_job_close(ij);
	sg_key_close(pub);
	sg_key_close(key);
	return n_failed ? 1 : 0;
}
