/* cli_decide.c: `shipgate decide VERDICT [--pub KEY] [--workspace DIR] [--json]`.
 *
 * The controller's decision for one verdict. It trusts nothing that is not signed by the
 * trusted key: the envelope is verified first and, with --workspace, the subject must be
 * the workspace as it is now, so code changed after verification cannot ship. Then the
 * ship policy (decide.c). Exit codes: 0 SHIP, 1 DIAGNOSE (diagnosis.json and
 * diagnosis.md written), 2 usage or unreadable input, 3 REJECTED (not trusted). */
#include "cli.h"
#include "cli_common.h"
#include "decide.h"
#include "digest.h"
#include "ledger.h"
#include "util.h"
#include "verify.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>

static void decide_usage(FILE *out)
{
	fprintf(out,
		"usage: shipgate decide VERDICT [--pub PUB.pem] [--workspace DIR] [--json] [--out DIR]\n"
		"\n"
		"Verify a verdict (verdict.dsse.json) with the trusted key and decide: SHIP, or\n"
		"DIAGNOSE with diagnosis.json and diagnosis.md written beside the verdict (or in\n"
		"--out DIR). The decision is also appended to the job's ledger\n"
		"(.shipgate/ledger.jsonl beside the job file) unless --no-ledger.\n"
		"\n"
		"options:\n"
		"  --pub PUB.pem       the trusted public key (default: the default key's .pub)\n"
		"  --workspace DIR     also require the verdict's subject to be DIR as it is now\n"
		"  --allow-violations  ship even with recorded violations\n"
		"  --json              print the decision as JSON\n"
		"  --out DIR           where to write the diagnosis (default: beside the verdict)\n"
		"  --no-ledger         do not read or append to the ledger\n"
		"  -q, --quiet         print nothing but errors\n"
		"  -h, --help          this help\n"
		"\n"
		"exit codes: 0 SHIP, 1 DIAGNOSE, 2 usage or unreadable input, 3 REJECTED\n");
}

sg_key *sg_cli_load_trusted_key(const char *pub_path, sg_error *err)
{
	if (pub_path)
		return sg_key_load_public(pub_path, err);
	sg_autofree char *dir = sg_key_default_dir(err);
	if (!dir)
		return NULL;
	sg_autofree char *path = sg_xasprintf("%s/" SG_PUB_FILE_NAME, dir);
	sg_key *key = sg_key_load_public(path, err);
	if (!key)
		sg_error_prefix(err, "trusted key (default; pass --pub PUB.pem for another)");
	return key;
}

/* The ledger of the job a statement names: .shipgate/ledger.jsonl beside the job file. */
char *sg_cli_ledger_path_for_job(const char *job_path)
{
	sg_autofree char *copy = sg_xstrdup(job_path);
	return sg_xasprintf("%s/.shipgate/ledger.jsonl", dirname(copy));
}

static int write_diagnosis(const sg_decision *d, const char *note, const char *dir, sg_error *err)
{
	sg_autofree char *json_path = sg_xasprintf("%s/diagnosis.json", dir);
	sg_autofree char *md_path = sg_xasprintf("%s/diagnosis.md", dir);
	if (d->kind == SG_SHIP) {
		/* an old diagnosis must not sit beside a verdict that ships */
		unlink(json_path);
		unlink(md_path);
		return 0;
	}
	cJSON *j = sg_decision_json(d);
	if (note)
		cJSON_AddStringToObject(j, "seen_before", note);
	char *text = cJSON_Print(j);
	cJSON_Delete(j);
	sg_buf b = {0};
	sg_buf_puts(&b, text);
	sg_buf_append(&b, "\n", 1);
	cJSON_free(text);
	int rc = sg_write_file_atomic(json_path, b.data, b.len, 0644, err);
	sg_buf_free(&b);
	if (rc < 0)
		return -1;
	sg_autofree char *md = sg_decision_markdown(d, note);
	return sg_write_file_atomic(md_path, md, strlen(md), 0644, err);
}

int sg_cli_decide_verdict(const sg_cli_decide_opts *o, sg_cli_decision *out)
{
	memset(out, 0, sizeof(*out));
	sg_error err = {0};
	sg_verdict v;
	if (sg_verdict_open(o->verdict, o->trusted, &v, &err) < 0) {
		out->reject = sg_xstrdup(err.msg);
		return err.kind == SG_ERR_VERIFY ? 3 : 2;
	}
	if (o->workspace) {
		char now[SG_SHA256_HEX_LEN];
		char real[PATH_MAX];
		if (!realpath(o->workspace, real)) {
			out->reject = sg_xasprintf("--workspace %s: %s", o->workspace, strerror(errno));
			sg_verdict_free(&v);
			return 2;
		}
		if (sg_verdict_check_workspace(&v, real, now, &err) < 0) {
			out->reject = sg_xstrdup(err.msg);
			sg_verdict_free(&v);
			return err.kind == SG_ERR_VERIFY ? 3 : 2;
		}
	}
	snprintf(out->workspace_sha256, sizeof(out->workspace_sha256), "%s", v.subject_sha256);
	sg_decide(v.statement, o->policy, &out->d);

	/* what the ledger knows of this failure */
	const cJSON *job = cJSON_GetObjectItem(cJSON_GetObjectItem(v.statement, "predicate"), "job");
	const cJSON *job_path = cJSON_GetObjectItem(job, "path");
	sg_autofree char *ledger = o->ledger ? sg_xstrdup(o->ledger)
				   : (!o->no_ledger && cJSON_IsString(job_path))
					     ? sg_cli_ledger_path_for_job(job_path->valuestring)
					     : NULL;
	if (ledger && !o->ledger) {
		/* the ledger a statement names is the job's only if the job file there is the
		 * one that ran: a verdict from elsewhere must not write into this history */
		const cJSON *job_sha = cJSON_GetObjectItem(job, "sha256");
		char now[SG_SHA256_HEX_LEN];
		if (!cJSON_IsString(job_sha) || sg_sha256_file(job_path->valuestring, now, NULL) < 0 ||
		    strcmp(now, job_sha->valuestring) != 0) {
			out->ledger_warning = sg_xasprintf("the job file %s is not the one the verdict ran (missing or "
							   "changed): its ledger was neither read nor written",
							   job_path->valuestring);
			free(ledger);
			ledger = NULL;
		}
	}
	size_t chain_entries = 0;
	sg_error chain_err = {0};
	if (ledger && sg_ledger_verify(ledger, &chain_entries, &chain_err) < 0) {
		/* a broken chain is no history to learn from; the new entry still goes on it,
		 * and `shipgate ledger verify` keeps reporting the break */
		out->ledger_warning = sg_xasprintf("ledger not trusted: %s", chain_err.msg);
	}
	if (ledger && out->d.kind == SG_DIAGNOSE && !out->ledger_warning) {
		cJSON *entries = sg_ledger_load(ledger, &err);
		sg_ledger_seen seen;
		sg_ledger_seen_of(entries, out->d.signature, &seen);
		out->seen_note = sg_ledger_seen_note(&seen);
		sg_ledger_seen_free(&seen);
		cJSON_Delete(entries);
	}
	sg_autofree char *vcopy = sg_xstrdup(o->verdict);
	const char *dir = o->out_dir ? o->out_dir : dirname(vcopy);
	if (o->out_dir && sg_mkdir_p(o->out_dir, 0755, &err) < 0)
		fprintf(stderr, "shipgate: warning: %s\n", err.msg);
	if (write_diagnosis(&out->d, out->seen_note, dir, &err) < 0)
		fprintf(stderr, "shipgate: warning: %s\n", err.msg);
	out->diagnosis_md = sg_xasprintf("%s/diagnosis.md", dir);
	if (ledger) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "loop", o->loop_id ? o->loop_id : "decide");
		/* job files in one directory share a ledger: say whose decision this is */
		if (cJSON_IsString(job_path))
			cJSON_AddStringToObject(f, "job", job_path->valuestring);
		cJSON_AddNumberToObject(f, "attempt", o->attempt);
		cJSON_AddStringToObject(f, "result", v.result ? v.result : "?");
		cJSON_AddStringToObject(f, "decision", out->d.kind == SG_SHIP ? "SHIP" : "DIAGNOSE");
		if (out->d.kind == SG_DIAGNOSE) {
			cJSON_AddStringToObject(f, "category", sg_diag_category_name(out->d.category));
			cJSON_AddStringToObject(f, "signature", out->d.signature);
			if (out->d.step)
				cJSON_AddStringToObject(f, "step", out->d.step);
			cJSON_AddStringToObject(f, "diagnosis", out->diagnosis_md);
		}
		cJSON_AddStringToObject(f, "summary", out->d.summary ? out->d.summary : "");
		cJSON_AddStringToObject(f, "workspace_sha256", v.subject_sha256);
		cJSON_AddStringToObject(f, "verdict", o->verdict);
		cJSON_AddStringToObject(f, "keyid", v.keyid);
		if (sg_ledger_append(ledger, "decision", f, &err) < 0)
			fprintf(stderr, "shipgate: warning: ledger: %s\n", err.msg);
	}
	sg_verdict_free(&v);
	return out->d.kind == SG_SHIP ? 0 : 1;
}

void sg_cli_decision_free(sg_cli_decision *d)
{
	sg_decision_free(&d->d);
	free(d->reject);
	free(d->seen_note);
	free(d->ledger_warning);
	free(d->diagnosis_md);
	memset(d, 0, sizeof(*d));
}

int sg_cli_decide(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pub", required_argument, NULL, 'p'},      {"workspace", required_argument, NULL, 'w'},
		{"json", no_argument, NULL, 'j'},           {"out", required_argument, NULL, 'o'},
		{"no-ledger", no_argument, NULL, 'n'},      {"allow-violations", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *pub = NULL;
	bool json = false, quiet = false;
	sg_ship_policy policy;
	sg_ship_policy_default(&policy);
	sg_cli_decide_opts o = {.policy = &policy};
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pub = optarg; break;
		case 'w': o.workspace = optarg; break;
		case 'j': json = true; break;
		case 'o': o.out_dir = optarg; break;
		case 'n': o.no_ledger = true; break;
		case 'v': policy.allow_violations = true; break;
		case 'q': quiet = true; break;
		case 'h': decide_usage(stdout); return 0;
		default: decide_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "shipgate decide: expected one VERDICT file\n");
		decide_usage(stderr);
		return 2;
	}
	o.verdict = argv[optind];
	sg_error err = {0};
	sg_key *trusted = sg_cli_load_trusted_key(pub, &err);
	if (!trusted) {
		fprintf(stderr, "shipgate decide: %s\n", err.msg);
		return 2;
	}
	o.trusted = trusted;
	sg_cli_decision d;
	int rc = sg_cli_decide_verdict(&o, &d);
	sg_key_free(trusted);
	if (rc == 2 || rc == 3) {
		if (json && rc == 3) {
			cJSON *j = cJSON_CreateObject();
			cJSON_AddStringToObject(j, "decision", "REJECTED");
			cJSON_AddStringToObject(j, "reason", d.reject);
			sg_cli_write_json("-", j);
			cJSON_Delete(j);
		}
		fprintf(stderr, "shipgate decide: %s%s\n", rc == 3 ? "REJECTED: " : "", d.reject);
		sg_cli_decision_free(&d);
		return rc;
	}
	if (json) {
		cJSON *j = sg_decision_json(&d.d);
		if (d.seen_note)
			cJSON_AddStringToObject(j, "seen_before", d.seen_note);
		if (d.d.kind == SG_DIAGNOSE)
			cJSON_AddStringToObject(j, "diagnosis_md", d.diagnosis_md);
		sg_cli_write_json("-", j);
		cJSON_Delete(j);
	} else if (!quiet) {
		if (d.d.kind == SG_SHIP) {
			printf("SHIP: %s\n", d.d.summary);
		} else {
			printf("DIAGNOSE: %s: %s\n", sg_diag_category_name(d.d.category), d.d.summary);
			if (d.seen_note)
				printf("seen before: %s\n", d.seen_note);
			printf("next step: %s\ndiagnosis: %s\n", d.d.next_step, d.diagnosis_md);
		}
	}
	if (!o.workspace && !quiet && !json)
		printf("note: the subject (workspace digest %.12s...) was not checked: pass --workspace DIR to "
		       "check that the code is the one that was verified\n", d.workspace_sha256);
	if (d.ledger_warning)
		fprintf(stderr, "shipgate decide: warning: %s\n", d.ledger_warning);
	sg_cli_decision_free(&d);
	return rc;
}
