/* service.h: a service step's logic: wait for readiness (TCP port, HTTP GET, or a
 * command exiting 0, polled with backoff), then run the probes in order and check what
 * they expect. Pure: it only decides which request to send next and judges the replies
 * (see sg_service_driver in sandbox.h); init does the work inside the sandbox. */
#ifndef SHIPGATE_SERVICE_H
#define SHIPGATE_SERVICE_H

#include "evidence.h"
#include "job.h"
#include "sandbox.h"

#include <cjson/cJSON.h>

typedef struct sg_probe_result {
	char *name;
	bool ran;
	bool passed;
	int exit_code;      /* -1 when not a command or killed */
	int signal;
	int http_status;    /* 0 when not HTTP or no answer */
	bool timed_out;
	char *output;       /* the start of stdout (or the HTTP body), at most 2 KiB */
	char *reason;       /* why it failed, NULL when it passed */
	uint64_t elapsed_ms;
} sg_probe_result;

typedef enum sg_service_phase { SG_SVC_READY = 0, SG_SVC_PROBES, SG_SVC_DONE } sg_service_phase;

typedef struct sg_service_run {
	const sg_service_spec *spec;
	sg_service_phase phase;
	bool started;
	uint64_t start_ms, deadline_ms, wake_ms;
	uint32_t backoff_ms;
	unsigned attempts;
	bool ready;
	uint64_t ready_ms;
	char *not_ready_reason;
	char last_error[256];
	bool exited_early;
	size_t probe_index;
	sg_probe_result *probes;
	size_t n_probes;
} sg_service_run;

void sg_service_run_init(sg_service_run *sr, const sg_service_spec *spec);
void sg_service_run_free(sg_service_run *sr);
/* The driver to hand to the sandbox (ctx = sr). */
sg_service_driver sg_service_run_driver(sg_service_run *sr);

/* The step's status from the service's view (not_ready, probe_failed or passed) and a
 * one-line reason (malloc'd) for a failure, NULL when passed. */
sg_step_status sg_service_run_status(const sg_service_run *sr, char **reason);

/* Adds ready, ready_ms and probes to a step's JSON object. */
void sg_service_run_add_json(const sg_service_run *sr, cJSON *step);

/* Split "http://127.0.0.1:PORT/path" (or localhost) into port and path ("/" if none). */
int sg_service_parse_url(const char *url, uint32_t *port, const char **path);

#endif
