/* doctor.h: probe what this host can enforce (see doctor.c). */
#ifndef SHIPGATE_DOCTOR_H
#define SHIPGATE_DOCTOR_H

#include <cjson/cJSON.h>

/* workspace: the directory whose filesystem is checked for idmapped mounts. */
cJSON *sg_doctor_probe(const char *workspace);

#endif
