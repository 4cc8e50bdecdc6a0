/* seccomp_builtin_gen.c: writes seccomp_builtin.c, the programs of the shipped policies
 * compiled at build time (see seccomp_builtin.h).
 *
 *   seccomp_builtin_gen OUT.c POLICY.json...
 *
 * Each policy is parsed and compiled by policy.c exactly as shipgate would at run time,
 * in every variant; OUT.c holds each policy's exact bytes and its programs, and the
 * libseccomp version and architecture that made them. A policy that does not parse or
 * compile fails the build. OUT.c is replaced atomically, so an interrupted build never
 * leaves half a table behind.
 *
 * This program links the library's objects without a table of its own: the empty one
 * below stands in, so every program here is compiled, never copied.
 */
#include "policy.h"
#include "seccomp_builtin.h"
#include "util.h"

#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct sg_bpf_builtin sg_bpf_builtins[1];
const size_t sg_bpf_builtins_count = 0;
const unsigned sg_bpf_builtins_libseccomp[3];
const uint32_t sg_bpf_builtins_arch;

static const char *const variant_names[SG_BPF_VARIANTS] = {"SG_BPF_PLAIN", "SG_BPF_TRACED",
							    "SG_BPF_TRACED_CONNECT"};

static void emit_bytes(sg_buf *out, const char *name, const char *data, size_t len)
{
	sg_buf_printf(out, "static const char %s[%zu] = {", name, len);
	for (size_t i = 0; i < len; i++)
		sg_buf_printf(out, "%s%d,", i % 24 == 0 ? "\n\t" : "", (signed char)data[i]);
	sg_buf_puts(out, "\n};\n");
}

static void emit_program(sg_buf *out, const char *name, const struct sock_filter *prog, size_t count)
{
	sg_buf_printf(out, "static const struct sock_filter %s[%zu] = {\n", name, count);
	for (size_t i = 0; i < count; i++)
		sg_buf_printf(out, "\t{0x%04x, %u, %u, 0x%08x},\n", prog[i].code, prog[i].jt, prog[i].jf, prog[i].k);
	sg_buf_puts(out, "};\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: seccomp_builtin_gen OUT.c POLICY.json...\n");
		return 2;
	}
	const struct scmp_version *lib = seccomp_version();
	if (!lib) {
		fprintf(stderr, "seccomp_builtin_gen: libseccomp does not say its version\n");
		return 1;
	}
	sg_buf out = {0};
	sg_buf table = {0};
	sg_buf_puts(&out, "/* seccomp_builtin.c: made by executor/gen/seccomp_builtin_gen.c at build time from\n"
			  " * the shipped policies; do not edit (see seccomp_builtin.h). */\n"
			  "#include \"seccomp_builtin.h\"\n#include \"policy.h\"\n\n");
	size_t entries = 0;
	for (int i = 2; i < argc; i++) {
		sg_error err = {0};
		sg_autofree char *data = NULL;
		size_t len = 0;
		if (sg_read_file(argv[i], 1 << 20, &data, &len, &err) < 0) {
			fprintf(stderr, "seccomp_builtin_gen: %s\n", err.msg);
			return 1;
		}
		sg_policy *p = sg_policy_parse(argv[i], data, len, &err);
		if (!p) {
			fprintf(stderr, "seccomp_builtin_gen: %s\n", err.msg);
			return 1;
		}
		char name[64];
		snprintf(name, sizeof(name), "policy_%d", i - 2);
		const char *base = strrchr(argv[i], '/');
		sg_buf_printf(&out, "/* policies/%s */\n", base ? base + 1 : argv[i]);
		emit_bytes(&out, name, data, len);
		for (unsigned v = 0; v < SG_BPF_VARIANTS; v++) {
			struct sock_filter *prog = NULL;
			size_t count = 0;
			if (sg_policy_compile(p, (enum sg_bpf_variant)v, &prog, &count, &err) < 0) {
				fprintf(stderr, "seccomp_builtin_gen: %s\n", err.msg);
				sg_policy_free(p);
				return 1;
			}
			char pname[80];
			snprintf(pname, sizeof(pname), "%s_%u", name, v);
			emit_program(&out, pname, prog, count);
			sg_buf_printf(&table, "\t{%s, %zu, %s, 0x%016llxull, %s, %zu},\n", name, len, variant_names[v],
				      (unsigned long long)sg_policy_rules_fingerprint(p), pname, count);
			free(prog);
			entries++;
		}
		sg_buf_puts(&out, "\n");
		sg_policy_free(p);
	}
	sg_buf_printf(&out, "const struct sg_bpf_builtin sg_bpf_builtins[%zu] = {\n", entries ? entries : 1);
	if (table.len)
		sg_buf_append(&out, table.data, table.len);
	sg_buf_printf(&out, "};\nconst size_t sg_bpf_builtins_count = %zu;\n", entries);
	sg_buf_printf(&out, "const unsigned sg_bpf_builtins_libseccomp[3] = {%u, %u, %u};\n", lib->major, lib->minor,
		      lib->micro);
	sg_buf_printf(&out, "const uint32_t sg_bpf_builtins_arch = 0x%08xu;\n", seccomp_arch_native());
	sg_error err = {0};
	int rc = sg_write_file_atomic(argv[1], out.data, out.len, 0644, &err);
	if (rc < 0)
		fprintf(stderr, "seccomp_builtin_gen: %s\n", err.msg);
	sg_buf_free(&out);
	sg_buf_free(&table);
	return rc < 0 ? 1 : 0;
}
