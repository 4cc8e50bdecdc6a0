/* main.c: `calc EXPR` prints the value of EXPR. */
#include "calc.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: calc EXPR\n");
		return 2;
	}
	long v;
	const char *error;
	if (calc_eval(argv[1], &v, &error) < 0) {
		fprintf(stderr, "calc: %s\n", error);
		return 1;
	}
	printf("%ld\n", v);
	return 0;
}
