/* cli_stub.c: temporary until the sandbox lands. */
#include "cli.h"
#include <stdio.h>
int sg_cli_run(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "run: not built yet\n"); return 3; }
int sg_cli_exec(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "exec: not built yet\n"); return 125; }
int sg_cli_doctor(int argc, char **argv) { (void)argc; (void)argv; return 3; }
