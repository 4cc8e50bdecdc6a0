/* cli_doctor.c: `shipgate doctor [--json]`. Exit 0 when a full sandbox can run here,
 * 3 when it cannot. */
#include "cli.h"
#include "cli_common.h"
#include "doctor.h"
#include "util.h"

#include <string.h>

int sg_cli_doctor(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: shipgate doctor [--json]\n\nReport what this host can enforce "
			       "(user namespaces, cgroups, seccomp, Landlock, overlayfs, idmapped mounts),\n"
			       "run /bin/true in a full sandbox as proof, and list the rootfs images\n"
			       "built by scripts/rootfs (name, digest, package count).\n");
			return 0;
		} else {
			fprintf(stderr, "shipgate doctor: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	cJSON *report = sg_doctor_probe(".");
	bool all_ok = true;
	const cJSON *checks = cJSON_GetObjectItem(report, "checks");
	const cJSON *c;
	cJSON_ArrayForEach(c, checks)
	{
		const cJSON *name = cJSON_GetObjectItem(c, "name");
		if (!strcmp(name->valuestring, "sandbox") || !strcmp(name->valuestring, "user namespaces"))
			all_ok = all_ok && cJSON_IsTrue(cJSON_GetObjectItem(c, "ok"));
	}
	if (json) {
		sg_cli_write_json("-", report);
	} else {
		printf("shipgate %s on Linux %s, running as %s\n",
		       cJSON_GetObjectItem(report, "shipgate")->valuestring,
		       cJSON_GetObjectItem(report, "kernel")->valuestring,
		       cJSON_GetObjectItem(report, "mode")->valuestring);
		printf("  %s\n\n", cJSON_GetObjectItem(report, "identity")->valuestring);
		cJSON_ArrayForEach(c, checks)
		{
			bool ok = cJSON_IsTrue(cJSON_GetObjectItem(c, "ok"));
			printf("  [%s] %-26s %s\n", ok ? " ok " : "FAIL", cJSON_GetObjectItem(c, "name")->valuestring,
			       cJSON_GetObjectItem(c, "detail")->valuestring);
		}
		const cJSON *cg = cJSON_GetObjectItem(report, "cgroups");
		if (cg) {
			printf("\n  cgroup layout: %s\n", cJSON_GetObjectItem(cg, "layout")->valuestring);
			const cJSON *ctrl;
			cJSON_ArrayForEach(ctrl, cJSON_GetObjectItem(cg, "controllers"))
			{
				const cJSON *own = cJSON_GetObjectItem(ctrl, "our_cgroup");
				const cJSON *why = cJSON_GetObjectItem(ctrl, "why_not");
				bool usable = cJSON_IsTrue(cJSON_GetObjectItem(ctrl, "usable"));
				const char *where = usable ? (own ? own->valuestring : "") : (why ? why->valuestring : "");
				printf("    %-8s %-4s %s%s%s\n", ctrl->string,
				       cJSON_GetObjectItem(ctrl, "hierarchy")->valuestring,
				       usable ? "usable" : "not usable", *where ? (usable ? ", below " : ": ") : "", where);
			}
		}
		const cJSON *images = cJSON_GetObjectItem(report, "rootfs_images");
		const cJSON *list = cJSON_GetObjectItem(images, "images");
		printf("\n  rootfs images in %s:%s\n", cJSON_GetObjectItem(images, "cache")->valuestring,
		       cJSON_GetArraySize(list) ? "" : " none (scripts/rootfs build NAME)");
		const cJSON *img;
		cJSON_ArrayForEach(img, list)
		{
			const cJSON *error = cJSON_GetObjectItem(img, "error");
			if (error) {
				printf("    %-24s unusable: %s\n", cJSON_GetObjectItem(img, "name")->valuestring,
				       error->valuestring);
				continue;
			}
			printf("    %-24s sha256:%.16s  %4.0f packages  (%s)\n",
			       cJSON_GetObjectItem(img, "name")->valuestring,
			       cJSON_GetObjectItem(cJSON_GetObjectItem(img, "digest"), "sha256")->valuestring,
			       cJSON_GetObjectItem(img, "packages")->valuedouble,
			       cJSON_GetObjectItem(img, "kind")->valuestring);
		}
		bool limits_ok = true;
		cJSON_ArrayForEach(c, checks)
		{
			if (!strcmp(cJSON_GetObjectItem(c, "name")->valuestring, "cgroup limits"))
				limits_ok = cJSON_IsTrue(cJSON_GetObjectItem(c, "ok"));
		}
		if (!all_ok)
			printf("\nshipgate cannot sandbox here; see the failures above.\n");
		else if (!limits_ok)
			printf("\nA sandbox runs here, but without cgroup limits: jobs that ask for memory or pids\n"
			       "limits fail closed (exit 3) unless they accept weaker isolation; exec runs\n"
			       "without its default limits. For limits: run as root, or in a delegated cgroup v2\n"
			       "subtree (systemd-run --user --scope -p Delegate=yes shipgate ...).\n");
		else
			printf("\nA full sandbox runs here, with cgroup limits.\n");
	}
	cJSON_Delete(report);
	return all_ok ? 0 : 3;
}
