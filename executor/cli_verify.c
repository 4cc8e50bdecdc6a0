/* cli_verify.c: `shipgate verify VERDICT [--pub PUB.pem] [--workspace DIR]`: check that a
 * verdict is signed by the trusted key, is a shipgate verdict, and (with --workspace)
 * is about DIR as it is now. Exit codes: 0 valid; 1 bad signature, no signature by the
 * trusted key, or subject mismatch; 2 usage, or unreadable or malformed input. */
#include "cli.h"
#include "sign.h"
#include "util.h"
#include "verify.h"

#include <getopt.h>
#include <limits.h>
#include <string.h>

static void verify_usage(FILE *out)
{
	fprintf(out,
		"usage: shipgate verify VERDICT [--pub PUB.pem] [--workspace DIR]\n"
		"\n"
		"Check a verdict (verdict.dsse.json): its DSSE signature by the trusted key, that\n"
		"its payload is a shipgate verdict, and with --workspace that its subject is the\n"
		"digest of DIR now.\n"
		"\n"
		"options:\n"
		"  --pub PUB.pem     the trusted public key (default: the default key's\n"
		"                    $XDG_STATE_HOME/shipgate/" SG_PUB_FILE_NAME ")\n"
		"  --workspace DIR   also check that DIR is the tree the verdict is about\n"
		"  -q, --quiet       print nothing but errors\n"
		"  -h, --help        this help\n"
		"\n"
		"exit codes: 0 valid, 1 invalid signature, wrong key or subject mismatch,\n"
		"2 usage or unreadable input\n");
}

static int verify_exit(const sg_error *err)
{
	fprintf(stderr, "shipgate verify: %s\n", err->msg);
	return err->kind == SG_ERR_VERIFY ? 1 : 2;
}

static sg_key *load_trusted(const char *pub_path, sg_error *err)
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

static int check_workspace(const sg_verdict *v, const char *dir, bool quiet)
{
	sg_error err = {0};
	char real[PATH_MAX];
	if (!realpath(dir, real)) {
		sg_error_set(&err, SG_ERR_INPUT, errno, "--workspace %s", dir);
		return verify_exit(&err);
	}
	char now[SG_SHA256_HEX_LEN];
	if (sg_verdict_check_workspace(v, real, now, &err) < 0)
		return verify_exit(&err);
	if (!quiet)
		printf("workspace %s matches the subject\n", real);
	return 0;
}

int sg_cli_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pub", required_argument, NULL, 'p'},
		{"workspace", required_argument, NULL, 'w'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *pub_path = NULL, *workspace = NULL;
	bool quiet = false;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pub_path = optarg; break;
		case 'w': workspace = optarg; break;
		case 'q': quiet = true; break;
		case 'h': verify_usage(stdout); return 0;
		default: verify_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, optind >= argc ? "shipgate verify: no verdict given\n"
					       : "shipgate verify: exactly one verdict expected\n");
		verify_usage(stderr);
		return 2;
	}
	sg_error err = {0};
	sg_key *trusted = load_trusted(pub_path, &err);
	if (!trusted) {
		err.kind = SG_ERR_USAGE;
		return verify_exit(&err);
	}
	sg_verdict v;
	int rc = sg_verdict_open(argv[optind], trusted, &v, &err);
	sg_key_free(trusted);
	if (rc < 0)
		return verify_exit(&err);
	/* "valid" only once everything asked for has been checked */
	rc = workspace ? check_workspace(&v, workspace, quiet) : 0;
	if (!quiet && rc == 0)
		printf("verdict valid: %s, signed by %s, subject sha256:%s%s\n", v.result, v.keyid,
		       v.subject_sha256, workspace ? "" : " (not checked against a workspace: --workspace DIR)");
	sg_verdict_free(&v);
	return rc;
}
