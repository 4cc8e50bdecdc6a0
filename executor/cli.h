/* cli.h: the command-line faces over libshipgate; each returns the process exit code. */
#ifndef SHIPGATE_CLI_H
#define SHIPGATE_CLI_H

int sg_cli_run(int argc, char **argv);
int sg_cli_exec(int argc, char **argv);
int sg_cli_doctor(int argc, char **argv);
int sg_cli_verify(int argc, char **argv);
int sg_cli_keygen(int argc, char **argv);
int sg_cli_decide(int argc, char **argv);
int sg_cli_loop(int argc, char **argv);
int sg_cli_ledger(int argc, char **argv);
int sg_cli_serve(int argc, char **argv);
int sg_cli_policy(int argc, char **argv);

#endif
