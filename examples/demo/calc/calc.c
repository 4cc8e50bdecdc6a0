/* calc.c: recursive-descent evaluation of integer expressions. */
#include "calc.h"

#include <ctype.h>
#include <stddef.h>

struct parser {
	const char *p;
	const char *error;
};

static long parse_expr(struct parser *ps);

static void skip_space(struct parser *ps)
{
	while (isspace((unsigned char)*ps->p))
		ps->p++;
}

static long parse_primary(struct parser *ps)
{
	skip_space(ps);
	if (*ps->p == '(') {
		ps->p++;
		long v = parse_expr(ps);
		skip_space(ps);
		if (*ps->p != ')') {
			ps->error = "missing ')'";
			return 0;
		}
		ps->p++;
		return v;
	}
	if (*ps->p == '-') {
		ps->p++;
		return -parse_primary(ps);
	}
	if (!isdigit((unsigned char)*ps->p)) {
		ps->error = "expected a number";
		return 0;
	}
	long v = 0;
	while (isdigit((unsigned char)*ps->p))
		v = v * 10 + (*ps->p++ - '0');
	return v;
}

static long parse_term(struct parser *ps)
{
	long v = parse_primary(ps);
	for (;;) {
		skip_space(ps);
		char op = *ps->p;
		if (op != '*' && op != '/')
			return v;
		ps->p++;
		long rhs = parse_primary(ps);
		if (op == '/') {
			if (rhs == 0) {
				ps->error = "division by zero";
				return 0;
			}
			v /= rhs;
		} else {
			v *= rhs;
		}
	}
}

static long parse_expr(struct parser *ps)
{
	long v = parse_term(ps);
	for (;;) {
		skip_space(ps);
		char op = *ps->p;
		if (op != '+' && op != '-')
			return v;
		ps->p++;
		long rhs = parse_term(ps);
		v = op == '+' ? v + rhs : v - rhs;
	}
}

int calc_eval(const char *expr, long *value, const char **error)
{
	struct parser ps = {expr, NULL};
	long v = parse_expr(&ps);
	skip_space(&ps);
	if (!ps.error && *ps.p)
		ps.error = "unexpected character";
	if (ps.error) {
		*error = ps.error;
		return -1;
	}
	*value = v;
	return 0;
}
