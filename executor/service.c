/* service.c: a service step's readiness and probes (see service.h). */
#include "service.h"
#include "util.h"

#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

#define SG_PROBE_OUTPUT_MAX 2048
#define SG_READY_BACKOFF_START_MS 20
#define SG_READY_BACKOFF_MAX_MS 500

int sg_service_parse_url(const char *url, uint32_t *port, const char **path)
{
	const char *p = NULL;
	if (!strncmp(url, "http://127.0.0.1:", 17))
		p = url + 17;
	else if (!strncmp(url, "http://localhost:", 17))
		p = url + 17;
	if (!p)
		return -1;
	unsigned long v = 0;
	const char *q = p;
	while (*q >= '0' && *q <= '9' && v <= 65535)
		v = v * 10 + (unsigned long)(*q++ - '0');
	if (q == p || v == 0 || v > 65535 || (*q != '\0' && *q != '/'))
		return -1;
	*port = (uint32_t)v;
	*path = *q ? q : "/";
	return 0;
}

void sg_service_run_init(sg_service_run *sr, const sg_service_spec *spec)
{
	memset(sr, 0, sizeof(*sr));
	sr->spec = spec;
	sr->n_probes = spec->n_probes;
	sr->probes = sg_xcalloc(spec->n_probes ? spec->n_probes : 1, sizeof(*sr->probes));
	for (size_t i = 0; i < spec->n_probes; i++) {
		sr->probes[i].name = sg_xstrdup(spec->probes[i].name);
		sr->probes[i].exit_code = -1;
	}
}

void sg_service_run_free(sg_service_run *sr)
{
	for (size_t i = 0; i < sr->n_probes; i++) {
		free(sr->probes[i].name);
		free(sr->probes[i].output);
		free(sr->probes[i].reason);
	}
	free(sr->probes);
	free(sr->not_ready_reason);
	memset(sr, 0, sizeof(*sr));
}

/* argv as NUL-separated bytes for SG_CTL_RUN. */
static size_t pack_argv(char *const *argv, char *out, size_t cap)
{
	size_t len = 0;
	for (size_t i = 0; argv && argv[i]; i++) {
		size_t l = strlen(argv[i]) + 1;
		if (len + l > cap)
			break;
		memcpy(out + len, argv[i], l);
		len += l;
	}
	return len;
}

static void fail_ready(sg_service_run *sr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_ready(sg_service_run *sr, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(sr->not_ready_reason);
	if (vasprintf(&sr->not_ready_reason, fmt, ap) < 0)
		sr->not_ready_reason = NULL;
	va_end(ap);
	sr->phase = SG_SVC_DONE;
}

static void fail_probe(sg_probe_result *pr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_probe(sg_probe_result *pr, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(pr->reason);
	if (vasprintf(&pr->reason, fmt, ap) < 0)
		pr->reason = NULL;
	va_end(ap);
	pr->passed = false;
}

static int next_ready(sg_service_run *sr, uint64_t now, struct sg_ctl_msg *req, char *payload,
		      size_t *len)
{
	const sg_ready_spec *rs = &sr->spec->ready;
	uint64_t left = sr->deadline_ms > now ? sr->deadline_ms - now : 0;
	if (left == 0) {
		fail_ready(sr, "not ready after %llu s (%u attempts; last: %s)",
			   (unsigned long long)rs->timeout_s, sr->attempts,
			   sr->last_error[0] ? sr->last_error : "no answer");
		return -1;
	}
	uint32_t attempt_ms = left < 2000 ? (uint32_t)left : 2000;
	sr->attempts++;
	if (rs->tcp_port) {
		req->type = SG_CTL_TCP_CHECK;
		req->port = (uint32_t)rs->tcp_port;
		req->timeout_ms = attempt_ms < 500 ? attempt_ms : 500;
	} else if (rs->http_get) {
		const char *path;
		if (sg_service_parse_url(rs->http_get, &req->port, &path) < 0) {
			fail_ready(sr, "ready.http: cannot use %s", rs->http_get);
			return -1;
		}
		req->type = SG_CTL_HTTP_GET;
		req->timeout_ms = attempt_ms;
		*len = strlen(path) + 1;
		memcpy(payload, path, *len);
	} else {
		req->type = SG_CTL_RUN;
		req->timeout_ms = (uint32_t)(left < 10000 ? left : 10000);
		*len = pack_argv(rs->argv, payload, SG_CTL_PAYLOAD_MAX);
	}
	return 1;
}

static int next_probe(sg_service_run *sr, struct sg_ctl_msg *req, char *payload, size_t *len)
{
	if (sr->probe_index >= sr->n_probes) {
		sr->phase = SG_SVC_DONE;
		return -1;
	}
	const sg_probe_spec *ps = &sr->spec->probes[sr->probe_index];
	uint64_t t = ps->timeout_s ? ps->timeout_s * 1000 : 10000;
	req->timeout_ms = (uint32_t)(t > 3600000 ? 3600000 : t);
	if (ps->http_get) {
		const char *path;
		if (sg_service_parse_url(ps->http_get, &req->port, &path) < 0) {
			fail_probe(&sr->probes[sr->probe_index], "cannot use %s", ps->http_get);
			sr->probe_index++;
			return next_probe(sr, req, payload, len);
		}
		req->type = SG_CTL_HTTP_GET;
		*len = strlen(path) + 1;
		memcpy(payload, path, *len);
	} else {
		req->type = SG_CTL_RUN;
		*len = pack_argv(ps->argv, payload, SG_CTL_PAYLOAD_MAX);
	}
	return 1;
}

static int driver_next(void *ctx, uint64_t now, struct sg_ctl_msg *req, char *payload, size_t *len,
		       uint64_t *wake)
{
	sg_service_run *sr = ctx;
	if (!sr->started) {
		sr->started = true;
		sr->start_ms = now;
		sr->deadline_ms = now + (sr->spec->ready.timeout_s ? sr->spec->ready.timeout_s : 10) * 1000;
		sr->backoff_ms = SG_READY_BACKOFF_START_MS;
	}
	if (sr->wake_ms && now < sr->wake_ms) {
		*wake = sr->wake_ms < sr->deadline_ms || sr->phase != SG_SVC_READY ? sr->wake_ms : sr->deadline_ms;
		return 0;
	}
	sr->wake_ms = 0;
	switch (sr->phase) {
	case SG_SVC_READY:
		return next_ready(sr, now, req, payload, len);
	case SG_SVC_PROBES:
		return next_probe(sr, req, payload, len);
	case SG_SVC_DONE:
	default:
		return -1;
	}
}

static bool is_2xx(int status)
{
	return status >= 200 && status < 300;
}

static void ready_reply(sg_service_run *sr, uint64_t now, const struct sg_ctl_msg *m)
{
	bool ok = false;
	switch (m->type) {
	case SG_CTL_TCP_RESULT:
		ok = m->status == 1;
		if (!ok)
			snprintf(sr->last_error, sizeof(sr->last_error), "connect to port %d: %s",
				 sr->spec->ready.tcp_port, strerror(m->errnum ? m->errnum : ECONNREFUSED));
		break;
	case SG_CTL_HTTP_RESULT:
		ok = is_2xx(m->status);
		if (!ok && m->status)
			snprintf(sr->last_error, sizeof(sr->last_error), "GET %s: HTTP %d", sr->spec->ready.http_get,
				 m->status);
		else if (!ok)
			snprintf(sr->last_error, sizeof(sr->last_error), "GET %s: %s", sr->spec->ready.http_get,
				 strerror(m->errnum ? m->errnum : ECONNREFUSED));
		break;
	case SG_CTL_RUN_RESULT:
		ok = !(m->flags & (SG_CTL_NOT_STARTED | SG_CTL_TIMED_OUT)) && WIFEXITED(m->status) &&
		     WEXITSTATUS(m->status) == 0;
		if (!ok)
			snprintf(sr->last_error, sizeof(sr->last_error), "ready command %s",
				 m->flags & SG_CTL_NOT_STARTED ? "could not start"
				 : m->flags & SG_CTL_TIMED_OUT ? "timed out"
							       : "did not exit 0");
		break;
	default:
		return;
	}
	if (ok) {
		sr->ready = true;
		sr->ready_ms = now - sr->start_ms;
		sr->phase = SG_SVC_PROBES;
		return;
	}
	sr->wake_ms = now + sr->backoff_ms;
	sr->backoff_ms = sr->backoff_ms * 2 > SG_READY_BACKOFF_MAX_MS ? SG_READY_BACKOFF_MAX_MS : sr->backoff_ms * 2;
}

static char *copy_output(const char *data, size_t len)
{
	size_t n = len < SG_PROBE_OUTPUT_MAX ? len : SG_PROBE_OUTPUT_MAX;
	char *s = sg_xmalloc(n + 1);
	memcpy(s, data, n);
	s[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0')
			s[i] = ' ';
	return s;
}

/* Check stdout_contains and stdout_matches against output (len bytes, may hold NULs).
 * cut: the output was longer than what was kept, which a failure must say. */
static void check_output(sg_probe_result *pr, const sg_probe_expect *ex, const char *data, size_t len,
			 uint64_t total)
{
	char note[128] = "";
	if (total > len)
		snprintf(note, sizeof(note), " (only the first %zu bytes of the output were kept and checked)", len);
	sg_autofree char *text = sg_xmalloc(len + 1);
	memcpy(text, data, len);
	text[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\0')
			text[i] = ' ';
	if (ex->stdout_contains && !strstr(text, ex->stdout_contains)) {
		fail_probe(pr, "output does not contain \"%s\"%s", ex->stdout_contains, note);
		return;
	}
	if (ex->stdout_matches) {
		/* line by line, as grep -E: ^ and $ also match at each newline, so "^5$"
		 * matches a body "5\n" */
		regex_t re;
		if (regcomp(&re, ex->stdout_matches, REG_EXTENDED | REG_NOSUB | REG_NEWLINE) != 0) {
			fail_probe(pr, "invalid regular expression \"%s\"", ex->stdout_matches);
			return;
		}
		int rc = regexec(&re, text, 0, NULL, 0);
		regfree(&re);
		if (rc != 0)
			fail_probe(pr, "output does not match /%s/%s", ex->stdout_matches, note);
	}
}

static void probe_reply(sg_service_run *sr, const struct sg_ctl_msg *m, const char *payload, size_t len)
{
	if (sr->probe_index >= sr->n_probes)
		return;
	const sg_probe_spec *ps = &sr->spec->probes[sr->probe_index];
	sg_probe_result *pr = &sr->probes[sr->probe_index];
	sr->probe_index++;
	pr->ran = true;
	pr->passed = true;
	pr->elapsed_ms = m->elapsed_ms;
	pr->timed_out = (m->flags & SG_CTL_TIMED_OUT) != 0;
	if (m->type == SG_CTL_HTTP_RESULT) {
		pr->http_status = m->status;
		pr->output = copy_output(payload, len);
		if (!m->status) {
			if (pr->timed_out)
				fail_probe(pr, "GET %s: no HTTP response within %llu s", ps->http_get,
					   (unsigned long long)(ps->timeout_s ? ps->timeout_s : 10));
			else if (m->errnum == EPROTO)
				fail_probe(pr, "GET %s: no HTTP response (the connection closed without a status line)",
					   ps->http_get);
			else
				fail_probe(pr, "GET %s: %s", ps->http_get,
					   strerror(m->errnum ? m->errnum : ECONNREFUSED));
			return;
		}
		if (ps->expect.http_status ? m->status != ps->expect.http_status : !is_2xx(m->status)) {
			if (ps->expect.http_status)
				fail_probe(pr, "HTTP status %d, expected %d", m->status, ps->expect.http_status);
			else
				fail_probe(pr, "HTTP status %d, expected 2xx", m->status);
			return;
		}
		check_output(pr, &ps->expect, payload, len, (m->flags & SG_CTL_TRUNCATED) ? (uint64_t)len + 1 : len);
		return;
	}
	size_t out_len = m->out_len <= len ? m->out_len : len;
	pr->output = copy_output(payload, out_len);
	if (m->flags & SG_CTL_NOT_STARTED) {
		fail_probe(pr, "could not start %s: %s", ps->argv ? ps->argv[0] : "?", strerror(m->errnum));
		return;
	}
	if (pr->timed_out) {
		fail_probe(pr, "timed out after %llu s", (unsigned long long)(ps->timeout_s ? ps->timeout_s : 10));
		return;
	}
	if (WIFSIGNALED(m->status)) {
		pr->signal = WTERMSIG(m->status);
		const char *abbrev = sigabbrev_np(pr->signal);
		fail_probe(pr, "killed by SIG%s", abbrev ? abbrev : "?");
		return;
	}
	pr->exit_code = WEXITSTATUS(m->status);
	int want = ps->expect.has_exit ? ps->expect.exit_code : 0;
	if (pr->exit_code != want) {
		fail_probe(pr, "exit code %d, expected %d", pr->exit_code, want);
		return;
	}
	check_output(pr, &ps->expect, payload, out_len, m->out_total);
}

static void driver_exited(void *ctx, uint64_t now);

static void driver_reply(void *ctx, uint64_t now, const struct sg_ctl_msg *m, const char *payload, size_t len)
{
	sg_service_run *sr = ctx;
	bool gone = (m->flags & SG_CTL_COMMAND_GONE) != 0;
	if (sr->phase == SG_SVC_READY) {
		ready_reply(sr, now, m);
	} else if (sr->phase == SG_SVC_PROBES) {
		size_t i = sr->probe_index;
		probe_reply(sr, m, payload, len);
		sg_probe_result *pr = i < sr->n_probes ? &sr->probes[i] : NULL;
		if (gone && pr && !pr->passed && pr->reason) {
			char *longer = sg_xasprintf("%s (the service had exited by then)", pr->reason);
			free(pr->reason);
			pr->reason = longer;
		}
	}
	/* the service had ended by the time of this reply: as if its end had been reported
	 * (that report may come only after the last probe, too late to be heard) */
	if (gone)
		driver_exited(ctx, now);
}

static void driver_exited(void *ctx, uint64_t now)
{
	(void)now;
	sg_service_run *sr = ctx;
	/* early only while readiness or probes were still going: once they are done, the end
	 * is our own stop (SIGTERM), and no part of why the step failed */
	if (sr->phase != SG_SVC_DONE)
		sr->exited_early = true;
	sr->wake_ms = 0; /* nothing left to wait for */
	if (sr->phase == SG_SVC_READY) {
		fail_ready(sr, "the service exited before it was ready");
	} else if (sr->phase == SG_SVC_PROBES) {
		for (size_t i = sr->probe_index; i < sr->n_probes; i++)
			fail_probe(&sr->probes[i], "not run: the service exited during the probes");
		sr->probe_index = sr->n_probes;
		sr->phase = SG_SVC_DONE;
	}
}

sg_service_driver sg_service_run_driver(sg_service_run *sr)
{
	uint64_t grace = sr->spec->stop_grace_s * 1000;
	sg_service_driver d = {
		.ctx = sr, .next = driver_next, .reply = driver_reply, .exited = driver_exited,
		.stop_grace_ms = (uint32_t)(grace > 600000 ? 600000 : grace),
	};
	return d;
}

sg_step_status sg_service_run_status(const sg_service_run *sr, char **reason)
{
	*reason = NULL;
	if (!sr->ready) {
		*reason = sg_xstrdup(sr->not_ready_reason ? sr->not_ready_reason : "the service never became ready");
		return SG_STEP_NOT_READY;
	}
	for (size_t i = 0; i < sr->n_probes; i++) {
		const sg_probe_result *pr = &sr->probes[i];
		if (!pr->passed) {
			*reason = sg_xasprintf("probe '%s' failed: %s", pr->name,
					       pr->reason ? pr->reason : "it did not run");
			return SG_STEP_PROBE_FAILED;
		}
	}
	return SG_STEP_PASSED;
}

void sg_service_run_add_json(const sg_service_run *sr, cJSON *step)
{
	cJSON_AddBoolToObject(step, "ready", sr->ready);
	if (sr->ready)
		cJSON_AddNumberToObject(step, "ready_ms", (double)sr->ready_ms);
	else
		cJSON_AddNullToObject(step, "ready_ms");
	cJSON *probes = cJSON_AddArrayToObject(step, "probes");
	for (size_t i = 0; i < sr->n_probes; i++) {
		const sg_probe_result *pr = &sr->probes[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", pr->name);
		cJSON_AddBoolToObject(o, "passed", pr->passed);
		cJSON_AddBoolToObject(o, "ran", pr->ran);
		if (pr->http_status)
			cJSON_AddNumberToObject(o, "http_status", pr->http_status);
		if (pr->exit_code >= 0)
			cJSON_AddNumberToObject(o, "exit_code", pr->exit_code);
		if (pr->signal) {
			const char *abbrev = sigabbrev_np(pr->signal);
			sg_autofree char *sig = sg_xasprintf("SIG%s", abbrev ? abbrev : "?");
			cJSON_AddStringToObject(o, "signal", sig);
		}
		cJSON_AddNumberToObject(o, "elapsed_ms", (double)pr->elapsed_ms);
		if (pr->output) {
			sg_autofree char *clean = sg_utf8_sanitize(pr->output, strlen(pr->output));
			cJSON_AddStringToObject(o, "output", clean);
		}
		if (pr->reason) {
			sg_autofree char *clean = sg_utf8_sanitize(pr->reason, strlen(pr->reason));
			cJSON_AddStringToObject(o, "reason", clean);
		}
		cJSON_AddItemToArray(probes, o);
	}
}
