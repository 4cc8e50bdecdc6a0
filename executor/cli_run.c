/* cli_run.c: `shipgate run JOB.json`: run the job's steps, write the out dir (the
 * statement, the signed verdict, the logs), print one line per step. Exit codes:
 * 0 PASSED, 1 FAILED, 2 usage, job-file or key error (nothing ran), 3 infrastructure
 * error (the sandbox could not be set up as asked, or the verdict could not be written).
 *
 * The signing key is loaded before anything runs, and refused if it lies where the
 * job's steps could read it. */
#include "cli.h"
#include "cli_common.h"
#include "events.h"
#include "publish.h"
#include "run.h"
#include "sign.h"
#include "util.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: shipgate run JOB.json [--out DIR] [--key KEY.pem] [--vsa] [--json] [--events FD|FILE]\n"
		"                    [--quiet]\n"
		"\n"
		"Run the job's steps in order, each in a fresh sandbox over one copy-on-write\n"
		"workspace, and write the verdict and the logs under DIR (default: shipgate-out/\n"
		"beside the job file).\n"
		"\n"
		"options:\n"
		"  --out DIR         where to write statement.json, verdict.dsse.json, logs/\n"
		"                    (default: JOBDIR/shipgate-out)\n"
		"  --key KEY.pem     sign with this Ed25519 private key (default: the user's key,\n"
		"                    $XDG_STATE_HOME/shipgate/" SG_KEY_FILE_NAME ", made on first use)\n"
		"  --vsa             also write vsa.dsse.json, a signed SLSA Verification\n"
		"                    Summary Attestation of the verdict\n"
		"  --json            print the verdict's statement on stdout instead of a summary\n"
		"  --events FD|FILE  stream the job's progress as JSON, one object per line, to\n"
		"                    file descriptor FD (digits, open for writing) or FILE: a file\n"
		"                    (truncated), or a FIFO whose reader is running\n"
		"                    (docs/events.md; ./NAME for a name that starts with a digit,\n"
		"                    '-' or '+')\n"
		"  --base-dir DIR    with JOB.json \"-\": read the job from stdin, its paths\n"
		"                    relative to DIR (its name DIR/<inline job>)\n"
		"  --job-path PATH   with JOB.json \"-\": read the job from stdin as if it were\n"
		"                    the file PATH (its name, its paths relative to PATH's dir)\n"
		"  --key-fd N        read the signing key's PEM from descriptor N instead of a\n"
		"                    file: a pipe (whoever sends it checks that the steps cannot\n"
		"                    read where it came from), or a file open on N, held to\n"
		"                    --key's rules (outside what the steps see, one hard link)\n"
		"  --die-with-parent PID\n"
		"                    PID is our parent: when it ends, stop as on SIGTERM (the\n"
		"                    step killed, an ERROR verdict); exit 3 if it already has\n"
		"  --allow-weaker    run even if a limit cannot be enforced (recorded in the verdict)\n"
		"  --no-trace        do not write the runtime trace (trace/STEP.jsonl; on by default)\n"
		"  -q, --quiet       print nothing but errors (and, once, that a key was made)\n"
		"  -h, --help        this help\n"
		"\n"
		"exit codes: 0 PASSED, 1 FAILED, 2 usage, job-file or key error,\n"
		"3 infrastructure error\n");
}

typedef struct run_ui {
	FILE *out;
	bool quiet;
	bool tty;
	size_t n_steps;
	size_t name_width;
} run_ui;

static void ui_step_started(void *ctx, size_t i, const sg_step *step)
{
	run_ui *ui = ctx;
	if (ui->quiet || !ui->tty)
		return;
	fprintf(ui->out, "  [%zu/%zu] %-*s running...", i + 1, ui->n_steps, (int)ui->name_width, step->name);
	fflush(ui->out);
}

static const char *status_color(sg_step_status s)
{
	return s == SG_STEP_PASSED ? "\033[32m" : s == SG_STEP_SKIPPED ? "\033[2m" : "\033[31m";
}

static void print_step_line(const run_ui *ui, size_t i, const sg_step_record *rec)
{
	const char *st = sg_step_status_name(rec->status);
	if (ui->tty)
		fprintf(ui->out, "\r\033[K");
	fprintf(ui->out, "  [%zu/%zu] %-*s ", i + 1, ui->n_steps, (int)ui->name_width, rec->step->name);
	if (ui->tty)
		fprintf(ui->out, "%s%-12s\033[0m", status_color(rec->status), st);
	else
		fprintf(ui->out, "%-12s", st);
	if (rec->ran && rec->n_runs > 1) {
		uint64_t total = 0;
		for (unsigned k = 0; k < rec->n_runs; k++)
			total += rec->runs[k].result.wall_ms;
		fprintf(ui->out, " %7.2f s (%u runs)", (double)total / 1000.0, rec->n_runs);
	} else if (rec->ran) {
		fprintf(ui->out, " %7.2f s", (double)rec->result.wall_ms / 1000.0);
	}
	if (rec->status != SG_STEP_PASSED && rec->status != SG_STEP_SKIPPED && rec->reason)
		fprintf(ui->out, "  %s", rec->reason);
	fprintf(ui->out, "\n");
	fflush(ui->out);
}

static void ui_step_finished(void *ctx, size_t i, const sg_step_record *rec)
{
	run_ui *ui = ctx;
	if (!ui->quiet)
		print_step_line(ui, i, rec);
}

/* ---- the signing key ----------------------------------------------------------------- */

/* --key, or the user's default key, made on first use. */
sg_key *sg_cli_load_signing_key(const sg_job *job, const char *path, char **used, sg_error *err)
{
	if (path) {
		sg_key *key = sg_key_load_private(path, err);
		if (!key) {
			sg_error_prefix(err, "--key");
			return NULL;
		}
		*used = sg_xstrdup(path);
		return key;
	}
	sg_autofree char *dir = sg_key_default_dir(err);
	if (!dir)
		return NULL;
	/* before it is made: a key created where the steps can read it is already lost */
	if (job && sg_key_check_hidden(job, "default signing key directory", dir, err) < 0)
		return NULL;
	bool created = false;
	sg_autofree char *pub = NULL;
	sg_key *key = sg_key_load_or_create(dir, &created, used, &pub, err);
	if (!key) {
		sg_error_prefix(err, "default signing key (pass --key KEY.pem for another)");
		return NULL;
	}
	/* said even with --quiet: a secret was just written to the user's home */
	if (created)
		fprintf(stderr, "shipgate run: created your signing key %s (public key %s, %s)\n", *used,
			pub, sg_key_id(key));
	return key;
}

typedef struct run_args {
	const char *job_path;
	const char *base_dir;  /* with job "-": the directory the job's paths start from */
	const char *stdin_path; /* with job "-": the job file it stands for (--job-path) */
	const char *key_path;
	const char *key_fd;    /* the key's PEM on this descriptor (--key-fd) */
	const char *events;
	const char *parent;    /* --die-with-parent PID */
	sg_cli_run_opts o;
} run_args;

/* Parse the command line; when *done (--help, a usage error), return the exit code. */
static int parse_args(int argc, char **argv, run_args *a, bool *done)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},
		{"key", required_argument, NULL, 'k'},
		{"vsa", no_argument, NULL, 'V'},
		{"json", no_argument, NULL, 'j'},
		{"events", required_argument, NULL, 'e'},
		{"base-dir", required_argument, NULL, 'B'},
		{"job-path", required_argument, NULL, 'P'},
		{"key-fd", required_argument, NULL, 'K'},
		{"die-with-parent", required_argument, NULL, 'D'},
		{"allow-weaker", no_argument, NULL, 'w'},
		{"no-trace", no_argument, NULL, 'T'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*done = false;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': a->o.out_dir = optarg; break;
		case 'k': a->key_path = optarg; break;
		case 'V': a->o.vsa = true; break;
		case 'j': a->o.json = true; break;
		case 'e': a->events = optarg; break;
		case 'B': a->base_dir = optarg; break;
		case 'P': a->stdin_path = optarg; break;
		case 'K': a->key_fd = optarg; break;
		case 'D': a->parent = optarg; break;
		case 'w': a->o.allow_weaker = true; break;
		case 'T': a->o.no_trace = true; break;
		case 'q': a->o.quiet = true; break;
		case 'h': run_usage(stdout); *done = true; return 0;
		default: run_usage(stderr); *done = true; return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, optind >= argc ? "shipgate run: no job file given\n"
					       : "shipgate run: exactly one job file expected\n");
		run_usage(stderr);
		*done = true;
		return 2;
	}
	a->job_path = argv[optind];
	bool from_stdin = !strcmp(a->job_path, "-");
	const char *wrong = NULL;
	if (a->base_dir && a->stdin_path)
		wrong = "--base-dir and --job-path are two ways to say one thing: give one";
	else if (!from_stdin && (a->base_dir || a->stdin_path))
		wrong = a->base_dir ? "--base-dir goes with the job read from stdin (-)"
				    : "--job-path goes with the job read from stdin (-)";
	else if (from_stdin && !a->base_dir && !a->stdin_path)
		wrong = "a job read from stdin (-) needs --base-dir DIR or --job-path PATH";
	else if (a->key_path && a->key_fd)
		wrong = "--key and --key-fd are two keys: give one";
	if (wrong) {
		fprintf(stderr, "shipgate run: %s\n", wrong);
		*done = true;
		return 2;
	}
	return 0;
}

/* --json: statement.json's bytes on stdout, copied from the file in pieces; made again
 * when it could not be written. -1 when stdout did not get them all (said on stderr). */
static int print_statement(const sg_run *run, const sg_published *pub)
{
	int out = 1;
	sg_autoclose int fd = pub->statement_len ? open(pub->statement_path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0) {
		int rc = sg_verdict_statement_write(run, sg_statement_sink_fd, &out, NULL);
		if (rc < 0)
			fprintf(stderr, "shipgate run: --json: writing the statement: %s\n", strerror(-rc));
		return rc < 0 ? -1 : 0;
	}
	char buf[16384];
	ssize_t n;
	while ((n = SG_RETRY(read(fd, buf, sizeof(buf)))) > 0) {
		if (sg_write_all(out, buf, (size_t)n) < 0) {
			fprintf(stderr, "shipgate run: --json: writing the statement to stdout: %s\n", strerror(errno));
			return -1;
		}
	}
	if (n < 0) {
		fprintf(stderr, "shipgate run: --json: reading %s: %s\n", pub->statement_path, strerror(errno));
		return -1;
	}
	return 0;
}

int sg_cli_run_job(const sg_job *job, const sg_cli_run_opts *a, const sg_key *key, sg_run_result *result)
{
	run_ui ui = {.out = a->json ? stderr : stdout, .quiet = a->quiet, .n_steps = job->n_steps};
	ui.tty = isatty(fileno(ui.out));
	for (size_t i = 0; i < job->n_steps; i++) {
		size_t l = strlen(job->steps[i].name);
		if (l > ui.name_width)
			ui.name_width = l;
	}
	if (!a->quiet)
		fprintf(ui.out, "%s: %s (%zu step%s), workspace %s\n", a->label ? a->label : "shipgate run",
			job->name, job->n_steps,
			job->n_steps == 1 ? "" : "s", job->workspace);
	if (a->no_trace)
		fprintf(stderr, "shipgate run: --no-trace: denied calls are not watched, so the verdict records "
				"violations as unknown and `shipgate decide` will not ship it\n");
	sg_run_events ev = {.step_started = ui_step_started, .step_finished = ui_step_finished, .ctx = &ui};
	/* the event stream, when asked for, sees the same hooks after the progress lines */
	sg_event_sink sink;
	sg_event_sink_init(&sink);
	sink.fd = a->events_fd > 0 ? a->events_fd : -1;
	sink.id = a->events_id;
	sink.job_name = job->name;
	sink.chain = &ev;
	sg_run_events hooks = sg_event_sink_hooks(&sink);
	sg_run_options ro = {.out_dir = a->out_dir, .allow_weaker = a->allow_weaker, .no_trace = a->no_trace,
			     .events = a->events_fd > 0 ? &hooks : &ev,
			     .interrupted = &sg_cli_interrupted};
	sg_error err = {0};
	sg_run run;
	int exit_code;
	bool written = false;
	if (sg_run_job(job, &ro, &run, &err) < 0) {
		fprintf(stderr, "shipgate run: %s\n", err.msg);
		sg_event_error(&sink, &err);
		sg_run_free(&run);
		if (sg_cli_interrupted) /* stopped before the first step (the workspace digest) */
			return 128 + sg_cli_interrupted;
		return err.kind == SG_ERR_USAGE || err.kind == SG_ERR_INPUT ? 2 : 3;
	}
	sg_published pub;
	if (sg_publish_verdict(&run, key, a->vsa, &pub, &err) < 0) {
		fprintf(stderr, "shipgate run: writing the verdict: %s\n", err.msg);
		sg_error_prefix(&err, "writing the verdict");
		sg_event_error(&sink, &err);
		exit_code = 3;
	} else {
		sg_timing_mark("cli: verdict signed and written");
		written = true;
		sg_event_verdict_written(&sink, &run, &pub, sg_key_id(key));
		exit_code = run.result == SG_RESULT_PASSED ? 0 : run.result == SG_RESULT_FAILED ? 1 : 3;
		if (result)
			*result = run.result;
		if (run.interrupted)
			exit_code = 128 + (sg_cli_interrupted ? sg_cli_interrupted : 2);
	}
	/* a machine reading stdout got nothing whole: not a success, whatever the verdict
	 * (which is on disk all the same) */
	if (a->json && print_statement(&run, &pub) < 0 && exit_code < 128)
		exit_code = 3;
	if (!a->quiet) {
		for (size_t i = 0; i < run.n_steps; i++)
			if (run.steps[i].status == SG_STEP_SKIPPED)
				print_step_line(&ui, i, &run.steps[i]);
		fprintf(ui.out, "%s: %s\n", sg_run_result_name(run.result), run.reason);
		fprintf(ui.out, "evidence: %s/statement.json (logs in %s/logs)\n", run.out_dir, run.out_dir);
		if (written)
			fprintf(ui.out, "verdict: %s/verdict.dsse.json, signed by %s\n", run.out_dir,
				sg_key_id(key));
	}
	sg_published_free(&pub);
	sg_run_free(&run);
	return exit_code;
}

/* --events: an open file descriptor (digits), else a file or FIFO to write. What starts
 * like a number (a digit, '-', '+') must be a descriptor: "-1" or "3x" is a slip, not a
 * file to create (./3x is the file). A FIFO is opened without waiting for its reader,
 * which would hold the job before it starts: no reader is an error. */
static int open_events(const char *arg, sg_error *err)
{
	if ((arg[0] >= '0' && arg[0] <= '9') || arg[0] == '-' || arg[0] == '+') {
		uint64_t fd;
		if (!sg_parse_u64(arg, &fd))
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "--events %s: not a file descriptor (digits only; a file of that name is "
					    "./%s)", arg, arg);
		int fl = fd > INT32_MAX ? -1 : fcntl((int)fd, F_GETFL);
		if (fl < 0)
			return sg_error_set(err, SG_ERR_USAGE, EBADF, "--events %s", arg);
		if (fd <= 2)
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "--events %s: use a descriptor above 2 (or a file name)", arg);
		/* a descriptor open only for reading would take no event and say nothing:
		 * refused before anything runs (an O_PATH one has no access mode at all) */
		if ((fl & O_PATH) || ((fl & O_ACCMODE) != O_WRONLY && (fl & O_ACCMODE) != O_RDWR))
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "--events %s: file descriptor %s is not open for writing (open it "
					    "with %s>FILE or %s<>FILE)",
					    arg, arg, arg, arg);
		/* the steps' sandboxes never see it */
		(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		return (int)fd;
	}
	static const char what[] = "not a regular file, a FIFO or a character device";
	struct stat st;
	/* before opening it: opening a device can do something */
	if (stat(arg, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return sg_error_set(err, SG_ERR_USAGE, 0, "--events %s: %s", arg, what);
	sg_autoclose int fd = open(arg, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0 && errno == ENXIO)
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "--events %s: a FIFO with no reader (start the reader first)", arg);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_USAGE, errno, "--events %s", arg);
	if (fstat(fd, &st) < 0)
		return sg_error_set(err, SG_ERR_USAGE, errno, "--events %s", arg);
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return sg_error_set(err, SG_ERR_USAGE, 0, "--events %s: %s", arg, what);
	if (S_ISREG(st.st_mode) && ftruncate(fd, 0) < 0)
		return sg_error_set(err, SG_ERR_USAGE, errno, "--events %s: truncate", arg);
	/* written as a file descriptor given with digits is: a slow reader slows the job
	 * down, one that goes away ends the stream */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return sg_error_set(err, SG_ERR_USAGE, errno, "--events %s", arg);
	return sg_steal_fd(&fd);
}

/* The job: from its file, or (`-`) its text on stdin, as if it were the file --job-path
 * names or a file in --base-dir (libshipgate's sg_job_run hands its runner the job's
 * bytes so: what runs is what the caller's handle holds). */
static sg_job *read_job(const run_args *a, sg_error *err)
{
	if (strcmp(a->job_path, "-"))
		return sg_job_load(a->job_path, err);
	sg_buf text = {0};
	char buf[65536];
	ssize_t got;
	while ((got = SG_RETRY(read(0, buf, sizeof(buf)))) > 0 && text.len <= SG_JOB_MAX_BYTES)
		sg_buf_append(&text, buf, (size_t)got);
	sg_autofree char *origin =
		a->stdin_path ? sg_xstrdup(a->stdin_path) : sg_xasprintf("%s/<inline job>", a->base_dir);
	sg_job *job = NULL;
	if (got < 0)
		sg_error_set(err, SG_ERR_USAGE, errno, "reading the job from stdin");
	else if (text.len > SG_JOB_MAX_BYTES)
		sg_error_set(err, SG_ERR_USAGE, 0, "the job on stdin: more than %u bytes (1 MiB)", SG_JOB_MAX_BYTES);
	else
		job = sg_job_parse(origin, text.data ? text.data : "", text.len, err);
	sg_buf_free(&text);
	return job;
}

/* --die-with-parent PID: be sent SIGTERM when the parent ends, which does what ^C does
 * (the running step's sandbox killed, an ERROR verdict, interrupted). The parent is
 * checked after the request: had it ended before, the signal would never come. */
static int die_with_parent(const char *arg)
{
	uint64_t pid;
	if (!sg_parse_u64(arg, &pid) || pid < 1 || pid > INT32_MAX) {
		fprintf(stderr, "shipgate run: --die-with-parent %s: not a process id\n", arg);
		return 2;
	}
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0) {
		fprintf(stderr, "shipgate run: --die-with-parent: prctl PR_SET_PDEATHSIG: %s\n", strerror(errno));
		return 3;
	}
	if (getppid() != (pid_t)pid) {
		fprintf(stderr, "shipgate run: --die-with-parent %s: that process is not our parent (any more)\n", arg);
		return 3;
	}
	return 0;
}

/* --key-fd N: the private key's PEM text on descriptor N, read to its end and closed.
 * A pipe has no place the steps could read; a descriptor on a file (anything with a
 * path) is held to --key's rule, at the file it is open on: the command line must not
 * be a way round it. */
static sg_key *read_key_fd(const sg_job *job, const char *arg, sg_error *err)
{
	uint64_t fd;
	if (!sg_parse_u64(arg, &fd) || fd > INT32_MAX || fd <= 2 || fcntl((int)fd, F_GETFD) < 0) {
		sg_error_set(err, SG_ERR_USAGE, 0, "--key-fd %s: not an open file descriptor above 2", arg);
		return NULL;
	}
	sg_autofree char *origin = sg_xasprintf("--key-fd %s", arg);
	sg_key *key = NULL;
	if (sg_key_check_hidden_fd(job, origin, (int)fd, err) == 0)
		key = sg_key_read_private_fd((int)fd, origin, err);
	close((int)fd);
	return key;
}

/* Say why the job ends before it started: on stderr, and as the one `error` event. */
static int refuse(const run_args *a, const sg_job *job, const sg_error *err)
{
	fprintf(stderr, "shipgate run: %s\n", err->msg);
	if (a->o.events_fd > 0) {
		sg_event_sink sink;
		sg_event_sink_init(&sink);
		sink.fd = a->o.events_fd;
		sink.job_name = job ? job->name : NULL;
		sg_event_error(&sink, err);
	}
	/* the contract's 3 when shipgate could not do its part (libcrypto that cannot be
	 * loaded, no fork, a signer process that died); a key, a job or a key directory at
	 * fault is 2 */
	return err->kind == SG_ERR_INTERNAL ? 3 : 2;
}

int sg_cli_run(int argc, char **argv)
{
	run_args a = {0};
	bool done;
	int rc = parse_args(argc, argv, &a, &done);
	if (done)
		return rc;
	/* before anything else: from here on, the caller's end is ours */
	if (a.parent && (rc = die_with_parent(a.parent)) != 0)
		return rc;
	/* the supervisor stays lean: the key is held by a signer process, libcrypto with it */
	sg_key_crypto_in_child(true);
	sg_error err = {0};
	/* first, so that a job file that does not parse is told there too */
	if (a.events && (a.o.events_fd = open_events(a.events, &err)) < 0) {
		fprintf(stderr, "shipgate run: %s\n", err.msg);
		return 2;
	}
	sg_job *job = read_job(&a, &err);
	if (!job)
		return refuse(&a, NULL, &err);
	sg_autofree char *key_path = NULL;
	sg_timing_mark("cli: job loaded");
	sg_key *key = a.key_fd ? read_key_fd(job, a.key_fd, &err)
			       : sg_cli_load_signing_key(job, a.key_path, &key_path, &err);
	sg_timing_mark("cli: key loaded");
	/* a key from a descriptor was checked in read_key_fd (a pipe has no place to check:
	 * its sender checks the file it read, as libshipgate's sg_job_run does) */
	if (!key || (key_path && sg_key_check_hidden(job, a.key_path ? "--key" : "default signing key", key_path,
						     &err) < 0)) {
		rc = refuse(&a, job, &err);
		sg_key_free(key);
		sg_job_free(job);
		return rc;
	}
	rc = sg_cli_run_job(job, &a.o, key, NULL);
	sg_key_free(key);
	sg_job_free(job);
	return rc;
}
