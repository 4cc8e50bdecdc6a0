/* events.h: a job's progress as a stream of events, each one JSON object, written one
 * per line to a file descriptor (`run --events`, the daemon's workers) and/or handed to
 * a callback (the C API). docs/events.md is the schema.
 *
 * The sink turns the run's hooks (sg_run_events) into events; the JSON is built from the
 * same records the statement is built from, so an event never says more than the
 * verdict. Writing is best effort: a reader that went away stops the stream, never the
 * job.
 */
#ifndef SHIPGATE_EVENTS_H
#define SHIPGATE_EVENTS_H

#include "publish.h"
#include "run.h"

#include <shipgate/shipgate.h>

#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct sg_event_sink {
	int fd;                /* -1: no stream */
	sg_event_fn fn;        /* NULL: no callback */
	void *ctx;
	const char *id;        /* added to every event as "id" when not NULL */
	const char *job_name;  /* set by job_started (or by the owner) */
	const sg_job *job;     /* set by job_started */
	uint64_t seq;
	bool fd_failed;        /* a write failed: the stream is over, the job goes on */
	const sg_run_events *chain; /* also called, first (the CLI's progress lines) */
	char step_started[40]; /* RFC 3339 time the running step started */
} sg_event_sink;

/* A sink with no fd and no callback. */
void sg_event_sink_init(sg_event_sink *s);
/* The run hooks that feed the sink (ctx = s). */
sg_run_events sg_event_sink_hooks(sg_event_sink *s);

/* Emit an event: adds "event", "seq", "time" (and "id", "job") in front of the fields
 * of `fields` (consumed). */
void sg_event_emit(sg_event_sink *s, sg_event_kind kind, cJSON *fields);

/* The events a run's hooks do not cover: the verdict, and an error that ended the job
 * without one. */
void sg_event_verdict_written(sg_event_sink *s, const sg_run *run, const sg_published *pub,
			      const char *keyid);
void sg_event_error(sg_event_sink *s, const sg_error *err);

const char *sg_event_kind_name(sg_event_kind kind);

#endif
