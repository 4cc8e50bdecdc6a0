/* temporary until the policy and job modules are merged */
#include "job.h"
#include "policy.h"
#include <string.h>
#include <stdlib.h>
struct sg_policy { int x; };
sg_policy *sg_policy_load(const char *n, sg_error *err) { (void)n; (void)err; return calloc(1, sizeof(sg_policy)); }
void sg_policy_free(sg_policy *p) { free(p); }
unsigned sg_policy_allowed_count(const sg_policy *p) { (void)p; return 0; }
const struct sock_fprog *sg_policy_bpf(sg_policy *p, sg_error *err) { (void)p; (void)err; return NULL; }
