/* test_service.c: the service step's readiness and probe logic, driven with fake replies
 * from init (no sandbox needed). */
#include "service.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char check_arg[] = "check";
static char *run_ok[] = {check_arg, NULL};

static sg_probe_spec probe_run(const char *name, int want_exit, const char *contains, const char *matches)
{
	sg_probe_spec p = {0};
	p.name = (char *)name;
	p.argv = run_ok;
	p.expect.has_exit = want_exit >= 0;
	p.expect.exit_code = want_exit >= 0 ? want_exit : 0;
	p.expect.stdout_contains = (char *)contains;
	p.expect.stdout_matches = (char *)matches;
	p.timeout_s = 5;
	return p;
}

static struct sg_ctl_msg run_result(int exit_code, size_t out_len)
{
	struct sg_ctl_msg m = {.type = SG_CTL_RUN_RESULT};
	m.status = (exit_code & 0xff) << 8; /* as wait(2) encodes an exit */
	m.out_len = (uint32_t)out_len;
	return m;
}

static void test_tcp_ready_then_probes(void)
{
	sg_probe_spec probes[2] = {probe_run("health", 0, "ok", NULL), probe_run("version", -1, NULL, "^v[0-9]+\\.")};
	sg_service_spec spec = {.ready = {.tcp_port = 8080, .timeout_s = 10}, .probes = probes, .n_probes = 2,
				.stop_grace_s = 5};
	sg_service_run sr;
	sg_service_run_init(&sr, &spec);
	sg_service_driver d = sg_service_run_driver(&sr);
	struct sg_ctl_msg req = {0};
	char payload[SG_CTL_PAYLOAD_MAX];
	size_t len = 0;
	uint64_t wake = 0;

	tap_is_int(d.next(d.ctx, 1000, &req, payload, &len, &wake), 1, "first request is sent");
	tap_is_int(req.type, SG_CTL_TCP_CHECK, "readiness by TCP");
	tap_is_int(req.port, 8080, "on the job's port");
	struct sg_ctl_msg refused = {.type = SG_CTL_TCP_RESULT, .status = 0, .errnum = 111};
	d.reply(d.ctx, 1005, &refused, NULL, 0);
	memset(&req, 0, sizeof(req));
	tap_is_int(d.next(d.ctx, 1006, &req, payload, &len, &wake), 0, "backs off after a refusal");
	TAP_OK(wake > 1006 && wake <= 1005 + 20);
	tap_is_int(d.next(d.ctx, wake, &req, payload, &len, &wake), 1, "tries again after the backoff");
	struct sg_ctl_msg accepted = {.type = SG_CTL_TCP_RESULT, .status = 1};
	d.reply(d.ctx, 1100, &accepted, NULL, 0);
	TAP_OK(sr.ready);
	tap_is_int((long long)sr.ready_ms, 100, "ready_ms counts from the start");

	memset(&req, 0, sizeof(req));
	len = 0;
	tap_is_int(d.next(d.ctx, 1101, &req, payload, &len, &wake), 1, "first probe");
	tap_is_int(req.type, SG_CTL_RUN, "a command probe is a RUN");
	tap_is_str(payload, "check", "its argv is packed NUL-separated");
	struct sg_ctl_msg r1 = run_result(0, 3);
	d.reply(d.ctx, 1150, &r1, "ok\nerr", 6);
	tap_is_int(d.next(d.ctx, 1151, &req, payload, &len, &wake), 1, "second probe");
	struct sg_ctl_msg r2 = run_result(0, 6);
	d.reply(d.ctx, 1160, &r2, "v1.2.3", 6);
	tap_is_int(d.next(d.ctx, 1161, &req, payload, &len, &wake), -1, "done after the last probe");
	/* then shipgate stops it: that end is ours, not the service exiting early */
	d.exited(d.ctx, 1200);
	tap_ok(!sr.exited_early, "the end after the last probe (our stop) is not an early exit");
	char *why = NULL;
	tap_is_int(sg_service_run_status(&sr, &why), SG_STEP_PASSED, "all probes passed");
	TAP_OK(why == NULL);
	sg_service_run_free(&sr);
}

static void test_probe_failures(void)
{
	sg_probe_spec probes[3] = {probe_run("exit", 0, NULL, NULL), probe_run("contains", 0, "ok", NULL),
				   probe_run("regex", 0, NULL, "^[0-9]+$")};
	sg_service_spec spec = {.ready = {.tcp_port = 1, .timeout_s = 1}, .probes = probes, .n_probes = 3};
	sg_service_run sr;
	sg_service_run_init(&sr, &spec);
	sg_service_driver d = sg_service_run_driver(&sr);
	struct sg_ctl_msg req;
	char payload[SG_CTL_PAYLOAD_MAX];
	size_t len = 0;
	uint64_t wake = 0;
	d.next(d.ctx, 0, &req, payload, &len, &wake);
	struct sg_ctl_msg accepted = {.type = SG_CTL_TCP_RESULT, .status = 1};
	d.reply(d.ctx, 1, &accepted, NULL, 0);
	d.next(d.ctx, 2, &req, payload, &len, &wake);
	struct sg_ctl_msg r1 = run_result(2, 0);
	d.reply(d.ctx, 3, &r1, "", 0);
	d.next(d.ctx, 4, &req, payload, &len, &wake);
	struct sg_ctl_msg r2 = run_result(0, 5);
	d.reply(d.ctx, 5, &r2, "nope\n", 5);
	d.next(d.ctx, 6, &req, payload, &len, &wake);
	struct sg_ctl_msg r3 = run_result(0, 4);
	d.reply(d.ctx, 7, &r3, "12a\n", 4);
	tap_is_str(sr.probes[0].reason, "exit code 2, expected 0", "an exit code mismatch is explained");
	tap_is_str(sr.probes[1].reason, "output does not contain \"ok\"", "a missing string is explained");
	tap_is_str(sr.probes[2].reason, "output does not match /^[0-9]+$/", "a regex mismatch is explained");
	char *why = NULL;
	tap_is_int(sg_service_run_status(&sr, &why), SG_STEP_PROBE_FAILED, "probe_failed");
	tap_is_str(why, "probe 'exit' failed: exit code 2, expected 0", "the first failing probe is the reason");
	free(why);
	sg_service_run_free(&sr);
}

/* stdout_matches works line by line, as grep -E: "^5$" matches the body "5\n", and a
 * line of the output is enough */
static void test_regex_lines(void)
{
	sg_probe_spec probes[3] = {probe_run("nl", 0, NULL, "^5$"), probe_run("second", 0, NULL, "^total: [0-9]+$"),
				   probe_run("whole", 0, NULL, "^5$")};
	sg_service_spec spec = {.ready = {.tcp_port = 1, .timeout_s = 1}, .probes = probes, .n_probes = 3};
	sg_service_run sr;
	sg_service_run_init(&sr, &spec);
	sg_service_driver d = sg_service_run_driver(&sr);
	struct sg_ctl_msg req;
	char payload[SG_CTL_PAYLOAD_MAX];
	size_t len = 0;
	uint64_t wake = 0;
	d.next(d.ctx, 0, &req, payload, &len, &wake);
	struct sg_ctl_msg accepted = {.type = SG_CTL_TCP_RESULT, .status = 1};
	d.reply(d.ctx, 1, &accepted, NULL, 0);
	d.next(d.ctx, 2, &req, payload, &len, &wake);
	struct sg_ctl_msg r1 = run_result(0, 2);
	d.reply(d.ctx, 3, &r1, "5\n", 2);
	d.next(d.ctx, 4, &req, payload, &len, &wake);
	struct sg_ctl_msg r2 = run_result(0, 14);
	d.reply(d.ctx, 5, &r2, "a\ntotal: 12\nb\n", 14);
	d.next(d.ctx, 6, &req, payload, &len, &wake);
	struct sg_ctl_msg r3 = run_result(0, 3);
	d.reply(d.ctx, 7, &r3, "15\n", 3);
	tap_ok(sr.probes[0].passed, "^5$ matches the output \"5\\n\" (the newline ends a line)");
	tap_ok(sr.probes[1].passed, "^...$ matches a line in the middle of the output");
	tap_is_str(sr.probes[2].reason, "output does not match /^5$/", "^5$ does not match \"15\\n\"");
	sg_service_run_free(&sr);
}

/* a reply that says the service had already ended: the probes after it are not run, and
 * the service counts as having exited early (its exit status then goes into the reason) */
static void test_command_gone(void)
{
	sg_probe_spec probes[3] = {probe_run("first", 0, NULL, NULL), probe_run("second", 0, NULL, NULL),
				   probe_run("third", 0, NULL, NULL)};
	sg_service_spec spec = {.ready = {.tcp_port = 1, .timeout_s = 1}, .probes = probes, .n_probes = 3};
	sg_service_run sr;
	sg_service_run_init(&sr, &spec);
	sg_service_driver d = sg_service_run_driver(&sr);
	struct sg_ctl_msg req;
	char payload[SG_CTL_PAYLOAD_MAX];
	size_t len = 0;
	uint64_t wake = 0;
	d.next(d.ctx, 0, &req, payload, &len, &wake);
	struct sg_ctl_msg accepted = {.type = SG_CTL_TCP_RESULT, .status = 1};
	d.reply(d.ctx, 1, &accepted, NULL, 0);
	d.next(d.ctx, 2, &req, payload, &len, &wake);
	struct sg_ctl_msg r1 = run_result(0, 0);
	d.reply(d.ctx, 3, &r1, "", 0);
	d.next(d.ctx, 4, &req, payload, &len, &wake);
	struct sg_ctl_msg r2 = run_result(1, 0);
	r2.flags |= SG_CTL_COMMAND_GONE;
	d.reply(d.ctx, 5, &r2, "", 0);
	tap_is_int(d.next(d.ctx, 6, &req, payload, &len, &wake), -1, "gone: no more requests");
	TAP_OK(sr.exited_early);
	tap_ok(sr.probes[0].passed && !sr.probes[1].passed && !sr.probes[2].ran,
	       "gone: the first probe passed, the second failed, the third never ran");
	tap_is_str(sr.probes[2].reason, "not run: the service exited during the probes", "gone: why the third did not run");
	char *why = NULL;
	tap_is_int(sg_service_run_status(&sr, &why), SG_STEP_PROBE_FAILED, "gone: probe_failed");
	free(why);
	sg_service_run_free(&sr);

	/* gone during readiness: not_ready at once, not at the deadline */
	sg_service_run_init(&sr, &spec);
	d = sg_service_run_driver(&sr);
	d.next(d.ctx, 0, &req, payload, &len, &wake);
	struct sg_ctl_msg refused = {.type = SG_CTL_TCP_RESULT, .errnum = ECONNREFUSED, .flags = SG_CTL_COMMAND_GONE};
	d.reply(d.ctx, 1, &refused, NULL, 0);
	tap_is_int(d.next(d.ctx, 2, &req, payload, &len, &wake), -1, "gone before ready: no more attempts");
	tap_is_int(sg_service_run_status(&sr, &why), SG_STEP_NOT_READY, "gone before ready: not_ready");
	tap_is_str(why, "the service exited before it was ready", "gone before ready: the reason");
	free(why);
	sg_service_run_free(&sr);
}

static void test_not_ready(void)
{
	sg_service_spec spec = {.ready = {.tcp_port = 9, .timeout_s = 2}};
	sg_service_run sr;
	sg_service_run_init(&sr, &spec);
	sg_service_driver d = sg_service_run_driver(&sr);
	struct sg_ctl_msg req;
	char payload[SG_CTL_PAYLOAD_MAX];
	size_t len = 0;
	uint64_t wake = 0;
	d.next(d.ctx, 0, &req, payload, &len, &wake);
	struct sg_ctl_msg refused = {.type = SG_CTL_TCP_RESULT, .errnum = 111};
	d.reply(d.ctx, 10, &refused, NULL, 0);
	tap_is_int(d.next(d.ctx, 2001, &req, payload, &len, &wake), -1, "gives up at the deadline");
	char *why = NULL;
	tap_is_int(sg_service_run_status(&sr, &why), SG_STEP_NOT_READY, "not_ready");
	TAP_OK(why && strstr(why, "not ready after 2 s") && strstr(why, "Connection refused"));
	free(why);
	sg_service_run_free(&sr);

	sg_service_run_init(&sr, &spec);
	d = sg_service_run_driver(&sr);
	d.next(d.ctx, 0, &req, payload, &len, &wake);
	d.exited(d.ctx, 5);
	tap_is_int(sg_service_run_status(&sr, &why), SG_STEP_NOT_READY, "exiting before ready is not_ready");
	tap_is_str(why, "the service exited before it was ready", "and says so");
	free(why);
	sg_service_run_free(&sr);
}

static void test_http(void)
{
	uint32_t port = 0;
	const char *path = NULL;
	tap_is_int(sg_service_parse_url("http://127.0.0.1:8080/health", &port, &path), 0, "URL parses");
	tap_is_int(port, 8080, "port");
	tap_is_str(path, "/health", "path");
	tap_is_int(sg_service_parse_url("http://localhost:99", &port, &path), 0, "localhost without path");
	tap_is_str(path, "/", "path defaults to /");
	TAP_OK(sg_service_parse_url("http://example.com:80/", &port, &path) < 0);
	TAP_OK(sg_service_parse_url("http://127.0.0.1:70000/", &port, &path) < 0);

	sg_probe_spec probe = {.name = (char *)"page", .http_get = (char *)"http://127.0.0.1:8080/x",
			       .expect = {.http_status = 404}};
	sg_service_spec spec = {.ready = {.http_get = (char *)"http://127.0.0.1:8080/ready", .timeout_s = 5},
				.probes = &probe, .n_probes = 1};
	sg_service_run sr;
	sg_service_run_init(&sr, &spec);
	sg_service_driver d = sg_service_run_driver(&sr);
	struct sg_ctl_msg req = {0};
	char payload[SG_CTL_PAYLOAD_MAX];
	size_t len = 0;
	uint64_t wake = 0;
	d.next(d.ctx, 0, &req, payload, &len, &wake);
	tap_is_int(req.type, SG_CTL_HTTP_GET, "readiness by HTTP");
	tap_is_str(payload, "/ready", "GETs the ready path");
	struct sg_ctl_msg s503 = {.type = SG_CTL_HTTP_RESULT, .status = 503};
	d.reply(d.ctx, 1, &s503, "", 0);
	TAP_OK(!sr.ready);
	struct sg_ctl_msg s200 = {.type = SG_CTL_HTTP_RESULT, .status = 200};
	d.next(d.ctx, 100, &req, payload, &len, &wake);
	d.reply(d.ctx, 101, &s200, "", 0);
	TAP_OK(sr.ready);
	d.next(d.ctx, 102, &req, payload, &len, &wake);
	struct sg_ctl_msg s200b = {.type = SG_CTL_HTTP_RESULT, .status = 200};
	d.reply(d.ctx, 103, &s200b, "hi", 2);
	tap_is_str(sr.probes[0].reason, "HTTP status 200, expected 404", "an HTTP status mismatch is explained");
	sg_service_run_free(&sr);
}

int main(void)
{
	test_tcp_ready_then_probes();
	test_probe_failures();
	test_regex_lines();
	test_command_gone();
	test_not_ready();
	test_http();
	return tap_done();
}
