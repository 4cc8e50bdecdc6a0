/* caps.h: dropping every privilege before the candidate runs: all capabilities from every
 * set (effective, permitted, inheritable, bounding, ambient), securebits that keep root
 * from regaining them on exec, and no_new_privs. */
#ifndef SHIPGATE_CAPS_H
#define SHIPGATE_CAPS_H

#include <shipgate/error.h>

#include <stdbool.h>

int sg_caps_drop_all(sg_error *err);

/* Count of capabilities left in any of the sets of the calling process. */
unsigned sg_caps_count_left(void);
/* The same count from the text of a /proc/PID/status: the capabilities present in any
 * of CapInh, CapPrm, CapEff, CapBnd, CapAmb. False if one of them is missing or not hex. */
bool sg_caps_count_status(const char *status, unsigned *count);

#endif
