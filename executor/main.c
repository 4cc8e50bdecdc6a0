/* main.c: command dispatch only. Each command lives in cli_*.c over libshipgate. */
#include "cli.h"
#include "cli_common.h"
#include "crypto.h"
#include "util.h"

#include <stdio.h>
#include <fcntl.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"run", sg_cli_run, "run a job's steps in sandboxes and write a verdict"},
	{"exec", sg_cli_exec, "run one command in the sandbox"},
	{"verify", sg_cli_verify, "check a verdict's signature and, optionally, its workspace"},
	{"decide", sg_cli_decide, "verify a verdict and decide: SHIP, or DIAGNOSE with a diagnosis"},
	{"loop", sg_cli_loop, "agent -> run -> verify -> decide, until SHIP or N attempts"},
	{"ledger", sg_cli_ledger, "verify or show the job's hash-chained ledger"},
	{"keygen", sg_cli_keygen, "make the Ed25519 key pair that signs verdicts"},
	{"policy", sg_cli_policy, "list, show (defaults filled in) or check seccomp policies"},
	{"doctor", sg_cli_doctor, "report what this host can enforce and the rootfs images built"},
	{"serve", sg_cli_serve, "a local daemon that runs jobs for other programs (unix socket)"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: shipgate COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nshipgate COMMAND --help for a command's options; shipgate --version.\n");
}

int main(int argc, char **argv)
{
	sg_timing_mark("main");
	/* started with stdin, stdout or stderr closed: /dev/null there, or the next file we
	 * open (a socket, a verdict) would take its number and receive what is printed */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return 3;
	sg_crypto_skip_config_file();
	sg_cli_install_signals();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("shipgate %s\n", SHIPGATE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name)) {
			int code = commands[i].fn(argc - 1, argv + 1);
			sg_timing_mark("exit"); /* with SHIPGATE_TIMING: the peak RSS, for scripts/bench */
			return code;
		}
	fprintf(stderr, "shipgate: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
