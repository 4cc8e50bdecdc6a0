/* cli_keygen.c: `shipgate keygen [DIR]`: make the Ed25519 key pair that signs verdicts,
 * DIR/shipgate.key (PKCS#8 PEM, mode 0600) and DIR/shipgate.pub (SPKI PEM). Existing
 * files are never overwritten. Exit codes: 0 made, 2 usage or the pair cannot be made. */
#include "cli.h"
#include "sign.h"
#include "util.h"

#include <getopt.h>
#include <string.h>

static void keygen_usage(FILE *out)
{
	fprintf(out,
		"usage: shipgate keygen [DIR]\n"
		"\n"
		"Make an Ed25519 key pair for signing verdicts: DIR/" SG_KEY_FILE_NAME " (private,\n"
		"PKCS#8 PEM, mode 0600) and DIR/" SG_PUB_FILE_NAME " (public, SPKI PEM). Existing files\n"
		"are never overwritten. DIR is created (mode 0700) if needed; by default it is the\n"
		"key directory `run` and `verify` use: $XDG_STATE_HOME/shipgate, else\n"
		"~/.local/state/shipgate.\n"
		"\n"
		"options:\n"
		"  -h, --help   this help\n");
}

int sg_cli_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': keygen_usage(stdout); return 0;
		default: keygen_usage(stderr); return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "shipgate keygen: at most one directory expected\n");
		keygen_usage(stderr);
		return 2;
	}
	sg_error err = {0};
	sg_autofree char *dir = optind < argc ? sg_xstrdup(argv[optind]) : sg_key_default_dir(&err);
	if (!dir || sg_mkdir_p(dir, 0700, &err) < 0) {
		fprintf(stderr, "shipgate keygen: %s\n", err.msg);
		return 2;
	}
	sg_autofree char *key_path = sg_xasprintf("%s/" SG_KEY_FILE_NAME, dir);
	sg_autofree char *pub_path = sg_xasprintf("%s/" SG_PUB_FILE_NAME, dir);
	sg_key *key = sg_key_generate(&err);
	if (!key || sg_key_write_pair(key, key_path, pub_path, &err) < 0) {
		fprintf(stderr, "shipgate keygen: %s\n", err.msg);
		sg_key_free(key);
		return 2;
	}
	printf("private key: %s (mode 0600: keep it secret)\n", key_path);
	printf("public key:  %s\n", pub_path);
	printf("key id:      %s\n", sg_key_id(key));
	sg_key_free(key);
	return 0;
}
