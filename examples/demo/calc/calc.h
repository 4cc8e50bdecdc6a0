/* calc.h: a tiny arithmetic expression evaluator (+ - * / and parentheses). */
#ifndef CALC_H
#define CALC_H

/* Evaluate expr; on success return 0 and store the value, else return -1 and set *error
 * to a static message. */
int calc_eval(const char *expr, long *value, const char **error);

#endif
