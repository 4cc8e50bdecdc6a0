/* test_job.c: the job file parser (executor/job.c), against the format in
 * docs/job-file.md: a full valid job, the defaults, and one case per kind of bad input,
 * each checking that the message names the file and the JSON path at fault.
 *
 * Every test works in a fresh directory from mkdtemp:
 *   ROOT/job/            the job directory (job.json, src/, acceptance/, rootfs/, ...)
 *   ROOT/outside/        a directory the job must not reach
 *   ROOT/job/link        -> ../outside, a symlink escape
 * JSON in this file is written with ' for " (see dq()) to keep it readable.
 */
#include "job.h"
#include "tap.h"
#include "util.h"

#include <limits.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

typedef struct fx {
	char root[64];
	char dir[PATH_MAX];
	char job[PATH_MAX + 16]; /* ROOT/job/job.json, the path given to the parser */
} fx;

/* A minimal valid job, and the same with extra keys at the top level or in its step. */
#define TOP(extra) "{'version':1,'name':'t','steps':[{'name':'a','run':'true'}]" extra "}"
#define STEP(extra) "{'version':1,'name':'t','steps':[{'name':'a','run':'true'" extra "}]}"
#define SERVICE(svc) STEP(",'service':" svc)

static char *dq(const char *s)
{
	char *out = sg_xstrdup(s);
	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static void put_file(const char *dir, const char *rel, const char *data, size_t len)
{
	sg_autofree char *path = sg_xasprintf("%s/%s", dir, rel);
	FILE *f = fopen(path, "w");
	if (!f || fwrite(data, 1, len, f) != len) {
		perror(path);
		exit(99);
	}
	fclose(f);
}

static void put_dir(const char *dir, const char *rel)
{
	sg_autofree char *path = sg_xasprintf("%s/%s", dir, rel);
	if (mkdir(path, 0755) < 0) {
		perror(path);
		exit(99);
	}
}

static void fx_setup(fx *f)
{
	snprintf(f->root, sizeof(f->root), "/tmp/sg-test-job-XXXXXX");
	if (!mkdtemp(f->root)) {
		perror("mkdtemp");
		exit(99);
	}
	snprintf(f->dir, sizeof(f->dir), "%s/job", f->root);
	snprintf(f->job, sizeof(f->job), "%s/job.json", f->dir);
	put_dir(f->root, "job");
	put_dir(f->root, "outside");
	put_dir(f->dir, "src");
	put_dir(f->dir, "acceptance");
	put_dir(f->dir, "rootfs");
	put_dir(f->dir, "policies");
	put_file(f->dir, "file.txt", "x\n", 2);
	put_file(f->dir, "policies/strict.json", "{}\n", 3);
	sg_autofree char *link = sg_xasprintf("%s/link", f->dir);
	if (symlink("../outside", link) < 0) {
		perror(link);
		exit(99);
	}
}

static sg_job *parse(const fx *f, const char *squoted, sg_error *err)
{
	sg_autofree char *text = dq(squoted);
	sg_error_clear(err);
	return sg_job_parse(f->job, text, strlen(text), err);
}

static sg_job *good(const fx *f, const char *squoted, const char *name)
{
	sg_error err = {0};
	sg_job *job = parse(f, squoted, &err);
	tap_ok(job != NULL, "valid: %s", name);
	if (!job)
		printf("#   error: %s\n", err.msg);
	return job;
}

/* The parse must fail with "<job file>: <json_path>: ..." mentioning `what`. */
static void bad(const fx *f, const char *squoted, const char *json_path, const char *what)
{
	sg_error err = {0};
	sg_job *job = parse(f, squoted, &err);
	sg_autofree char *prefix = *json_path ? sg_xasprintf("%s: %s: ", f->job, json_path)
					      : sg_xasprintf("%s: ", f->job);
	bool ok = !job && err.kind == SG_ERR_USAGE && !strncmp(err.msg, prefix, strlen(prefix)) &&
		  strstr(err.msg, what);
	tap_ok(ok, "refused: %s: %s", *json_path ? json_path : "(file)", what);
	if (!ok)
		printf("#   got: %s (job %s)\n", err.msg, job ? "parsed" : "NULL");
	sg_job_free(job);
}

/* The message must be exactly "<job file>: <rest>". */
static void bad_exact(const fx *f, const char *squoted, const char *rest)
{
	sg_error err = {0};
	sg_job *job = parse(f, squoted, &err);
	sg_autofree char *want = sg_xasprintf("%s: %s", f->job, rest);
	tap_ok(job == NULL, "refused: %s", rest);
	tap_is_str(err.msg, want, "  with the exact message");
	sg_job_free(job);
}

static void test_contract_example(const fx *f)
{
	const char *data_dir = getenv("SHIPGATE_TEST_DATA");
	sg_autofree char *src = sg_xasprintf("%s/job/contract-example.json",
					     data_dir ? data_dir : SHIPGATE_SOURCE_DIR "/tests/data");
	sg_autofree char *data = NULL;
	size_t len = 0;
	sg_error err = {0};
	if (sg_read_file(src, 1 << 20, &data, &len, &err) < 0) {
		tap_ok(false, "read fixture: %s", err.msg);
		return;
	}
	put_file(f->dir, "job.json", data, len);
	sg_job *job = sg_job_load(f->job, &err);
	tap_ok(job != NULL, "contract example loads");
	if (!job) {
		printf("#   error: %s\n", err.msg);
		return;
	}
	sg_autofree char *ws = sg_xasprintf("%s/src", f->dir);
	sg_autofree char *acc = sg_xasprintf("%s/acceptance", f->dir);
	tap_is_str(job->path, f->job, "path is absolute");
	tap_is_str(job->dir, f->dir, "dir is the job's directory");
	tap_is_str(job->name, "todo-api", "name");
	tap_is_str(job->workspace, ws, "workspace resolved");
	tap_is_str(job->rootfs, "host", "rootfs");
	tap_is_str(job->policy, "default", "policy");
	tap_is_str(sg_net_mode_name(job->network), "loopback", "network");
	tap_is_int((long long)job->n_env, 1, "one env entry");
	tap_is_str(job->env[0], "APP_ENV=test", "env as K=V");
	tap_ok(job->env[1] == NULL, "env NULL-terminated");
	tap_is_int((long long)job->limits.memory_mb, 1024, "limits.memory_mb");
	tap_is_int((long long)job->limits.pids, 256, "limits.pids");
	tap_ok(job->limits.cpus == 1.0, "limits.cpus");
	tap_is_int((long long)job->limits.timeout_s, 600, "limits.timeout_s");
	tap_is_int((long long)job->limits.output_kb, 1024, "limits.output_kb");
	tap_is_int((long long)job->limits.tmp_mb, 512, "limits.tmp_mb");
	tap_is_int((long long)job->n_mounts, 1, "one mount");
	tap_is_str(job->mounts[0].source, acc, "mount source resolved");
	tap_is_str(job->mounts[0].target, "/verify", "mount target");
	tap_ok(job->mounts[0].readonly, "mount readonly");
	tap_is_int((long long)job->n_steps, 3, "three steps");

	const sg_step *build = &job->steps[0];
	tap_is_str(build->name, "build", "step 0 name");
	tap_is_str(build->argv[0], "make", "step 0 argv[0]");
	tap_is_str(build->argv[1], "-j2", "step 0 argv[1]");
	tap_ok(build->argv[2] == NULL, "step 0 argv NULL-terminated");
	tap_ok(!build->run_is_shell, "step 0 is an argv");
	tap_is_str(build->run_display, "make -j2", "step 0 run_display");
	tap_is_int((long long)sg_step_timeout_s(job, build), 300, "step 0 own timeout");

	const sg_step *test = &job->steps[1];
	tap_ok(test->run_is_shell, "step 1 is a shell string");
	tap_is_str(test->argv[0], "/bin/sh", "step 1 argv[0]");
	tap_is_str(test->argv[1], "-c", "step 1 argv[1]");
	tap_is_str(test->argv[2], "make test", "step 1 argv[2]");
	tap_ok(test->argv[3] == NULL, "step 1 argv NULL-terminated");
	tap_is_str(test->run_display, "make test", "step 1 run_display");
	tap_is_int((long long)sg_step_timeout_s(job, test), 600, "step 1 job's timeout");
	tap_ok(test->has_tests && test->tests.format == SG_TESTS_JUNIT, "step 1 junit");
	tap_is_str(test->tests.path, "build/junit.xml", "step 1 tests.path");
	tap_is_int((long long)test->tests.min, 1, "step 1 tests.min");
	tap_ok(test->service == NULL, "step 1 is not a service");

	const sg_step *launch = &job->steps[2];
	tap_ok(launch->service != NULL, "step 2 is a service");
	if (launch->service) {
		const sg_service_spec *s = launch->service;
		tap_is_int(s->ready.tcp_port, 8080, "ready.tcp");
		tap_is_int((long long)s->ready.timeout_s, 10, "ready.timeout_s");
		tap_is_int((long long)s->stop_grace_s, 5, "stop_grace_s default");
		tap_is_int((long long)s->n_probes, 1, "one probe");
		tap_is_str(s->probes[0].name, "health", "probe name");
		tap_is_str(s->probes[0].argv[0], "curl", "probe argv");
		tap_ok(s->probes[0].expect.has_exit && s->probes[0].expect.exit_code == 0,
		       "probe expects exit 0");
		tap_is_str(s->probes[0].expect.stdout_contains, "ok", "probe stdout_contains");
		tap_is_int((long long)s->probes[0].timeout_s, 10, "probe timeout default");
	}

	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[65];
	EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
	sg_hex(md, md_len, hex);
	tap_is_str(job->sha256, hex, "sha256 of the file's bytes");
	sg_job_free(job);
}

static void test_defaults(const fx *f)
{
	sg_job *job = good(f, TOP(""), "minimal job");
	if (!job)
		return;
	sg_limits l;
	sg_limits_default(&l);
	tap_is_str(job->workspace, f->dir, "workspace defaults to the job dir");
	tap_is_str(job->rootfs, "host", "rootfs defaults to host");
	tap_is_str(job->policy, "default", "policy defaults to default");
	tap_ok(job->network == SG_NET_LOOPBACK, "network defaults to loopback");
	tap_ok(job->env && job->env[0] == NULL && job->n_env == 0, "env empty");
	tap_ok(job->protect && job->protect[0] == NULL && job->n_protect == 0, "protect empty");
	tap_ok(job->n_mounts == 0, "no mounts");
	tap_ok(!job->allow_weaker_isolation, "allow_weaker_isolation defaults to false");
	tap_ok(!memcmp(&job->limits, &l, sizeof(l)), "limits are the defaults");
	tap_is_int((long long)l.memory_mb, 2048, "default memory_mb");
	tap_is_int((long long)l.pids, 1024, "default pids");
	tap_ok(l.cpus == 0, "default cpus");
	tap_is_int((long long)l.timeout_s, 600, "default timeout_s");
	tap_is_int((long long)l.output_kb, 1024, "default output_kb");
	tap_is_int((long long)l.tmp_mb, 512, "default tmp_mb");
	const sg_step *s = &job->steps[0];
	tap_is_int((long long)s->repeat, 1, "repeat defaults to 1");
	tap_ok(s->timeout_s == 0 && sg_step_timeout_s(job, s) == 600, "step timeout from limits");
	tap_ok(s->policy == NULL && !s->has_tests && !s->service, "step without extras");
	tap_is_str(job->sha256, "fc1074620ed66baba7897742bac4e71b837a2f2ce0507283a4ab5f20084e3128",
		   "sha256 of the minimal job");
	sg_job_free(job);
}

static void test_options(const fx *f)
{
	sg_autofree char *pol = sg_xasprintf("%s/policies/strict.json", f->dir);
	sg_autofree char *rootfs = sg_xasprintf("%s/rootfs", f->dir);
	sg_job *job = good(f, "{'version':1,'name':'t','policy':'policies/strict.json',"
			      "'rootfs':'./rootfs','network':'none','allow_weaker_isolation':true,"
			      "'protect':['tests/**','*.lock'],'env':{'A':'1','_b2':''},"
			      "'mounts':[{'source':'acceptance','target':'//opt//x/./','readonly':false}],"
			      "'steps':[{'name':'a.b-c_1','run':'true','policy':'no-net',"
			      "'tests':{'format':'tap'},'repeat':3}]}",
			   "job with every option");
	if (job) {
		tap_is_str(job->policy, pol, "policy path stored absolute");
		tap_is_str(job->rootfs, rootfs, "rootfs resolved");
		tap_ok(job->network == SG_NET_NONE && job->network_set, "network none, given");
		tap_ok(job->rootfs_image == NULL, "a directory is not an image");
		tap_ok(job->allow_weaker_isolation, "allow_weaker_isolation");
		tap_ok(job->n_protect == 2 && !strcmp(job->protect[1], "*.lock") && !job->protect[2],
		       "protect globs");
		tap_ok(job->n_env == 2 && !strcmp(job->env[1], "_b2="), "env with empty value");
		tap_is_str(job->mounts[0].target, "/opt/x", "mount target normalised");
		tap_ok(!job->mounts[0].readonly, "readonly false");
		tap_is_str(job->steps[0].policy, "no-net", "step policy name");
		tap_ok(job->steps[0].tests.format == SG_TESTS_TAP && !job->steps[0].tests.path,
		       "tap without path");
		tap_is_int((long long)job->steps[0].repeat, 3, "repeat");
	}
	sg_job_free(job);

	job = good(f, SERVICE("{'ready':{'http':'http://localhost:8080/health'},'stop_grace_s':0,"
			      "'probes':[{'name':'h','http':'http://127.0.0.1:8080',"
			      "'expect':{'http_status':204,'stdout_matches':'^ok( |$)'}},"
			      "{'name':'r','run':['test','-f','x'],'timeout_s':3}]}"),
		   "service with http ready and probes");
	if (job) {
		const sg_service_spec *s = job->steps[0].service;
		tap_is_str(s->ready.http_get, "http://localhost:8080/health", "ready.http");
		tap_ok(s->ready.tcp_port == 0 && s->ready.argv == NULL, "only http");
		tap_is_int((long long)s->stop_grace_s, 0, "stop_grace_s 0");
		tap_is_str(s->probes[0].http_get, "http://127.0.0.1:8080", "probe http");
		tap_ok(!s->probes[0].expect.has_exit, "http probe does not check an exit code");
		tap_is_int(s->probes[0].expect.http_status, 204, "http_status");
		tap_is_str(s->probes[0].expect.stdout_matches, "^ok( |$)", "stdout_matches");
		tap_ok(s->probes[1].expect.has_exit && s->probes[1].expect.exit_code == 0,
		       "run probe expects exit 0 by default");
		tap_is_int((long long)s->probes[1].timeout_s, 3, "probe timeout_s");
	}
	sg_job_free(job);

	job = good(f, SERVICE("{'ready':{'run':'test -f /tmp/up','timeout_s':30}}"),
		   "service with run readiness");
	if (job)
		tap_is_str(job->steps[0].service->ready.argv[2], "test -f /tmp/up", "ready.run");
	sg_job_free(job);

	job = good(f, TOP(",'workspace':'./src/../src/'"), "workspace with . and .. inside");
	sg_autofree char *ws = sg_xasprintf("%s/src", f->dir);
	if (job)
		tap_is_str(job->workspace, ws, "workspace canonical");
	sg_job_free(job);
}

static void test_file_errors(const fx *f)
{
	sg_error err = {0};
	sg_autofree char *missing = sg_xasprintf("%s/nope.json", f->dir);
	sg_autofree char *want = sg_xasprintf("%s: cannot read: No such file or directory", missing);
	tap_ok(sg_job_load(missing, &err) == NULL, "missing file refused");
	tap_is_str(err.msg, want, "  cannot read: No such file or directory");
	tap_ok(err.kind == SG_ERR_USAGE, "  as a usage error");

	sg_error_clear(&err);
	tap_ok(sg_job_load(f->dir, &err) == NULL && strstr(err.msg, "Is a directory"),
	       "a directory is refused");

	/* exactly 1 MiB is accepted, one byte more is not */
	sg_autofree char *text = dq(TOP(""));
	size_t n = strlen(text);
	char *big = sg_xmalloc(SG_JOB_MAX_BYTES + 1);
	memset(big, ' ', SG_JOB_MAX_BYTES + 1);
	memcpy(big, text, n);
	put_file(f->dir, "big.json", big, SG_JOB_MAX_BYTES);
	sg_autofree char *big_path = sg_xasprintf("%s/big.json", f->dir);
	sg_error_clear(&err);
	sg_job *job = sg_job_load(big_path, &err);
	tap_ok(job != NULL, "a 1 MiB job file loads");
	sg_job_free(job);
	put_file(f->dir, "big.json", big, SG_JOB_MAX_BYTES + 1);
	sg_error_clear(&err);
	tap_ok(sg_job_load(big_path, &err) == NULL && strstr(err.msg, "expected at most 1048576"),
	       "a job file over 1 MiB is refused by load");
	sg_error_clear(&err);
	tap_ok(sg_job_parse(f->job, big, SG_JOB_MAX_BYTES + 1, &err) == NULL &&
	       strstr(err.msg, "expected at most 1048576"), "and by parse");
	free(big);

	sg_error_clear(&err);
	tap_ok(sg_job_parse("/nonexistent-dir/job.json", text, n, &err) == NULL &&
	       strstr(err.msg, "cannot resolve the job directory"), "missing job directory");
}

static void test_syntax(const fx *f)
{
	bad(f, "{'version':1,\n 'name': 't',\n 'steps': [}", "", "line 3, column 12");
	bad(f, "{'version':1,\n 'name': 't',\n 'steps': [}", "", "invalid JSON");
	bad(f, "", "", "invalid JSON");
	bad(f, TOP("") " x", "", "invalid JSON");
	bad(f, "[1]", "", "expected a JSON object at the top level, got an array");
	bad(f, TOP(",'env':{'A':'x\\u0000y'}"), "", "\\u0000");
	bad(f, TOP(",'env':{'A':'a\tb'}"), "",
	    "line 1, column 74 (byte 73): control character in a string");

	sg_error err = {0};
	static const char bad_utf8[] = "{\"version\":1,\"name\":\"\xc3\x28\",\"steps\":[]}";
	tap_ok(!sg_job_parse(f->job, bad_utf8, sizeof(bad_utf8) - 1, &err) &&
	       strstr(err.msg, "invalid UTF-8") && strstr(err.msg, "column 22"),
	       "invalid UTF-8 refused with its position");
	static const char nul[] = "{\"version\":1}\0{}";
	sg_error_clear(&err);
	tap_ok(!sg_job_parse(f->job, nul, sizeof(nul) - 1, &err) && strstr(err.msg, "NUL byte"),
	       "NUL byte refused");
}

static void test_top_level(const fx *f)
{
	bad(f, TOP(",'name':'u'"), "name", "duplicate key");
	bad(f, TOP(",'steps':[]"), "steps", "duplicate key");
	bad_exact(f, TOP(",'nmae':'x'"),
		  "nmae: unknown key (expected one of: version, name, workspace, rootfs, policy, "
		  "network, env, limits, mounts, steps, protect, allow_weaker_isolation)");
	bad(f, TOP(",'Network':'none'"), "Network", "unknown key");
	bad(f, "{'name':'t','steps':[{'name':'a','run':'true'}]}", "version", "missing");
	bad(f, "{'version':2,'name':'t','steps':[{'name':'a','run':'true'}]}", "version",
	    "unsupported version, expected 1, got 2");
	bad(f, "{'version':2,'name':'t','sandbox':'x','steps':[{'name':'a','run':'true'}]}",
	    "version", "unsupported version, expected 1, got 2");
	bad(f, "{'version':'1','name':'t','steps':[{'name':'a','run':'true'}]}", "version",
	    "got \"1\"");
	bad(f, "{'version':1,'steps':[{'name':'a','run':'true'}]}", "name", "missing");
	bad(f, "{'version':1,'name':'','steps':[{'name':'a','run':'true'}]}", "name",
	    "expected a non-empty string");
	bad(f, "{'version':1,'name':7,'steps':[{'name':'a','run':'true'}]}", "name", "got 7");
	bad(f, "{'version':1,'name':'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',"
	       "'steps':[{'name':'a','run':'true'}]}", "name", "at most 128 characters");
	bad(f, "{'version':1,'name':'t'}", "steps", "missing, expected a non-empty array of steps");
	bad(f, "{'version':1,'name':'t','steps':[]}", "steps", "got an empty array");
	bad(f, "{'version':1,'name':'t','steps':{}}", "steps", "expected a non-empty array");
	bad(f, TOP(",'network':'bridge'"), "network",
	    "expected \"none\", \"loopback\" or \"host\", got \"bridge\"");
	bad(f, TOP(",'network':1"), "network", "got 1");
	bad(f, TOP(",'allow_weaker_isolation':'yes'"), "allow_weaker_isolation",
	    "expected true or false");
	bad(f, TOP(",'protect':'*.c'"), "protect", "expected an array");
	bad(f, TOP(",'protect':['']"), "protect[0]", "non-empty glob");
	bad(f, TOP(",'protect':['/etc/*']"), "protect[0]", "relative to the workspace");
	bad(f, TOP(",'protect':['a/../../b']"), "protect[0]", "\"..\"");
}

static void test_paths(const fx *f)
{
	bad(f, TOP(",'workspace':'nope'"), "workspace",
	    "cannot resolve nope: No such file or directory");
	bad_exact(f, TOP(",'workspace':'../outside'"),
		  "workspace: ../outside escapes the job directory");
	bad(f, TOP(",'workspace':'src/../../outside'"), "workspace", "escapes the job directory");
	bad(f, TOP(",'workspace':'link'"), "workspace", "escapes the job directory");
	bad(f, TOP(",'workspace':'/tmp'"), "workspace", "is absolute");
	bad(f, TOP(",'workspace':'file.txt'"), "workspace", "is not a directory");
	bad(f, TOP(",'workspace':''"), "workspace",
	    "expected a directory relative to the job directory, got \"\"");
	bad(f, TOP(",'rootfs':'./file.txt'"), "rootfs", "./file.txt is not a directory");
	bad(f, TOP(",'rootfs':'./nope'"), "rootfs", "cannot resolve ./nope");
	bad(f, TOP(",'policy':'Default'"), "policy", "expected a policy name");
	bad(f, TOP(",'policy':'policies/none.json'"), "policy", "cannot resolve");
	bad(f, TOP(",'policy':'policies/strict.yaml'"), "policy", "expected a policy name");
	bad(f, STEP(",'policy':'../x.json'"), "steps[0].policy", "cannot resolve");
}

/* "rootfs": NAME (no '/') is an image built by scripts/rootfs, found in the cache that
 * XDG_CACHE_HOME names (ROOT/cache here). */
static void test_rootfs_images(const fx *f)
{
	sg_autofree char *saved_xdg = getenv("XDG_CACHE_HOME") ? sg_xstrdup(getenv("XDG_CACHE_HOME")) : NULL;
	sg_autofree char *cache = sg_xasprintf("%s/cache", f->root);
	setenv("XDG_CACHE_HOME", cache, 1);
	put_dir(f->root, "cache");
	put_dir(f->root, "cache/shipgate");
	put_dir(f->root, "cache/shipgate/rootfs");
	put_dir(f->root, "cache/shipgate/rootfs/tiny");
	put_dir(f->root, "cache/shipgate/rootfs/tiny/root");
	static const char manifest[] =
		"{\"version\": 1, \"name\": \"tiny\", \"kind\": \"busybox\", \"packages\": "
		"[{\"name\": \"busybox\", \"version\": \"1.35.0\"}], \"digest\": {\"algorithm\": "
		"\"shipgate-tree-v1\", \"sha256\": "
		"\"de81c5401167a90976e25de57c176c874ec1b20c1168d32f949d82889c0bd30e\"}}\n";
	put_file(cache, "shipgate/rootfs/tiny/manifest.json", manifest, sizeof(manifest) - 1);
	put_dir(f->root, "cache/shipgate/rootfs/half");
	put_dir(f->root, "cache/shipgate/rootfs/half/root");
	put_file(cache, "shipgate/rootfs/half/manifest.json", "{\"version\": 1}", 15);
	put_dir(f->root, "cache/shipgate/rootfs/noroot");
	static const char noroot[] =
		"{\"version\": 1, \"name\": \"noroot\", \"packages\": [], \"digest\": {\"algorithm\": "
		"\"shipgate-tree-v1\", \"sha256\": "
		"\"de81c5401167a90976e25de57c176c874ec1b20c1168d32f949d82889c0bd30e\"}}";
	put_file(cache, "shipgate/rootfs/noroot/manifest.json", noroot, sizeof(noroot) - 1);

	sg_job *job = good(f, TOP(",'rootfs':'tiny'"), "rootfs names a built image");
	if (job) {
		sg_autofree char *root = sg_xasprintf("%s/shipgate/rootfs/tiny/root", cache);
		tap_is_str(job->rootfs, root, "the image's root/ is the rootfs");
		tap_ok(job->rootfs_image && !strcmp(job->rootfs_image->name, "tiny"), "the image is kept");
		tap_is_str(job->rootfs_image ? job->rootfs_image->digest : NULL,
			   "de81c5401167a90976e25de57c176c874ec1b20c1168d32f949d82889c0bd30e",
			   "its digest comes from the manifest");
		/* printf '%s' "$manifest" | sha256sum, computed here with OpenSSL */
		unsigned char md[32];
		unsigned md_len = 0;
		char want[65];
		EVP_Digest(manifest, sizeof(manifest) - 1, md, &md_len, EVP_sha256(), NULL);
		sg_hex(md, 32, want);
		tap_is_str(job->rootfs_image ? job->rootfs_image->manifest_sha256 : NULL, want,
			   "the manifest file's own sha256");
		tap_ok(job->rootfs_image && job->rootfs_image->n_packages == 1, "package count");
		tap_ok(!job->network_set && job->network == SG_NET_LOOPBACK, "network not given");
	}
	sg_job_free(job);
	sg_autofree char *not_built =
		sg_xasprintf("rootfs: image \"debian-bookworm-build\" is not built (no "
			     "%s/shipgate/rootfs/debian-bookworm-build/manifest.json); build it with: "
			     "scripts/rootfs build debian-bookworm-build", cache);
	bad_exact(f, TOP(",'rootfs':'debian-bookworm-build'"), not_built);
	bad(f, TOP(",'rootfs':'rootfs'"), "rootfs",
	    "scripts/rootfs build rootfs (for the directory beside the job file, write \"./rootfs\")");
	bad(f, TOP(",'rootfs':'half'"), "rootfs", "image \"half\": ");
	bad(f, TOP(",'rootfs':'half'"), "rootfs", "manifest.json: name: expected \"half\"");
	bad(f, TOP(",'rootfs':'noroot'"), "rootfs", "is not a directory (rebuild it with: "
						   "scripts/rootfs build --force noroot)");
	bad(f, TOP(",'rootfs':'Debian'"), "rootfs", "expected \"host\", the name of a built image");
	bad(f, TOP(",'rootfs':'.'"), "rootfs", "expected \"host\", the name of a built image");
	bad(f, TOP(",'rootfs':'-x'"), "rootfs", "got \"-x\"");
	unsetenv("XDG_CACHE_HOME");
	sg_autofree char *saved_home = getenv("HOME") ? sg_xstrdup(getenv("HOME")) : NULL;
	setenv("HOME", f->root, 1);
	bad(f, TOP(",'rootfs':'tiny'"), "rootfs", "/.cache/shipgate/rootfs/tiny/manifest.json");
	setenv("XDG_CACHE_HOME", "relative/cache", 1); /* not absolute: ignored, as XDG says */
	bad(f, TOP(",'rootfs':'tiny'"), "rootfs", "/.cache/shipgate/rootfs/tiny/manifest.json");
	unsetenv("HOME");
	unsetenv("XDG_CACHE_HOME");
	bad(f, TOP(",'rootfs':'tiny'"), "rootfs", "neither XDG_CACHE_HOME nor HOME");
	if (saved_home)
		setenv("HOME", saved_home, 1);
	if (saved_xdg)
		setenv("XDG_CACHE_HOME", saved_xdg, 1);
	else
		unsetenv("XDG_CACHE_HOME");
}

static void test_env_limits(const fx *f)
{
	bad(f, TOP(",'env':{'A':'1','B':'2','A':'3'}"), "env.A", "duplicate key");
	bad(f, TOP(",'env':{'1A':'x'}"), "env.1A", "invalid variable name");
	bad(f, TOP(",'env':{'A-B':'x'}"), "env.A-B", "invalid variable name");
	bad(f, TOP(",'env':{'A':1}"), "env.A", "expected a string, got 1");
	bad(f, TOP(",'env':['A=1']"), "env", "expected an object");

	bad_exact(f, TOP(",'limits':{'memory_mb':-5}"),
		  "limits.memory_mb: must be a non-negative integer, got -5");
	bad(f, TOP(",'limits':{'pids':1.5}"), "limits.pids", "got 1.5");
	bad(f, TOP(",'limits':{'output_kb':'1024'}"), "limits.output_kb", "got \"1024\"");
	bad(f, TOP(",'limits':{'memory_mb':1048577}"), "limits.memory_mb", "from 0 to 1048576");
	bad(f, TOP(",'limits':{'memory_mb':1e300}"), "limits.memory_mb", "from 0 to");
	bad(f, TOP(",'limits':{'timeout_s':0}"), "limits.timeout_s", "positive integer, got 0");
	bad(f, TOP(",'limits':{'timeout_s':604801}"), "limits.timeout_s", "from 1 to 604800");
	bad(f, TOP(",'limits':{'tmp_mb':0}"), "limits.tmp_mb", "positive integer");
	bad(f, TOP(",'limits':{'pids':4194305}"), "limits.pids", "from 0 to 4194304");
	bad(f, TOP(",'limits':{'cpus':0}"), "limits.cpus", "greater than 0");
	bad(f, TOP(",'limits':{'cpus':-1}"), "limits.cpus", "greater than 0");
	bad(f, TOP(",'limits':{'cpus':1025}"), "limits.cpus", "at most 1024");
	bad(f, TOP(",'limits':{'cpus':'1'}"), "limits.cpus", "a number");
	bad(f, TOP(",'limits':{'memory':1}"), "limits.memory", "unknown key (expected one of: "
	    "memory_mb, pids, cpus, timeout_s, output_kb, tmp_mb, scratch_mb)");
	bad(f, TOP(",'limits':{'pids':1,'pids':2}"), "limits.pids", "duplicate key");
	bad(f, TOP(",'limits':[]"), "limits", "expected an object");

	sg_job *job = good(f, TOP(",'limits':{'memory_mb':0,'pids':0,'cpus':0.5,'timeout_s':1.0}"),
			   "zero means no limit for memory and pids; 1.0 is an integer");
	if (job)
		tap_ok(job->limits.memory_mb == 0 && job->limits.pids == 0 &&
		       job->limits.cpus == 0.5 && job->limits.timeout_s == 1, "  values kept");
	sg_job_free(job);
}

static void test_mounts(const fx *f)
{
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'verify'}]"), "mounts[0].target",
	    "expected an absolute path");
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'/proc/x'}]"), "mounts[0].target",
	    "/proc is set up by the sandbox");
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'/workspace/x'}]"),
	    "mounts[0].target", "/workspace is set up by the sandbox");
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'/workspace'}]"),
	    "mounts[0].target", "/workspace is set up by the sandbox");
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'//tmp/'}]"), "mounts[0].target",
	    "/tmp is set up by the sandbox");
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'/sys'}]"), "mounts[0].target",
	    "/sys is set up by the sandbox");
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'/dev/shm'}]"), "mounts[0].target",
	    "/dev is set up by the sandbox");
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'/'}]"), "mounts[0].target",
	    "cannot mount over /");
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'/opt/../proc'}]"),
	    "mounts[0].target", "\"..\" is not allowed");
	sg_job *job = good(f, TOP(",'mounts':[{'source':'acceptance','target':'/devices'}]"),
			   "/devices is not under /dev");
	sg_job_free(job);
	bad(f, TOP(",'mounts':[{'source':'acceptance','target':'/a'},"
		   "{'source':'src','target':'/a/'}]"), "mounts[1].target",
	    "already the target of mounts[0]");
	bad(f, TOP(",'mounts':[{'source':'nope','target':'/a'}]"), "mounts[0].source",
	    "cannot resolve nope");
	bad(f, TOP(",'mounts':[{'source':'file.txt','target':'/a'}]"), "mounts[0].source",
	    "not a directory");
	bad(f, TOP(",'mounts':[{'target':'/a'}]"), "mounts[0].source", "missing");
	bad(f, TOP(",'mounts':[{'source':'src'}]"), "mounts[0].target", "missing");
	bad(f, TOP(",'mounts':[{'source':'src','target':'/a','readonly':'no'}]"),
	    "mounts[0].readonly", "expected true or false");
	bad(f, TOP(",'mounts':[{'source':'src','target':'/a','ro':true}]"), "mounts[0].ro",
	    "unknown key (expected one of: source, target, readonly)");
	bad(f, TOP(",'mounts':{}"), "mounts", "expected an array");
}

static void test_steps(const fx *f)
{
	bad_exact(f, "{'version':1,'name':'t','steps':[{'nmae':'a','run':'true'}]}",
		  "steps[0].nmae: unknown key (expected one of: name, run, timeout_s, policy, "
		  "tests, service, repeat)");
	bad(f, STEP(",'run':'false'"), "steps[0].run", "duplicate key");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'a','run':'true'},"
	       "{'name':'b','run':'true'},{'name':'c','run':42}]}", "steps[2].run",
	    "expected a non-empty string or an array of non-empty strings, got 42");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'a','run':''}]}", "steps[0].run",
	    "expected a non-empty string");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'a','run':'  \\n '}]}", "steps[0].run",
	    "expected a non-empty string");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'a','run':[]}]}", "steps[0].run",
	    "got an empty array");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'a','run':['ls',3]}]}", "steps[0].run[1]",
	    "expected a non-empty string, got 3");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'a','run':['']}]}", "steps[0].run[0]",
	    "expected a non-empty string");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'a'}]}", "steps[0].run", "missing");
	bad(f, "{'version':1,'name':'t','steps':[{'run':'true'}]}", "steps[0].name", "missing");
	bad(f, "{'version':1,'name':'t','steps':['make']}", "steps[0]", "expected an object");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'a','run':'x'},{'name':'a','run':'y'}]}",
	    "steps[1].name", "duplicate step name \"a\" (also steps[0])");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'x','run':'x'},{'name':'a.run-2','run':'x'}]}",
	    "steps[1].name", "\"a.run-2\": a name ending in .run-N is reserved");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'a b','run':'x'}]}", "steps[0].name",
	    "[A-Za-z0-9._-]");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'','run':'x'}]}", "steps[0].name",
	    "expected a name");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'..','run':'x'}]}", "steps[0].name",
	    "expected a name");
	bad(f, "{'version':1,'name':'t','steps':[{'name':'.','run':'x'}]}", "steps[0].name",
	    "expected a name");
	bad(f, STEP(",'timeout_s':0"), "steps[0].timeout_s", "positive integer");
	bad(f, STEP(",'timeout_s':-1"), "steps[0].timeout_s", "got -1");
	bad(f, STEP(",'repeat':0"), "steps[0].repeat", "positive integer");
	bad(f, STEP(",'repeat':101"), "steps[0].repeat", "from 1 to 100");
	bad(f, STEP(",'repeat':2.5"), "steps[0].repeat", "got 2.5");
}

static void test_tests(const fx *f)
{
	bad(f, STEP(",'tests':{'format':'junit','path':'../junit.xml'}"), "steps[0].tests.path",
	    "\"..\" is not allowed");
	bad(f, STEP(",'tests':{'format':'junit','path':'build/../../x.xml'}"),
	    "steps[0].tests.path", "\"..\" is not allowed");
	bad(f, STEP(",'tests':{'format':'junit','path':'/tmp/junit.xml'}"), "steps[0].tests.path",
	    "is absolute");
	bad(f, STEP(",'tests':{'format':'junit','path':'./'}"), "steps[0].tests.path",
	    "names no file");
	bad(f, STEP(",'tests':{'format':'junit'}"), "steps[0].tests.path", "missing");
	bad(f, STEP(",'tests':{'format':'tap','path':'x.tap'}"), "steps[0].tests.path",
	    "not allowed for tap");
	bad(f, STEP(",'tests':{'path':'x.xml'}"), "steps[0].tests.format", "missing");
	bad(f, STEP(",'tests':{'format':'xunit','path':'x.xml'}"), "steps[0].tests.format",
	    "expected \"junit\" or \"tap\"");
	bad(f, STEP(",'tests':{'format':'tap','min':-1}"), "steps[0].tests.min",
	    "non-negative integer");
	bad(f, STEP(",'tests':{'format':'tap','mni':1}"), "steps[0].tests.mni",
	    "unknown key (expected one of: format, path, min)");
	bad(f, STEP(",'tests':{'format':'tap','format':'junit'}"), "steps[0].tests.format",
	    "duplicate key");
	sg_job *job = good(f, STEP(",'tests':{'format':'junit','path':'./out//r.xml','min':0}"),
			   "tests.path normalised, min 0");
	if (job) {
		tap_is_str(job->steps[0].tests.path, "out/r.xml", "  tests.path");
		tap_is_int((long long)job->steps[0].tests.min, 0, "  tests.min");
	}
	sg_job_free(job);
	bad(f, STEP(",'tests':{'format':'tap'},'service':{'ready':{'tcp':1}}"), "steps[0].tests",
	    "not allowed together with service");
}

static void test_service(const fx *f)
{
	bad(f, SERVICE("{'ready':{'tcp':80},'restart':true}"), "steps[0].service.restart",
	    "unknown key (expected one of: ready, probes, stop_grace_s)");
	bad(f, SERVICE("{'probes':[]}"), "steps[0].service.ready", "missing");
	bad(f, SERVICE("{'ready':{}}"), "steps[0].service.ready",
	    "no check, expected exactly one of tcp, http, run");
	bad(f, SERVICE("{'ready':{'tcp':80,'run':'true'}}"), "steps[0].service.ready",
	    "more than one check");
	bad(f, SERVICE("{'ready':{'tcp':0}}"), "steps[0].service.ready.tcp", "positive integer");
	bad(f, SERVICE("{'ready':{'tcp':65536}}"), "steps[0].service.ready.tcp", "from 1 to 65535");
	bad(f, SERVICE("{'ready':{'tpc':80}}"), "steps[0].service.ready.tpc",
	    "unknown key (expected one of: tcp, http, run, timeout_s)");
	bad(f, SERVICE("{'ready':{'http':'http://example.com:80/'}}"),
	    "steps[0].service.ready.http", "expected a URL");
	bad(f, SERVICE("{'ready':{'http':'http://127.0.0.1/'}}"),
	    "steps[0].service.ready.http", "expected a URL");
	bad(f, SERVICE("{'ready':{'http':'http://127.0.0.1:99999/'}}"),
	    "steps[0].service.ready.http", "expected a URL");
	bad(f, SERVICE("{'ready':{'http':'http://127.0.0.1:80x'}}"),
	    "steps[0].service.ready.http", "expected a URL");
	bad(f, SERVICE("{'ready':{'http':'http://127.0.0.1:80/a b'}}"),
	    "steps[0].service.ready.http", "expected a URL");
	bad(f, SERVICE("{'ready':{'run':[]}}"), "steps[0].service.ready.run",
	    "got an empty array");
	bad(f, SERVICE("{'ready':{'tcp':80,'timeout_s':0}}"), "steps[0].service.ready.timeout_s",
	    "positive integer");
	bad(f, SERVICE("{'ready':{'tcp':80},'stop_grace_s':601}"),
	    "steps[0].service.stop_grace_s", "from 0 to 600");

	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'run':'true'}]}"),
	    "steps[0].service.probes[0].name", "missing");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p'}]}"),
	    "steps[0].service.probes[0]", "neither run nor http");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','run':'x',"
		       "'http':'http://127.0.0.1:80/'}]}"),
	    "steps[0].service.probes[0]", "both run and http");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','run':'x'},{'name':'p','run':'y'}]}"),
	    "steps[0].service.probes[1].name", "duplicate probe name");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','run':'x','except':{}}]}"),
	    "steps[0].service.probes[0].except",
	    "unknown key (expected one of: name, run, http, expect, timeout_s)");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','run':'x',"
		       "'expect':{'stdout_matches':'a(b'}}]}"),
	    "steps[0].service.probes[0].expect.stdout_matches", "invalid regular expression");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','run':'x',"
		       "'expect':{'stdout_matches':''}}]}"),
	    "steps[0].service.probes[0].expect.stdout_matches", "non-empty");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','run':'x',"
		       "'expect':{'stdout_contains':''}}]}"),
	    "steps[0].service.probes[0].expect.stdout_contains", "non-empty");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','run':'x',"
		       "'expect':{'exit':256}}]}"),
	    "steps[0].service.probes[0].expect.exit", "from 0 to 255");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','run':'x',"
		       "'expect':{'exit_code':0}}]}"),
	    "steps[0].service.probes[0].expect.exit_code",
	    "unknown key (expected one of: exit, stdout_contains, stdout_matches, http_status)");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','run':'x',"
		       "'expect':{'http_status':200}}]}"),
	    "steps[0].service.probes[0].expect.http_status", "not allowed for a run probe");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','http':'http://127.0.0.1:80/',"
		       "'expect':{'exit':0}}]}"),
	    "steps[0].service.probes[0].expect.exit", "not allowed for an http probe");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':[{'name':'p','http':'http://127.0.0.1:80/',"
		       "'expect':{'http_status':600}}]}"),
	    "steps[0].service.probes[0].expect.http_status", "from 100 to 599");
	bad(f, SERVICE("{'ready':{'tcp':80},'probes':{}}"), "steps[0].service.probes",
	    "expected an array");
}

static void test_net_mode(void)
{
	sg_net_mode m = SG_NET_HOST;
	tap_ok(sg_net_mode_parse("none", &m) == 0 && m == SG_NET_NONE, "parse none");
	tap_ok(sg_net_mode_parse("loopback", &m) == 0 && m == SG_NET_LOOPBACK, "parse loopback");
	tap_ok(sg_net_mode_parse("host", &m) == 0 && m == SG_NET_HOST, "parse host");
	tap_ok(sg_net_mode_parse("Host", &m) < 0 && m == SG_NET_HOST, "parse is case-sensitive");
	tap_ok(sg_net_mode_parse(NULL, &m) < 0, "parse NULL");
	tap_is_str(sg_net_mode_name(SG_NET_NONE), "none", "name none");
	tap_is_str(sg_net_mode_name((sg_net_mode)42), "unknown", "name of a bad value");
}

int main(void)
{
	fx f;
	sg_error err = {0};
	fx_setup(&f);
	test_contract_example(&f);
	test_defaults(&f);
	test_options(&f);
	test_file_errors(&f);
	test_syntax(&f);
	test_top_level(&f);
	test_paths(&f);
	test_rootfs_images(&f);
	test_env_limits(&f);
	test_mounts(&f);
	test_steps(&f);
	test_tests(&f);
	test_service(&f);
	test_net_mode();
	if (sg_rm_rf(f.root, &err) < 0)
		printf("# cleanup: %s\n", err.msg);
	return tap_done();
}
