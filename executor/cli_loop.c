/* cli_loop.c: `shipgate loop JOB.json --agent 'CMD' [--max-attempts N]`: the seed's
 * delivery loop. agent -> run (every step in the sandbox) -> verify -> decide -> SHIP, or
 * the diagnosis back to the agent and another attempt, up to N.
 *
 * The agent is the user's own tool and runs on the host, never graded by itself: after it
 * exits, the job (loaded once, before the first attempt, so the agent cannot weaken its
 * checks) runs in the sandbox, the signed verdict is read back from disk and verified,
 * and only then decided on, with the workspace required to be what was verified. Every
 * attempt, run, decision and diagnosis goes to the ledger. Exit codes: 0 shipped,
 * 1 gave up after N attempts, 2 usage, 3 infrastructure error. */
#include "cli.h"
#include "cli_common.h"
#include "digest.h"
#include "publish.h"
#include "ledger.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static void loop_usage(FILE *out)
{
	fprintf(out,
		"usage: shipgate loop JOB.json --agent 'CMD' [--max-attempts N] [--key KEY.pem]\n"
		"\n"
		"Run the agent command (on the host, in the job's directory), then verify its work:\n"
		"run the job in the sandbox, verify the signed verdict, decide. SHIP ends the loop;\n"
		"otherwise the diagnosis goes back to the agent for the next attempt.\n"
		"\n"
		"The agent's environment has SHIPGATE_ATTEMPT (1, 2, ...), SHIPGATE_MAX_ATTEMPTS,\n"
		"SHIPGATE_DIAGNOSIS (the previous attempt's diagnosis.md; unset on the first),\n"
		"SHIPGATE_WORKSPACE, SHIPGATE_LEDGER and SHIPGATE_JOB.\n"
		"\n"
		"options:\n"
		"  --agent CMD          the agent, run with /bin/sh -c (required)\n"
		"  --max-attempts N     give up after N attempts (default 3)\n"
		"  --agent-timeout S    kill an agent that runs longer (default 3600)\n"
		"  --key KEY.pem        the signing key (default: the user's default key)\n"
		"  --out DIR            where each attempt's out dir goes (default: JOBDIR/shipgate-out)\n"
		"  --allow-weaker       run even if a limit cannot be enforced (it will not ship)\n"
		"  -q, --quiet          less output\n"
		"  -h, --help           this help\n"
		"\n"
		"exit codes: 0 shipped, 1 gave up after N attempts, 2 usage, 3 infrastructure error\n");
}

typedef struct loop_args {
	const char *job_path, *agent, *key_path, *out_dir;
	unsigned max_attempts;
	unsigned agent_timeout_s;
	bool quiet, allow_weaker;
} loop_args;

typedef struct agent_outcome {
	bool started;
	int exit_code;
	int signal;
	bool timed_out;
	bool interrupted;
	bool leftovers;  /* what it left running could not be stopped */
	uint64_t wall_ms;
} agent_outcome;

/* Kill every process of ours but the one we mean to keep (the key's signer): after the
 * agent exits, what it left running (daemons, setsid'd children: as a child subreaper we
 * inherit them all) must not go on changing the workspace while the job is verified. */
static bool kill_leftover_children(pid_t keep)
{
	/* each round kills our children; their children become ours (child subreaper) and
	 * go in the next one: a chain of any depth, or a fork loop, is down in at most a few
	 * seconds, or we say we could not stop it */
	uint64_t deadline = sg_monotonic_ms() + 10000;
	while (sg_monotonic_ms() < deadline) {
		DIR *d = opendir("/proc");
		if (!d)
			return false;
		int found = 0;
		pid_t self = getpid();
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			char *end;
			long pid = strtol(de->d_name, &end, 10);
			if (*end || pid <= 1)
				continue;
			char path[64];
			snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
			sg_autofree char *st = NULL;
			if (sg_read_file(path, 4096, &st, NULL, NULL) < 0)
				continue;
			char *paren = strrchr(st, ')');
			long ppid = 0;
			char state = 0;
			if (!paren || sscanf(paren + 2, "%c %ld", &state, &ppid) != 2 || ppid != self ||
			    pid == keep)
				continue;
			if (state != 'Z')
				kill((pid_t)pid, SIGKILL);
			found++;
		}
		closedir(d);
		/* done only when a whole scan finds no child: a killed one's children become
		 * ours only as it dies, after the scan that saw it */
		if (found == 0)
			return true;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		usleep(1000);
	}
	return false;
}

/* The signing key (--key, else the user's default), checked to lie where no step of the
 * job can read it; NULL with err set. */
static sg_key *load_key(const sg_job *job, const loop_args *a, char **key_path, sg_error *err)
{
	sg_key *key = sg_cli_load_signing_key(job, a->key_path, key_path, err);
	if (key && sg_key_check_hidden(job, a->key_path ? "--key" : "default signing key", *key_path, err) < 0) {
		sg_key_free(key);
		return NULL;
	}
	return key;
}

/* Run the agent (in the foreground: it may be interactive), with a timeout; ^C stops it. */
static void run_agent(const loop_args *a, const sg_job *job, unsigned attempt, const char *diagnosis,
		      const char *ledger, pid_t keep, agent_outcome *out)
{
	memset(out, 0, sizeof(*out));
	uint64_t t0 = sg_monotonic_ms();
	pid_t pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%u", attempt);
		setenv("SHIPGATE_ATTEMPT", buf, 1);
		snprintf(buf, sizeof(buf), "%u", a->max_attempts);
		setenv("SHIPGATE_MAX_ATTEMPTS", buf, 1);
		if (diagnosis)
			setenv("SHIPGATE_DIAGNOSIS", diagnosis, 1);
		else
			unsetenv("SHIPGATE_DIAGNOSIS");
		setenv("SHIPGATE_WORKSPACE", job->workspace, 1);
		setenv("SHIPGATE_LEDGER", ledger, 1);
		setenv("SHIPGATE_JOB", job->path, 1);
		if (chdir(job->dir) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execl("/bin/sh", "sh", "-c", a->agent, (char *)NULL);
		_exit(127);
	}
	out->started = true;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	uint64_t deadline = t0 + (uint64_t)a->agent_timeout_s * 1000;
	int status = 0;
	bool done = false;
	while (!done) {
		uint64_t now = sg_monotonic_ms();
		if (sg_cli_interrupted && !out->interrupted) {
			kill(pid, SIGKILL);
			out->interrupted = true;
		} else if (now >= deadline && !out->timed_out) {
			kill(pid, SIGKILL);
			out->timed_out = true;
		}
		if (pidfd >= 0) {
			struct pollfd p = {.fd = pidfd, .events = POLLIN};
			int wait_ms = now < deadline ? (int)(deadline - now) : 100;
			if (wait_ms > 200)
				wait_ms = 200;
			if (poll(&p, 1, wait_ms) <= 0)
				continue; /* timeout, or a signal: look at the flags again */
		} else {
			usleep(50000);
		}
		pid_t r = waitpid(pid, &status, WNOHANG);
		done = r == pid || (r < 0 && errno != EINTR);
	}
	if (pidfd >= 0)
		close(pidfd);
	out->leftovers = !kill_leftover_children(keep);
	out->wall_ms = sg_monotonic_ms() - t0;
	if (WIFEXITED(status))
		out->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		out->signal = WTERMSIG(status);
}

/* The bytes the job's checks rest on beyond the job file itself: the read-only mounts
 * (acceptance tests) and policy files. The agent runs between attempts on the host and
 * could change them; the loop takes their digests once and stops if they move. */
static char *inputs_digest(const sg_job *job, char *what, size_t what_len)
{
	sg_sha256 *h = sg_sha256_new();
	for (size_t i = 0; i < job->n_mounts; i++) {
		if (!job->mounts[i].readonly)
			continue;
		char hex[SG_SHA256_HEX_LEN];
		sg_error e = {0};
		if (sg_tree_digest(job->mounts[i].source, NULL, hex, NULL, &e) < 0)
			snprintf(hex, sizeof(hex), "unreadable");
		sg_sha256_update(h, job->mounts[i].target, strlen(job->mounts[i].target) + 1);
		sg_sha256_update(h, hex, strlen(hex) + 1);
	}
	const char *policies[1 + 1024];
	size_t n = 0;
	if (strchr(job->policy, '/'))
		policies[n++] = job->policy;
	for (size_t i = 0; i < job->n_steps && n < SG_ARRAY_LEN(policies); i++)
		if (job->steps[i].policy && strchr(job->steps[i].policy, '/'))
			policies[n++] = job->steps[i].policy;
	for (size_t i = 0; i < n; i++) {
		char hex[SG_SHA256_HEX_LEN];
		if (sg_sha256_file(policies[i], hex, NULL) < 0)
			snprintf(hex, sizeof(hex), "unreadable");
		sg_sha256_update(h, policies[i], strlen(policies[i]) + 1);
		sg_sha256_update(h, hex, strlen(hex) + 1);
	}
	snprintf(what, what_len, "%zu read-only mount%s and %zu policy file%s", job->n_mounts,
		 job->n_mounts == 1 ? "" : "s", n, n == 1 ? "" : "s");
	char out[SG_SHA256_HEX_LEN];
	sg_sha256_final_hex(h, out);
	return sg_xstrdup(out);
}

static char *make_loop_id(void)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	return sg_xasprintf("%s-%d", stamp, (int)getpid());
}

static void ledger_note(const char *ledger, const char *type, cJSON *f)
{
	sg_error err = {0};
	if (sg_ledger_append(ledger, type, f, &err) < 0)
		fprintf(stderr, "shipgate loop: warning: ledger: %s\n", err.msg);
}

static int parse_args(int argc, char **argv, loop_args *a, bool *done)
{
	static const struct option opts[] = {
		{"agent", required_argument, NULL, 'a'},       {"max-attempts", required_argument, NULL, 'n'},
		{"agent-timeout", required_argument, NULL, 't'}, {"key", required_argument, NULL, 'k'},
		{"out", required_argument, NULL, 'o'},         {"allow-weaker", no_argument, NULL, 'w'},
		{"quiet", no_argument, NULL, 'q'},             {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*done = true;
	memset(a, 0, sizeof(*a));
	a->max_attempts = 3;
	a->agent_timeout_s = 3600;
	optind = 1;
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': a->agent = optarg; break;
		case 'n':
			if (!sg_parse_u64(optarg, &v) || v < 1 || v > 1000) {
				fprintf(stderr, "shipgate loop: --max-attempts: expected 1 to 1000, got '%s'\n", optarg);
				return 2;
			}
			a->max_attempts = (unsigned)v;
			break;
		case 't':
			if (!sg_parse_u64(optarg, &v) || v < 1 || v > 7 * 86400) {
				fprintf(stderr, "shipgate loop: --agent-timeout: expected seconds (1 to 604800), got '%s'\n",
					optarg);
				return 2;
			}
			a->agent_timeout_s = (unsigned)v;
			break;
		case 'k': a->key_path = optarg; break;
		case 'o': a->out_dir = optarg; break;
		case 'w': a->allow_weaker = true; break;
		case 'q': a->quiet = true; break;
		case 'h': loop_usage(stdout); return 0;
		default: loop_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || !a->agent || !*a->agent) {
		fprintf(stderr, "shipgate loop: %s\n", optind != argc - 1 ? "expected one JOB.json" : "--agent CMD is required");
		loop_usage(stderr);
		return 2;
	}
	a->job_path = argv[optind];
	*done = false;
	return 0;
}

int sg_cli_loop(int argc, char **argv)
{
	loop_args a;
	bool done;
	int rc = parse_args(argc, argv, &a, &done);
	if (done)
		return rc;
	sg_error err = {0};
	sg_job *job = sg_job_load(a.job_path, &err);
	if (!job) {
		fprintf(stderr, "shipgate loop: %s\n", err.msg);
		return 2;
	}
	/* lean as run's: the key is held by a signer process (which signs the verdicts and
	 * checks them), libcrypto with it */
	sg_key_crypto_in_child(true);
	sg_autofree char *key_path = NULL;
	sg_key *key = load_key(job, &a, &key_path, &err);
	if (!key) {
		fprintf(stderr, "shipgate loop: %s\n", err.msg);
		sg_job_free(job);
		return 2;
	}
	sg_autofree char *loop_id = make_loop_id();
	sg_autofree char *ledger = sg_cli_ledger_path_for_job(job->path);
	sg_autofree char *out_base = a.out_dir ? sg_xstrdup(a.out_dir) : sg_xasprintf("%s/shipgate-out", job->dir);
	if (sg_mkdir_p(out_base, 0755, &err) < 0) {
		fprintf(stderr, "shipgate loop: %s\n", err.msg);
		sg_key_free(key);
		sg_job_free(job);
		return 3;
	}
	/* one loop per job at a time: two would write the same attempt dirs */
	sg_autofree char *lock_dir = sg_xasprintf("%s/.shipgate", job->dir);
	sg_autofree char *lock_path = sg_xasprintf("%s/loop.lock", lock_dir);
	int lock_fd = -1;
	if (sg_mkdir_p(lock_dir, 0755, &err) == 0)
		lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "shipgate loop: %s: %s\n", lock_path,
			lock_fd < 0 ? strerror(errno) : "another loop is running on this job");
		if (lock_fd >= 0)
			close(lock_fd);
		sg_key_free(key);
		sg_job_free(job);
		return 2;
	}
	/* the agent's daemons become ours when it exits, so that we can stop them */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	char inputs_what[128];
	sg_autofree char *inputs = inputs_digest(job, inputs_what, sizeof(inputs_what));
	sg_ship_policy policy;
	sg_ship_policy_default(&policy);
	char *diagnosis = NULL;
	int exit_code = 1;
	if (!a.quiet)
		printf("shipgate loop %s: %s, up to %u attempts, ledger %s\n", loop_id, job->name, a.max_attempts, ledger);
	for (unsigned attempt = 1; attempt <= a.max_attempts; attempt++) {
		if (!a.quiet)
			printf("\n== attempt %u/%u: agent\n", attempt, a.max_attempts);
		fflush(stdout);
		agent_outcome ag;
		run_agent(&a, job, attempt, diagnosis, ledger, sg_key_signer_pid(key), &ag);
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "loop", loop_id);
		cJSON_AddNumberToObject(f, "attempt", attempt);
		cJSON_AddNumberToObject(f, "wall_ms", (double)ag.wall_ms);
		if (ag.signal)
			cJSON_AddNumberToObject(f, "signal", ag.signal);
		else
			cJSON_AddNumberToObject(f, "exit_code", ag.exit_code);
		cJSON_AddBoolToObject(f, "timed_out", ag.timed_out);
		/* the agent runs as we do: it can kill the key's signer process. Then the key is
		 * read again (a new signer), and the agent's record says so */
		bool signer_killed = sg_key_signer_gone(key);
		if (signer_killed)
			cJSON_AddBoolToObject(f, "signer_killed", true);
		ledger_note(ledger, "agent", f);
		if (signer_killed) {
			fprintf(stderr, "shipgate loop: the agent ended the signing key's process (shipgate-signer); "
					"reading the key again\n");
			sg_key_free(key);
			free(sg_steal_ptr(&key_path));
			key = load_key(job, &a, &key_path, &err);
			if (!key) {
				fprintf(stderr, "shipgate loop: the signing key again: %s\n", err.msg);
				exit_code = 3;
				break;
			}
		}
		if (ag.interrupted || sg_cli_interrupted) {
			fprintf(stderr, "shipgate loop: interrupted\n");
			exit_code = 128 + (sg_cli_interrupted ? sg_cli_interrupted : SIGINT);
			break;
		}
		if (ag.leftovers) {
			/* something of the agent's still runs and could change the workspace while
			 * it is judged: no verification is honest now */
			fprintf(stderr, "shipgate loop: processes the agent left running could not be stopped within "
					"10 s; stopping\n");
			exit_code = 3;
			break;
		}
		if (!ag.started || ag.timed_out || ag.signal) {
			/* the agent's own failure, not the candidate's: say so, try again */
			if (!ag.started)
				printf("attempt %u: the agent could not be started\n", attempt);
			else if (ag.timed_out)
				printf("attempt %u: the agent timed out after %u s and was killed (not a candidate failure)\n",
				       attempt, a.agent_timeout_s);
			else
				printf("attempt %u: the agent crashed (signal %d, SIG%s) (not a candidate failure)\n", attempt,
				       ag.signal, sigabbrev_np(ag.signal) ? sigabbrev_np(ag.signal) : "?");
			continue;
		}
		if (ag.exit_code != 0 && !a.quiet)
			printf("attempt %u: the agent exited with status %d; verifying its work anyway\n", attempt,
			       ag.exit_code);

		char now_what[128];
		sg_autofree char *inputs_now = inputs_digest(job, now_what, sizeof(now_what));
		if (strcmp(inputs_now, inputs) != 0) {
			fprintf(stderr, "shipgate loop: the job's acceptance inputs (%s) changed since the loop "
					"started: the agent must not change the checks; stopping\n", inputs_what);
			cJSON *tf = cJSON_CreateObject();
			cJSON_AddStringToObject(tf, "loop", loop_id);
			cJSON_AddNumberToObject(tf, "attempt", attempt);
			cJSON_AddStringToObject(tf, "what", "the job's read-only mounts or policy files changed");
			ledger_note(ledger, "tamper", tf);
			exit_code = 3;
			break;
		}
		sg_autofree char *out_dir = sg_xasprintf("%s/attempt-%u", out_base, attempt);
		sg_autofree char *label = sg_xasprintf("== attempt %u/%u: shipgate run", attempt, a.max_attempts);
		sg_cli_run_opts ro = {.out_dir = out_dir, .label = label, .quiet = a.quiet, .allow_weaker = a.allow_weaker};
		sg_run_result result = SG_RESULT_ERROR;
		int run_rc = sg_cli_run_job(job, &ro, key, &result);
		cJSON *rf = cJSON_CreateObject();
		cJSON_AddStringToObject(rf, "loop", loop_id);
		cJSON_AddNumberToObject(rf, "attempt", attempt);
		cJSON_AddStringToObject(rf, "result", run_rc == 2 ? "ERROR" : sg_run_result_name(result));
		cJSON_AddStringToObject(rf, "out", out_dir);
		ledger_note(ledger, "run", rf);
		if (sg_cli_interrupted) {
			exit_code = 128 + sg_cli_interrupted; /* as run: 130 for SIGINT, 143 for SIGTERM */
			break;
		}
		if (run_rc == 2 || run_rc == 3) {
			fprintf(stderr, "shipgate loop: the sandbox could not run the job (infrastructure, not the "
					"candidate); stopping\n");
			exit_code = run_rc == 2 ? 2 : 3;
			break;
		}
		sg_autofree char *verdict = sg_xasprintf("%s/verdict.dsse.json", out_dir);
		sg_cli_decide_opts dopts = {.verdict = verdict, .trusted = key, .workspace = job->workspace,
					    .out_dir = out_dir, .ledger = ledger, .loop_id = loop_id,
					    .attempt = attempt, .policy = &policy};
		sg_cli_decision d;
		int drc = sg_cli_decide_verdict(&dopts, &d);
		if (drc == 2 || drc == 3) {
			fprintf(stderr, "shipgate loop: our own verdict was %s: %s\n", drc == 3 ? "REJECTED" : "unreadable",
				d.reject);
			sg_cli_decision_free(&d);
			exit_code = 3;
			break;
		}
		if (d.ledger_warning)
			fprintf(stderr, "shipgate loop: warning: %s\n", d.ledger_warning);
		if (drc == 0) {
			cJSON *sf = cJSON_CreateObject();
			cJSON_AddStringToObject(sf, "loop", loop_id);
			cJSON_AddNumberToObject(sf, "attempt", attempt);
			cJSON_AddStringToObject(sf, "workspace_sha256", d.workspace_sha256);
			cJSON_AddStringToObject(sf, "verdict", verdict);
			ledger_note(ledger, "ship", sf);
			printf("\nSHIP at attempt %u/%u: %s\nverdict: %s\n", attempt, a.max_attempts, d.d.summary, verdict);
			sg_cli_decision_free(&d);
			exit_code = 0;
			break;
		}
		printf("DIAGNOSE: %s: %s\n", sg_diag_category_name(d.d.category), d.d.summary);
		if (d.seen_note)
			printf("seen before: %s\n", d.seen_note);
		printf("diagnosis: %s\n", d.diagnosis_md);
		cJSON *df = cJSON_CreateObject();
		cJSON_AddStringToObject(df, "loop", loop_id);
		cJSON_AddNumberToObject(df, "attempt", attempt);
		cJSON_AddStringToObject(df, "signature", d.d.signature);
		cJSON_AddStringToObject(df, "category", sg_diag_category_name(d.d.category));
		cJSON_AddStringToObject(df, "path", d.diagnosis_md);
		if (d.seen_note)
			cJSON_AddStringToObject(df, "seen_before", d.seen_note);
		ledger_note(ledger, "diagnosis", df);
		/* the latest diagnosis also sits at the top of the out dir */
		sg_autofree char *latest = sg_xasprintf("%s/diagnosis.md", out_base);
		sg_autofree char *md = NULL;
		size_t md_len = 0;
		if (sg_read_file(d.diagnosis_md, 1 << 22, &md, &md_len, &err) == 0)
			(void)sg_write_file_atomic(latest, md, md_len, 0644, &err);
		free(diagnosis);
		diagnosis = sg_xstrdup(d.diagnosis_md);
		sg_cli_decision_free(&d);
		if (attempt == a.max_attempts)
			printf("\ngave up after %u attempts; the last diagnosis is %s\n", a.max_attempts, diagnosis);
	}
	free(diagnosis);
	close(lock_fd);
	sg_key_free(key);
	sg_job_free(job);
	return exit_code;
}
