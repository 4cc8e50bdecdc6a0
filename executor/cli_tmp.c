/* cli_tmp.c: placeholders until run and doctor land. */
#include "cli.h"
#include <stdio.h>
int sg_cli_run(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "run: not built yet\n"); return 3; }
int sg_cli_doctor(int argc, char **argv) { (void)argc; (void)argv; return 3; }
