/* tap.h: a tiny TAP producer for the unit tests (ctest runs each binary; a non-zero exit
 * means at least one check failed). */
#ifndef SHIPGATE_TAP_H
#define SHIPGATE_TAP_H

#include <stdbool.h>

void tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_is_str(const char *got, const char *want, const char *name);
void tap_is_int(long long got, long long want, const char *name);
/* Print the plan and return the exit status for main(). */
int tap_done(void);

#define TAP_OK(cond) tap_ok((cond), "%s:%d: %s", __FILE__, __LINE__, #cond)

#endif
