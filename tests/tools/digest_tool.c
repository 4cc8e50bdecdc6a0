/* digest_tool.c: print the tree digest of a directory (a test and benchmark helper).
 *
 *     digest_tool [-v] [-x EXCLUDE]... DIR
 *
 * Prints "HEX  DIR"; -v adds the stats on stderr. Exit 0 on success, 1 on a digest
 * error, 2 on usage errors.
 */
#include "digest.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define DIGEST_TOOL_MAX_EXCLUDE 64

static int digest_tool_usage(void)
{
	fprintf(stderr, "usage: digest_tool [-v] [-x EXCLUDE]... DIR\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *exclude[DIGEST_TOOL_MAX_EXCLUDE + 1] = {0};
	size_t n_exclude = 0;
	bool verbose = false;
	int opt;

	while ((opt = getopt(argc, argv, "vx:")) != -1) {
		switch (opt) {
		case 'v':
			verbose = true;
			break;
		case 'x':
			if (n_exclude == DIGEST_TOOL_MAX_EXCLUDE)
				return digest_tool_usage();
			exclude[n_exclude++] = optarg;
			break;
		default:
			return digest_tool_usage();
		}
	}
	if (optind != argc - 1)
		return digest_tool_usage();

	sg_tree_digest_opts opts = { .exclude = exclude };
	sg_tree_digest_stats stats;
	sg_error err = {0};
	char hex[SG_SHA256_HEX_LEN];
	if (sg_tree_digest(argv[optind], &opts, hex, &stats, &err) < 0) {
		fprintf(stderr, "digest_tool: %s\n", err.msg);
		return err.kind == SG_ERR_USAGE ? 2 : 1;
	}
	printf("%s  %s\n", hex, argv[optind]);
	if (verbose)
		fprintf(stderr,
			"files %" PRIu64 ", dirs %" PRIu64 ", symlinks %" PRIu64
			", special %" PRIu64 ", bytes %" PRIu64 "\n",
			stats.files, stats.dirs, stats.symlinks, stats.special, stats.bytes);
	return 0;
}
