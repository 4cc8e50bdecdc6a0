/* caps.h: dropping every privilege before the candidate runs: all capabilities from every
 * set (effective, permitted, inheritable, bounding, ambient), securebits that keep root
 * from regaining them on exec, and no_new_privs. */
#ifndef SHIPGATE_CAPS_H
#define SHIPGATE_CAPS_H

#include <shipgate/error.h>

int sg_caps_drop_all(sg_error *err);
/* Count of capabilities left in any of the sets of the calling process. */
unsigned sg_caps_count_left(void);

#endif
