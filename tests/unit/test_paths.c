/* test_paths.c: paths resolved as far as they exist (executor/util.c:
 * sg_realpath_partial), which say where shipgate's own state is or will be made
 * (publish.c: sg_own_state), so that no sandbox is handed it. A symlink whose target is not
 * there yet is followed (the state would be made at its target), ".." in the part not
 * there yet is applied as mkdir -p would, and a loop of links gives the path as written. */
#include "tap.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void is_path(const char *in, const char *want, const char *name)
{
	sg_autofree char *got = sg_realpath_partial(in);
	tap_is_str(got, want, name);
}

int main(void)
{
	char tmpl[] = "/tmp/sg-paths-XXXXXX";
	char *dir = mkdtemp(tmpl);
	tap_ok(dir != NULL, "a temp dir");
	if (!dir)
		return tap_done();
	char real[PATH_MAX];
	tap_ok(realpath(dir, real) != NULL, "its real path");
	sg_autofree char *sub = sg_xasprintf("%s/there", real);
	tap_ok(mkdir(sub, 0700) == 0, "a subdir");

	sg_autofree char *p1 = sg_xasprintf("%s/there", dir);
	is_path(p1, sub, "an existing path: its realpath");
	sg_autofree char *p2 = sg_xasprintf("%s/there/not/yet/../made/./x", dir);
	sg_autofree char *w2 = sg_xasprintf("%s/there/not/made/x", real);
	is_path(p2, w2, "the part not there yet: as mkdir -p makes it (.. and . applied)");

	sg_autofree char *target = sg_xasprintf("%s/elsewhere", real);
	sg_autofree char *link = sg_xasprintf("%s/link", real);
	tap_ok(symlink(target, link) == 0, "a symlink to what is not there yet");
	sg_autofree char *p3 = sg_xasprintf("%s/link/state/shipgate", dir);
	sg_autofree char *w3 = sg_xasprintf("%s/elsewhere/state/shipgate", real);
	is_path(p3, w3, "a dangling symlink is followed to where the rest would be made");

	sg_autofree char *rlink = sg_xasprintf("%s/rlink", real);
	tap_ok(symlink("there/../rel-target", rlink) == 0, "a relative dangling symlink");
	sg_autofree char *p4 = sg_xasprintf("%s/rlink/x", real);
	sg_autofree char *w4 = sg_xasprintf("%s/rel-target/x", real);
	is_path(p4, w4, "a relative one: from the link's directory");

	/* ".." in the part not there yet can lead back onto a symlink that is there */
	sg_autofree char *lnk = sg_xasprintf("%s/lnk", real);
	tap_ok(symlink("there", lnk) == 0, "a symlink to an existing dir");
	sg_autofree char *p6 = sg_xasprintf("%s/nx/../lnk/a", real);
	sg_autofree char *w6 = sg_xasprintf("%s/there/a", real);
	is_path(p6, w6, "nx/../lnk/a: the link reached after .. is followed, as mkdir -p would");
	/* the last component a dangling link: followed */
	sg_autofree char *dl = sg_xasprintf("%s/dangfinal", real);
	tap_ok(symlink("there/newdir", dl) == 0, "a dangling link as the last component");
	sg_autofree char *w7 = sg_xasprintf("%s/there/newdir", real);
	is_path(dl, w7, "it is followed to its target");

	sg_autofree char *a = sg_xasprintf("%s/a", real), *b = sg_xasprintf("%s/b", real);
	tap_ok(symlink(b, a) == 0 && symlink(a, b) == 0, "two links to each other");
	sg_autofree char *p5 = sg_xasprintf("%s/a/x", real);
	is_path(p5, p5, "a loop of links: the path as written");
	tap_ok(sg_realpath_partial("relative/path") == NULL, "a relative path: no answer");

	unlink(a);
	unlink(b);
	unlink(lnk);
	unlink(dl);
	unlink(rlink);
	unlink(link);
	rmdir(sub);
	rmdir(real);
	return tap_done();
}
