/* vsa.h: a SLSA Verification Summary Attestation (v1) of a run: the same judgement as
 * the verdict, in the vocabulary that SLSA tooling reads (https://slsa.dev/spec/v1.0/
 * verification_summary). It points at the verdict envelope by digest, so a VSA is only
 * as good as the verdict it summarizes. Pure: reads the run, builds JSON.
 */
#ifndef SHIPGATE_VSA_H
#define SHIPGATE_VSA_H

#include "run.h"

#include <cjson/cJSON.h>

#define SG_VSA_PREDICATE_TYPE "https://slsa.dev/verification_summary/v1"
#define SG_VSA_VERIFIER_ID "https://shipgate.dev/shipgate"

/* The in-toto Statement v1 of the VSA. verdict_uri names the verdict envelope (relative
 * to the VSA) and verdict_sha256 is the hex SHA-256 of its exact bytes. */
cJSON *sg_vsa_statement(const sg_run *run, const char *verdict_uri, const char *verdict_sha256);

#endif
