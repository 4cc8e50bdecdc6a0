/* temporary until the policy and job modules are merged */
#include "job.h"
#include "policy.h"
#include <string.h>
#include <stdlib.h>
struct sg_policy { int x; };
sg_policy *sg_policy_load(const char *n, sg_error *err) { (void)n; (void)err; return calloc(1, sizeof(sg_policy)); }
void sg_policy_free(sg_policy *p) { free(p); }
unsigned sg_policy_allowed_count(const sg_policy *p) { (void)p; return 0; }
static struct sock_filter allow_all[] = { BPF_STMT(BPF_RET | BPF_K, 0x7fff0000U) };
static struct sock_fprog allow_prog = { 1, allow_all };
const struct sock_fprog *sg_policy_bpf(sg_policy *p, sg_error *err) { (void)p; (void)err; return &allow_prog; }
const char *sg_policy_name(const sg_policy *p) { (void)p; return "default"; }
const char *sg_policy_sha256(const sg_policy *p) { (void)p; return "0"; }
const char *sg_policy_path(const sg_policy *p) { (void)p; return "policies/default.json"; }
