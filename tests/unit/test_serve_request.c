/* test_serve_request.c: the request the daemon hands its worker (serve_worker.c) comes
 * back as it went, inline job and groups included, and a request that is not one is
 * refused rather than half read. */
#include "serve.h"
#include "tap.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void round_trip(void)
{
	const gid_t groups[] = {65534, 100, 27};
	char *procs[] = {(char *)"/sys/fs/cgroup/memory/x/cgroup.procs", (char *)"/sys/fs/cgroup/pids/x/cgroup.procs",
			 NULL};
	const char *inline_job = "{\"version\": 1, \"name\": \"q\\\"\\n\", \"env\": {\"K\": \"\\u00e9\"}}";
	sg_serve_request in = {
		.id = "job-7", .uid = 65534, .gid = 65534, .groups = groups, .n_groups = 3, .groups_known = true,
		.job_json = inline_job, .job_json_len = strlen(inline_job), .workspace = "/home/u/ws",
		.out_dir = "/home/u/out", .key_path = NULL, .allow_weaker = true, .vsa = false, .no_trace = true,
		.tmp_dir = "/var/tmp/shipgate-serve-1/job-7", .cgroup_procs = procs, .daemon_pid = 4242,
	};
	char *text = sg_serve_request_to_json(&in);
	sg_serve_request out;
	cJSON *tree = NULL;
	sg_error err = {0};
	tap_ok(text && sg_serve_request_from_json(text, strlen(text), &out, &tree, &err) == 0, "the request reads back (%s)",
	       err.msg);
	tap_is_str(out.id, "job-7", "id");
	tap_is_int(out.uid, 65534, "uid");
	tap_is_int(out.gid, 65534, "gid");
	tap_ok(out.groups_known && out.n_groups == 3 && out.groups[0] == 65534 && out.groups[2] == 27, "groups");
	tap_is_str(out.job_json, inline_job, "the inline job, byte for byte");
	tap_is_int((long long)out.job_json_len, (long long)strlen(inline_job), "its length");
	tap_ok(out.job_path == NULL && out.key_path == NULL, "absent paths stay absent");
	tap_is_str(out.workspace, "/home/u/ws", "workspace");
	tap_is_str(out.out_dir, "/home/u/out", "out dir");
	tap_ok(out.allow_weaker && !out.vsa && out.no_trace, "flags");
	tap_is_str(out.tmp_dir, "/var/tmp/shipgate-serve-1/job-7", "tmp dir");
	tap_ok(out.cgroup_procs[0] && !strcmp(out.cgroup_procs[1], procs[1]) && !out.cgroup_procs[2], "cgroups to join");
	tap_is_int(out.daemon_pid, 4242, "daemon pid");
	free((void *)out.groups);
	free((void *)out.cgroup_procs);
	cJSON_Delete(tree);
	free(text);
}

static void refused(const char *text, const char *what)
{
	sg_serve_request out;
	cJSON *tree = NULL;
	sg_error err = {0};
	int rc = sg_serve_request_from_json(text, strlen(text), &out, &tree, &err);
	tap_ok(rc < 0, "refused: %s", what);
	if (rc == 0) {
		free((void *)out.groups);
		free((void *)out.cgroup_procs);
	}
	cJSON_Delete(tree);
}

static void line(const char *text, size_t len, bool good, const char *what)
{
	sg_error err = {0};
	int rc = sg_serve_request_line_check(text, len, &err);
	tap_ok(good ? rc == 0 : rc < 0, "request line %s: %s%s%s", good ? "taken" : "refused", what, rc < 0 ? ": " : "",
	       rc < 0 ? err.msg : "");
}

#define LINE(lit, good, what) line(lit, sizeof(lit) - 1, good, what)

static void request_lines(void)
{
	LINE("{\"op\":\"ping\"}", true, "a plain request");
	LINE("{\"op\":\"status\",\"id\":\"job-8\\u0000xyz\"}", false, "an escaped NUL in a string");
	LINE("{\"op\":\"submit\",\"job\":\"/x/quick.json\\u0000/../evil.json\"}", false, "an escaped NUL in a path");
	LINE("{\"op\":\"status\",\"id\":\"a\\\\u0000\"}", true, "an escaped backslash, then the text u0000");
	LINE("{\"op\":\"status\",\"id\":\"a\\\\\\u0000\"}", false, "an escaped backslash, then an escaped NUL");
	LINE("{\"op\":\"status\",\"id\":\"\\\"\\u0000\"}", false, "an escaped quote, then an escaped NUL");
	LINE("{\"op\":\"status\",\"id\":\"\\u00000\"}", false, "\\u0000 followed by a digit");
	LINE("{\"op\":\"status\",\"id\":\"\\u0001\"}", true, "an escaped U+0001 (not NUL)");
	LINE("{\"op\":\"ping\"}\0x", false, "a raw NUL");
	LINE("{\"op\":\"p\xc3\xa9\"}", true, "valid UTF-8 (e acute)");
	LINE("{\"op\":\"\xf0\x9f\x98\x80\"}", true, "valid UTF-8 (4 bytes)");
	LINE("{\"op\":\"p\xe9\"}", false, "Latin-1, not UTF-8");
	LINE("{\"op\":\"\xc0\xaf\"}", false, "an overlong form");
	LINE("{\"op\":\"\xed\xa0\x80\"}", false, "an encoded surrogate");
	LINE("{\"op\":\"\xf4\x90\x80\x80\"}", false, "past U+10FFFF");
	LINE("{\"op\":\"\xe2\x82\"}", false, "a truncated sequence");
	LINE("{\"op\":\"x\"}\xff", false, "a bad byte outside the strings");

	/* replies: every string made valid UTF-8 */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", "bad \xff byte");
	cJSON *a = cJSON_AddArrayToObject(o, "list");
	cJSON_AddItemToArray(a, cJSON_CreateString("\xc3"));
	sg_serve_json_sanitize(o);
	char *text = cJSON_PrintUnformatted(o);
	tap_ok(text && sg_serve_utf8_valid(text, strlen(text), NULL), "a reply with invalid UTF-8 is made valid (%s)", text);
	tap_is_str(cJSON_GetObjectItem(o, "error")->valuestring, "bad \xef\xbf\xbd byte", "a bad byte becomes U+FFFD");
	cJSON_free(text);
	cJSON_Delete(o);
}

int main(void)
{
	request_lines();
	round_trip();
	refused("", "empty");
	refused("[1]", "not an object");
	refused("{\"id\":\"j\",\"uid\":-1,\"gid\":0,\"daemon_pid\":1,\"job_path\":\"/j\"}", "a negative uid");
	refused("{\"id\":\"j\",\"uid\":4294967295,\"gid\":0,\"daemon_pid\":1,\"job_path\":\"/j\"}", "uid -1 (no uid)");
	refused("{\"id\":\"j\",\"uid\":0.5,\"gid\":0,\"daemon_pid\":1,\"job_path\":\"/j\"}", "a fractional uid");
	refused("{\"id\":\"j\",\"uid\":0,\"gid\":0,\"daemon_pid\":1}", "no job");
	refused("{\"id\":\"j\",\"uid\":0,\"gid\":0,\"daemon_pid\":1,\"job_json\":\"{}\"}", "an inline job without workspace");
	refused("{\"id\":\"j\",\"uid\":0,\"gid\":0,\"daemon_pid\":1,\"job_path\":\"/j\",\"groups\":[\"x\"]}", "a bad group");
	return tap_done();
}
