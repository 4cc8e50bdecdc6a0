/* cli_ledger.c: `shipgate ledger verify|show [JOB.json | --ledger PATH] [--json]`. */
#include "cli.h"
#include "cli_common.h"
#include "ledger.h"
#include "util.h"

#include <string.h>

static void ledger_usage(FILE *out)
{
	fprintf(out,
		"usage: shipgate ledger verify|show [JOB.json | --ledger PATH] [--json]\n"
		"\n"
		"verify  check the hash chain of the ledger (.shipgate/ledger.jsonl beside the job)\n"
		"show    print its history, one line per entry (--json: the entries)\n"
		"\n"
		"exit codes: 0 fine, 1 the chain is broken, 2 usage or unreadable\n");
}

int sg_cli_ledger(int argc, char **argv)
{
	const char *verb = NULL, *job = NULL, *path = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			ledger_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--ledger") && i + 1 < argc) {
			path = argv[++i];
		} else if (!verb) {
			verb = argv[i];
		} else if (!job) {
			job = argv[i];
		} else {
			ledger_usage(stderr);
			return 2;
		}
	}
	if (!verb || (strcmp(verb, "verify") && strcmp(verb, "show"))) {
		ledger_usage(stderr);
		return 2;
	}
	sg_autofree char *ledger = path ? sg_xstrdup(path) : sg_cli_ledger_path_for_job(job ? job : "job.json");
	sg_error err = {0};
	if (access(ledger, F_OK) != 0) {
		/* a typo in the job path must not read as an intact, empty chain */
		fprintf(stderr, "shipgate ledger: %s: %s\n", ledger, strerror(errno));
		return 2;
	}
	if (!strcmp(verb, "verify")) {
		size_t n = 0;
		if (sg_ledger_verify(ledger, &n, &err) < 0) {
			fprintf(stderr, "shipgate ledger: %s\n", err.msg);
			return err.kind == SG_ERR_VERIFY ? 1 : 2;
		}
		printf("ledger %s: %zu entr%s, chain intact\n", ledger, n, n == 1 ? "y" : "ies");
		return 0;
	}
	cJSON *entries = sg_ledger_load(ledger, &err);
	if (!entries) {
		fprintf(stderr, "shipgate ledger: %s\n", err.msg);
		return 2;
	}
	if (json) {
		sg_cli_write_json("-", entries);
	} else {
		sg_autofree char *text = sg_ledger_show(entries);
		printf("%s", text);
		size_t n = 0;
		sg_error verr = {0};
		if (sg_ledger_verify(ledger, &n, &verr) < 0)
			printf("WARNING: %s\n", verr.msg);
	}
	cJSON_Delete(entries);
	return 0;
}
