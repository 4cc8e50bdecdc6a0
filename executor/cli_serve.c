/* cli_serve.c: `shipgate serve --socket PATH [--jobs N] [--grace S] [caps]`: the local daemon
 * (serve.c, docs/serve.md). Exit codes: 0 drained after SIGTERM/SIGINT, 2 usage (or the
 * socket is taken), 3 infrastructure. */
#include "cli.h"
#include "serve.h"
#include "util.h"

#include <getopt.h>
#include <string.h>

static void serve_usage(FILE *out)
{
	fprintf(out,
		"usage: shipgate serve --socket PATH [--jobs N] [--max-running-per-uid K] [--grace S]\n"
		"                      [--max-conns-per-uid N]\n"
		"                      [--max-queued-per-uid N] [--max-queued-bytes-per-uid B]\n"
		"                      [--max-ended-per-uid N] [--max-kept-bytes-per-uid B]\n"
		"                      [--max-events-bytes B] [--max-envelope-bytes B]\n"
		"                      [--max-output-bytes-per-uid B]\n"
		"                      [--max-job-memory-mb MB] [--max-job-pids N] [--quiet]\n"
		"\n"
		"Run jobs for local clients: requests are JSON lines on the unix socket PATH\n"
		"(submit, status, events, verdict, cancel, ping; docs/serve.md). Each client is\n"
		"known by its uid from the kernel; its jobs run with its identity and only it\n"
		"can see or cancel them. SIGTERM drains: no new jobs, running ones get the grace\n"
		"period, then are stopped.\n"
		"\n"
		"options:\n"
		"  --socket PATH   where to listen (made mode 0666: anyone may connect)\n"
		"  --jobs N        jobs running at once (default: the number of CPUs); the rest queue,\n"
		"                  served round robin across uids\n"
		"  --max-running-per-uid K\n"
		"                  jobs one uid may have running at once (default: N, all of them);\n"
		"                  K < N keeps a slot for others on a shared daemon\n"
		"  --grace S       after SIGTERM, seconds running jobs may go on (default 30)\n"
		"  --max-conns-per-uid N\n"
		"                  connections one uid may have open at once (default %u)\n"
		"  --max-queued-per-uid N\n"
		"                  jobs one uid may have waiting for a slot (default %u)\n"
		"  --max-queued-bytes-per-uid B\n"
		"                  bytes of inline jobs one uid may have waiting (default %u)\n"
		"  --max-ended-per-uid N\n"
		"                  ended jobs remembered per uid; its oldest go first (default %u)\n"
		"  --max-kept-bytes-per-uid B\n"
		"                  events and verdicts kept of one uid's ended jobs (default %u)\n"
		"  --max-events-bytes B\n"
		"                  events kept per job for replay; more are cut (default %u)\n"
		"  --max-envelope-bytes B\n"
		"                  largest verdict carried back; a larger one is an ERROR (default %u)\n"
		"  --max-output-bytes-per-uid B\n"
		"                  replies held for one uid's connections, read or not; past it the\n"
		"                  connection is closed (default %u; a connection holds at most %u)\n"
		"  --max-job-memory-mb MB, --max-job-pids N\n"
		"                  the most a job may ask for in limits.memory_mb / limits.pids;\n"
		"                  a job asking for more, or for none (0), is refused (default: no\n"
		"                  ceiling); a non-root client's delegated cgroup holds the ceiling\n"
		"  -q, --quiet     no log lines on stderr\n"
		"  -h, --help      this help\n",
		SG_SERVE_DEFAULT_CONNS_PER_UID, SG_SERVE_DEFAULT_QUEUED_PER_UID, SG_SERVE_DEFAULT_QUEUED_BYTES_PER_UID,
		SG_SERVE_DEFAULT_ENDED_PER_UID, SG_SERVE_DEFAULT_KEPT_BYTES_PER_UID, SG_SERVE_DEFAULT_EVENTS_BYTES,
		SG_SERVE_DEFAULT_ENVELOPE_BYTES, SG_SERVE_DEFAULT_OUTPUT_BYTES_PER_UID, SG_SERVE_CLIENT_OUT_MAX);
}

/* A cap's value: optarg as a number from lo to hi, or a usage error naming the option. */
struct count_option {
	int opt;
	const char *name;
	uint64_t lo, hi;
	uint64_t *u64; /* where the value goes: one of the two */
	unsigned *u32;
};

static const struct count_option *count_option_of(const struct count_option *t, size_t n, int opt)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].opt == opt)
			return &t[i];
	return NULL;
}

static bool cap_option(const char *name, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (!sg_parse_u64(optarg, out) || *out < lo || *out > hi) {
		fprintf(stderr, "shipgate serve: %s: expected %llu to %llu, got '%s'\n", name, (unsigned long long)lo,
			(unsigned long long)hi, optarg);
		return false;
	}
	return true;
}

int sg_cli_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'}, {"jobs", required_argument, NULL, 'j'},
		{"grace", required_argument, NULL, 'g'},  {"quiet", no_argument, NULL, 'q'},
		{"max-conns-per-uid", required_argument, NULL, 'C'},
		{"max-running-per-uid", required_argument, NULL, 'R'},
		{"max-queued-per-uid", required_argument, NULL, 'Q'},
		{"max-queued-bytes-per-uid", required_argument, NULL, 'B'},
		{"max-ended-per-uid", required_argument, NULL, 'E'},
		{"max-kept-bytes-per-uid", required_argument, NULL, 'K'},
		{"max-events-bytes", required_argument, NULL, 'V'},
		{"max-envelope-bytes", required_argument, NULL, 'L'},
		{"max-output-bytes-per-uid", required_argument, NULL, 'O'},
		{"max-job-memory-mb", required_argument, NULL, 'M'},
		{"max-job-pids", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	/* the daemon's own worker, a fresh image it execs for each job (serve_worker.c);
	 * not for people: it reads its request from fd 4 */
	if (argc >= 2 && !strcmp(argv[1], "--worker"))
		sg_serve_worker_main();
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	sg_serve_options o = {.max_jobs = ncpu > 0 ? (unsigned)ncpu : 1, .grace_s = 30,
			      .max_conns_per_uid = SG_SERVE_DEFAULT_CONNS_PER_UID,
			      .max_queued_per_uid = SG_SERVE_DEFAULT_QUEUED_PER_UID,
			      .max_queued_bytes_per_uid = SG_SERVE_DEFAULT_QUEUED_BYTES_PER_UID,
			      .max_ended_per_uid = SG_SERVE_DEFAULT_ENDED_PER_UID,
			      .max_kept_bytes_per_uid = SG_SERVE_DEFAULT_KEPT_BYTES_PER_UID,
			      .max_events_bytes = SG_SERVE_DEFAULT_EVENTS_BYTES,
			      .max_envelope_bytes = SG_SERVE_DEFAULT_ENVELOPE_BYTES,
			      .max_output_bytes_per_uid = SG_SERVE_DEFAULT_OUTPUT_BYTES_PER_UID};
	/* the count and size options: their range, and where each goes (a result line carries
	 * the envelope escaped: --max-envelope-bytes stays within what a line may be) */
	const struct count_option counts[] = {
		{'j', "--jobs", 1, 4096, NULL, &o.max_jobs},
		{'M', "--max-job-memory-mb", 1, 1ull << 30, &o.max_job_memory_mb, NULL},
		{'P', "--max-job-pids", 1, SG_SERVE_PID_MAX_LIMIT, &o.max_job_pids, NULL},
		{'R', "--max-running-per-uid", 1, 4096, NULL, &o.max_running_per_uid},
		{'C', "--max-conns-per-uid", 1, 65536, NULL, &o.max_conns_per_uid},
		{'Q', "--max-queued-per-uid", 1, 1u << 20, NULL, &o.max_queued_per_uid},
		{'B', "--max-queued-bytes-per-uid", 1, 1ull << 40, &o.max_queued_bytes_per_uid, NULL},
		{'E', "--max-ended-per-uid", 1, 1u << 20, NULL, &o.max_ended_per_uid},
		{'K', "--max-kept-bytes-per-uid", 1, 1ull << 40, &o.max_kept_bytes_per_uid, NULL},
		{'V', "--max-events-bytes", 0, 1ull << 32, &o.max_events_bytes, NULL},
		{'L', "--max-envelope-bytes", 4096, 256u << 20, &o.max_envelope_bytes, NULL},
		{'O', "--max-output-bytes-per-uid", 1u << 20, 1ull << 40, &o.max_output_bytes_per_uid, NULL},
	};
	optind = 1;
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 's': o.socket_path = optarg; break;
		case 'g':
			if (!sg_parse_u64(optarg, &v) || v > 86400) {
				fprintf(stderr, "shipgate serve: --grace: expected seconds (0 to 86400), got '%s'\n",
					optarg);
				return 2;
			}
			o.grace_s = (unsigned)v;
			break;
		default: {
			const struct count_option *n = count_option_of(counts, SG_ARRAY_LEN(counts), c);
			if (!n) {
				serve_usage(stderr);
				return 2;
			}
			if (!cap_option(n->name, n->lo, n->hi, &v))
				return 2;
			if (n->u64)
				*n->u64 = v;
			else
				*n->u32 = (unsigned)v;
			break;
		}
		case 'q': o.quiet = true; break;
		case 'h': serve_usage(stdout); return 0;
		}
	}
	if (optind != argc || !o.socket_path) {
		fprintf(stderr, "shipgate serve: %s\n", o.socket_path ? "unexpected arguments" : "--socket PATH is required");
		serve_usage(stderr);
		return 2;
	}
	if (o.max_kept_bytes_per_uid < o.max_events_bytes + o.max_envelope_bytes) {
		/* a job's own events and verdict would be over its uid's cap: forgotten as soon
		 * as the uid's next job ends */
		fprintf(stderr,
			"shipgate serve: --max-kept-bytes-per-uid (%llu) is less than --max-events-bytes (%llu) plus "
			"--max-envelope-bytes (%llu): one job's events and verdict would not fit\n",
			(unsigned long long)o.max_kept_bytes_per_uid, (unsigned long long)o.max_events_bytes,
			(unsigned long long)o.max_envelope_bytes);
		return 2;
	}
	if (!o.max_running_per_uid || o.max_running_per_uid > o.max_jobs)
		o.max_running_per_uid = o.max_jobs;
	return sg_serve_main(&o);
}
