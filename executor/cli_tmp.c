/* cli_tmp.c: placeholder until doctor lands. */
#include "cli.h"
#include <stdio.h>
int sg_cli_doctor(int argc, char **argv) { (void)argc; (void)argv; return 3; }
