/* test_calc.c: the calculator's tests, reported in TAP. */
#include "calc.h"

#include <stdio.h>
#include <string.h>

static int n, failed;

static void check(const char *expr, long want)
{
	long got = 0;
	const char *error = NULL;
	int rc = calc_eval(expr, &got, &error);
	n++;
	if (rc == 0 && got == want) {
		printf("ok %d - %s = %ld\n", n, expr, want);
	} else {
		failed++;
		printf("not ok %d - %s = %ld (got %ld%s%s)\n", n, expr, want, got, error ? ", " : "",
		       error ? error : "");
	}
}

static void check_error(const char *expr, const char *want)
{
	long got;
	const char *error = NULL;
	int rc = calc_eval(expr, &got, &error);
	n++;
	if (rc < 0 && error && strcmp(error, want) == 0) {
		printf("ok %d - %s fails: %s\n", n, expr, want);
	} else {
		failed++;
		printf("not ok %d - %s should fail with '%s'\n", n, expr, want);
	}
}

int main(void)
{
	check("1+2", 3);
	check("2+3*4", 14);
	check("(2+3)*4", 20);
	check("10-4-3", 3);
	check("100/7", 14);
	check("-5+2", -3);
	check(" 6 * ( 7 ) ", 42);
	check_error("1/0", "division by zero");
	check_error("(1+2", "missing ')'");
	check_error("1+x", "expected a number");
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
