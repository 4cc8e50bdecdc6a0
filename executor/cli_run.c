/* cli_run.c: `shipgate run JOB.json`: run the job's steps, write the out dir, print one
 * line per step. Exit codes: 0 PASSED, 1 FAILED, 2 usage or job-file error (nothing ran),
 * 3 infrastructure error (the sandbox could not be set up as asked). */
#include "cli.h"
#include "cli_common.h"
#include "run.h"
#include "util.h"

#include <getopt.h>
#include <string.h>

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: shipgate run JOB.json [--out DIR] [--key KEY.pem] [--json] [--quiet]\n"
		"\n"
		"Run the job's steps in order, each in a fresh sandbox over one copy-on-write\n"
		"workspace, and write the verdict and the logs under DIR (default: shipgate-out/\n"
		"beside the job file).\n"
		"\n"
		"options:\n"
		"  --out DIR         where to write statement.json, logs/ (default: JOBDIR/shipgate-out)\n"
		"  --json            print the verdict's statement on stdout instead of a summary\n"
		"  --allow-weaker    run even if a limit cannot be enforced (recorded in the verdict)\n"
		"  -q, --quiet       print nothing but errors\n"
		"  -h, --help        this help\n"
		"\n"
		"exit codes: 0 PASSED, 1 FAILED, 2 usage or job-file error, 3 infrastructure error\n");
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
	if (rec->ran)
		fprintf(ui->out, " %7.2f s", (double)rec->result.wall_ms / 1000.0);
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

int sg_cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},
		{"key", required_argument, NULL, 'k'},
		{"json", no_argument, NULL, 'j'},
		{"allow-weaker", no_argument, NULL, 'w'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out_dir = NULL;
	bool json = false, quiet = false, allow_weaker = false;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out_dir = optarg; break;
		case 'k':
			fprintf(stderr, "shipgate run: --key: signing is not implemented in this build yet\n");
			return 2;
		case 'j': json = true; break;
		case 'w': allow_weaker = true; break;
		case 'q': quiet = true; break;
		case 'h': run_usage(stdout); return 0;
		default: run_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, optind >= argc ? "shipgate run: no job file given\n"
					       : "shipgate run: exactly one job file expected\n");
		run_usage(stderr);
		return 2;
	}
	const char *job_path = argv[optind];
	sg_error err = {0};
	sg_job *job = sg_job_load(job_path, &err);
	if (!job) {
		fprintf(stderr, "shipgate run: %s\n", err.msg);
		return 2;
	}

	run_ui ui = {.out = json ? stderr : stdout, .quiet = quiet, .n_steps = job->n_steps};
	ui.tty = isatty(fileno(ui.out));
	for (size_t i = 0; i < job->n_steps; i++) {
		size_t l = strlen(job->steps[i].name);
		if (l > ui.name_width)
			ui.name_width = l;
	}
	if (!quiet)
		fprintf(ui.out, "shipgate run: %s (%zu step%s), workspace %s\n", job->name, job->n_steps,
			job->n_steps == 1 ? "" : "s", job->workspace);
	sg_run_events ev = {.step_started = ui_step_started, .step_finished = ui_step_finished, .ctx = &ui};
	sg_run_options ro = {.out_dir = out_dir, .allow_weaker = allow_weaker, .events = &ev,
			     .interrupted = &sg_cli_interrupted};
	sg_run run;
	int exit_code;
	if (sg_run_job(job, &ro, &run, &err) < 0) {
		fprintf(stderr, "shipgate run: %s\n", err.msg);
		exit_code = err.kind == SG_ERR_USAGE || err.kind == SG_ERR_INPUT ? 2 : 3;
		sg_run_free(&run);
		sg_job_free(job);
		return exit_code;
	}
	cJSON *statement = sg_verdict_statement(&run);
	sg_autofree char *statement_path = sg_xasprintf("%s/statement.json", run.out_dir);
	if (sg_cli_write_json(statement_path, statement) < 0) {
		fprintf(stderr, "shipgate run: could not write %s\n", statement_path);
		exit_code = 3;
	} else {
		exit_code = run.result == SG_RESULT_PASSED ? 0 : run.result == SG_RESULT_FAILED ? 1 : 3;
		if (run.interrupted)
			exit_code = 128 + (sg_cli_interrupted ? sg_cli_interrupted : 2);
	}
	if (json)
		sg_cli_write_json("-", statement);
	if (!quiet) {
		for (size_t i = 0; i < run.n_steps; i++)
			if (run.steps[i].status == SG_STEP_SKIPPED)
				print_step_line(&ui, i, &run.steps[i]);
		fprintf(ui.out, "%s: %s\n", sg_run_result_name(run.result), run.reason);
		fprintf(ui.out, "evidence: %s (logs in %s/logs)\n", statement_path, run.out_dir);
	}
	cJSON_Delete(statement);
	sg_run_free(&run);
	sg_job_free(job);
	return exit_code;
}
