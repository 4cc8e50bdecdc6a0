/* test_changes.c: protect globs and the scan of an overlay upper layer. */
#include "changes.h"
#include "tap.h"
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void test_globs(void)
{
	TAP_OK(sg_glob_match("tests/**", "tests/test_a.py"));
	TAP_OK(sg_glob_match("tests/**", "tests/unit/deep/x.c"));
	TAP_OK(!sg_glob_match("tests/**", "src/tests.c"));
	TAP_OK(sg_glob_match("conftest.py", "conftest.py"));
	TAP_OK(sg_glob_match("conftest.py", "sub/dir/conftest.py"));
	TAP_OK(!sg_glob_match("conftest.py", "conftest.pyc"));
	TAP_OK(sg_glob_match("Makefile", "Makefile"));
	TAP_OK(sg_glob_match("src/*.c", "src/main.c"));
	TAP_OK(!sg_glob_match("src/*.c", "src/sub/main.c"));
	TAP_OK(sg_glob_match("src/**/*.c", "src/main.c"));
	TAP_OK(sg_glob_match("src/**/*.c", "src/a/b/main.c"));
	TAP_OK(sg_glob_match("tests", "tests/x/y"));
	TAP_OK(sg_glob_match("./tests/**", "tests/a"));
	TAP_OK(sg_glob_match("*.sh", "scripts/verify.sh"));
	TAP_OK(!sg_glob_match("verify/*.sh", "verify.sh"));
	TAP_OK(sg_glob_match("t?st/[ab].c", "test/a.c"));
	TAP_OK(!sg_glob_match("t?st/[ab].c", "test/c.c"));
}

static void write_file(const char *dir, const char *rel, const char *data)
{
	sg_autofree char *p = sg_xasprintf("%s/%s", dir, rel);
	sg_error err = {0};
	sg_write_file_atomic(p, data, strlen(data), 0644, &err);
}

static void test_scan(void)
{
	char tmpl[] = "/tmp/sg-test-changes-XXXXXX";
	char *dir = mkdtemp(tmpl);
	TAP_OK(dir != NULL);
	sg_autofree char *sub = sg_xasprintf("%s/src", dir);
	mkdir(sub, 0755);
	write_file(dir, "src/new.c", "int x;\n");
	write_file(dir, "built.o", "obj");
	sg_autofree char *link = sg_xasprintf("%s/link", dir);
	TAP_OK(symlink("/etc/passwd", link) == 0);
	sg_autofree char *wh = sg_xasprintf("%s/gone.txt", dir);
	bool whiteout = mknod(wh, S_IFCHR | 0000, makedev(0, 0)) == 0;

	sg_changes c;
	sg_error err = {0};
	tap_is_int(sg_changes_scan(dir, 100, true, NULL, &c, &err), 0, "scan works");
	tap_is_int((long long)c.n, whiteout ? 4 : 3, "one change per entry, directories not counted");
	tap_is_str(c.items[0].path, "built.o", "sorted by path");
	tap_is_str(c.items[0].sha256, "772a5fb04f9bad38681a2f56ddfdbd6a15185753df8dcc029788d02bf3b6825b" /* sha256("obj") */,
		   "files are hashed");
	const sg_change *link_c = NULL, *gone = NULL;
	for (size_t i = 0; i < c.n; i++) {
		if (!strcmp(c.items[i].path, "link"))
			link_c = &c.items[i];
		if (!strcmp(c.items[i].path, "gone.txt"))
			gone = &c.items[i];
	}
	TAP_OK(link_c && link_c->kind == SG_CHANGE_SYMLINK);
	if (whiteout)
		TAP_OK(gone && gone->kind == SG_CHANGE_DELETED);
	char *globs[] = {(char *)"src/**", NULL};
	const sg_change *hit = sg_changes_match(&c, globs);
	TAP_OK(hit && !strcmp(hit->path, "src/new.c"));
	char *none[] = {(char *)"docs/**", NULL};
	TAP_OK(sg_changes_match(&c, none) == NULL);
	sg_changes_free(&c);

	tap_is_int(sg_changes_scan(dir, 2, false, NULL, &c, &err), 0, "a capped scan works");
	TAP_OK(c.truncated && c.n == 2 && c.total == (whiteout ? 4u : 3u));
	sg_changes_free(&c);

	/* a watched glob is matched against every change, even past max: a protected path
	 * cannot hide behind others */
	tap_is_int(sg_changes_scan(dir, 1, false, globs, &c, &err), 0, "a capped, watched scan works");
	TAP_OK(c.n == 1 && c.watched.path && !strcmp(c.watched.path, "src/new.c"));
	sg_changes_free(&c);
	tap_is_int(sg_changes_scan(dir, 1, false, none, &c, &err), 0, "a watched scan without a match");
	TAP_OK(c.watched.path == NULL);
	sg_changes_free(&c);
	sg_rm_rf(dir, &err);
}

/* The list grows with what is found (it starts at 16 entries, not at max): 300 files
 * are all there, sorted and hashed, under a max of 1,000; 300 under a max of 100 keep
 * the first 100 found and count the rest. */
static void test_scan_many(void)
{
	char tmpl[] = "/tmp/sg-test-changes-XXXXXX";
	char *dir = mkdtemp(tmpl);
	TAP_OK(dir != NULL);
	for (int i = 0; i < 300; i++) {
		char rel[32];
		snprintf(rel, sizeof(rel), "f%03d", i);
		write_file(dir, rel, "obj");
	}
	sg_changes c;
	sg_error err = {0};
	tap_is_int(sg_changes_scan(dir, 1000, true, NULL, &c, &err), 0, "300 files: scan works");
	bool all = c.n == 300 && !c.truncated && c.total == 300;
	for (size_t i = 0; all && i < c.n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "f%03zu", i);
		all = !strcmp(c.items[i].path, want) && c.items[i].size == 3 &&
		      !strcmp(c.items[i].sha256, "772a5fb04f9bad38681a2f56ddfdbd6a15185753df8dcc029788d02bf3b6825b");
	}
	tap_ok(all, "300 files: every one listed, sorted, hashed");
	sg_changes_free(&c);
	tap_is_int(sg_changes_scan(dir, 100, false, NULL, &c, &err), 0, "300 files, max 100: scan works");
	TAP_OK(c.n == 100 && c.truncated && c.total == 300);
	sg_changes_free(&c);
	sg_rm_rf(dir, &err);

	/* and the paths' bytes are bounded: of 1,200 files with 230-byte names, those whose
	 * paths (with their NULs) fit in 256 KiB are listed, 1,134 */
	dir = mkdtemp(strcpy(tmpl, "/tmp/sg-test-changes-XXXXXX"));
	TAP_OK(dir != NULL);
	char name[231];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (int i = 0; i < 1200; i++) {
		snprintf(name, 6, "%05d", i);
		name[5] = 'n';
		write_file(dir, name, "x");
	}
	tap_is_int(sg_changes_scan(dir, 5000, false, NULL, &c, &err), 0, "1,200 long names: scan works");
	tap_ok(c.truncated && c.total == 1200 && c.n == (SG_CHANGES_PATH_BUDGET / 231),
	       "1,200 long names: as many as fit in %u bytes of paths (%zu listed)", SG_CHANGES_PATH_BUDGET, c.n);
	sg_changes_free(&c);
	sg_rm_rf(dir, &err);
}

int main(void)
{
	test_globs();
	test_scan();
	test_scan_many();
	return tap_done();
}
