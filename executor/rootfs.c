/* rootfs.c: built root filesystem images and os-release files (see rootfs.h). */
#include "rootfs.h"
#include "evidence.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include "digest.h"
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define SG_MANIFEST_MAX_BYTES (16u << 20)
#define SG_OS_RELEASE_MAX_BYTES (64u << 10)

bool sg_rootfs_is_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SG_ROOTFS_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

char *sg_rootfs_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && xdg[0] == '/')
		return sg_xasprintf("%s/shipgate/rootfs", xdg);
	const char *home = getenv("HOME");
	if (home && home[0] == '/')
		return sg_xasprintf("%s/.cache/shipgate/rootfs", strcmp(home, "/") ? home : "");
	return NULL;
}

void sg_rootfs_image_free(sg_rootfs_image *img)
{
	free(img->name);
	free(img->dir);
	free(img->root);
	free(img->manifest_path);
	free(img->kind);
	memset(img, 0, sizeof(*img));
}

static bool is_hex64(const char *s)
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* The manifest's fields shipgate relies on; the rest is for people and scripts. */
static int manifest_parse(sg_rootfs_image *img, const char *data, size_t len, sg_error *err)
{
	const char *where = img->manifest_path;
	cJSON *m = cJSON_ParseWithLength(data, len);
	if (!m)
		return sg_error_set(err, SG_ERR_USAGE, 0, "%s: invalid JSON", where);
	int rc = -1;
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(m, "version");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
	const cJSON *digest = cJSON_GetObjectItemCaseSensitive(m, "digest");
	const cJSON *sha = digest ? cJSON_GetObjectItemCaseSensitive(digest, "sha256") : NULL;
	const cJSON *algo = digest ? cJSON_GetObjectItemCaseSensitive(digest, "algorithm") : NULL;
	const cJSON *pkgs = cJSON_GetObjectItemCaseSensitive(m, "packages");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(m, "kind");
	if (!cJSON_IsNumber(version) || version->valuedouble != 1)
		sg_error_set(err, SG_ERR_USAGE, 0, "%s: version: expected 1", where);
	else if (!cJSON_IsString(name) || strcmp(name->valuestring, img->name))
		sg_error_set(err, SG_ERR_USAGE, 0, "%s: name: expected \"%s\"", where, img->name);
	else if (!cJSON_IsString(sha) || !is_hex64(sha->valuestring))
		sg_error_set(err, SG_ERR_USAGE, 0, "%s: digest.sha256: expected 64 hex digits", where);
	else if (!cJSON_IsString(algo) || strcmp(algo->valuestring, "shipgate-tree-v1"))
		sg_error_set(err, SG_ERR_USAGE, 0, "%s: digest.algorithm: expected \"shipgate-tree-v1\"",
			     where);
	else if (!cJSON_IsArray(pkgs))
		sg_error_set(err, SG_ERR_USAGE, 0, "%s: packages: expected an array", where);
	else
		rc = 0;
	if (rc == 0) {
		memcpy(img->digest, sha->valuestring, 65);
		img->n_packages = (size_t)cJSON_GetArraySize(pkgs);
		img->kind = sg_xstrdup(cJSON_IsString(kind) ? kind->valuestring : "unknown");
	}
	cJSON_Delete(m);
	return rc;
}

int sg_rootfs_image_open(const char *name, sg_rootfs_image *img, sg_error *err)
{
	memset(img, 0, sizeof(*img));
	if (!sg_rootfs_is_name(name))
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "\"%s\" is not an image name ([a-z0-9][a-z0-9._-]*, at most %d "
				    "characters)", name, SG_ROOTFS_NAME_MAX);
	sg_autofree char *cache = sg_rootfs_cache_dir();
	if (!cache)
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "image \"%s\": neither XDG_CACHE_HOME nor HOME is an absolute "
				    "path, so there is no image cache to look in", name);
	img->name = sg_xstrdup(name);
	img->dir = sg_xasprintf("%s/%s", cache, name);
	img->manifest_path = sg_xasprintf("%s/manifest.json", img->dir);
	sg_autofree char *data = NULL;
	size_t len = 0;
	sg_error rerr = {0};
	if (sg_read_file(img->manifest_path, SG_MANIFEST_MAX_BYTES, &data, &len, &rerr) < 0) {
		int e = rerr.errnum;
		sg_rootfs_image_free(img);
		if (e == ENOENT || e == ENOTDIR)
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "image \"%s\" is not built (no %s/%s/manifest.json); build "
					    "it with: scripts/rootfs build %s",
					    name, cache, name, name);
		return sg_error_set(err, SG_ERR_USAGE, 0, "image \"%s\": %s", name, rerr.msg);
	}
	if (manifest_parse(img, data, len, err) < 0) {
		sg_rootfs_image_free(img);
		return sg_error_prefix(err, "image \"%s\"", name);
	}
	sg_sha256_hex(data, len, img->manifest_sha256);
	sg_autofree char *root = sg_xasprintf("%s/root", img->dir);
	img->root = realpath(root, NULL);
	struct stat st;
	if (!img->root || stat(img->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		int e = img->root ? ENOTDIR : errno;
		sg_rootfs_image_free(img);
		return sg_error_set(err, SG_ERR_USAGE, e,
				    "image \"%s\": %s is not a directory (rebuild it with: "
				    "scripts/rootfs build --force %s)",
				    name, root, name);
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

cJSON *sg_rootfs_list(void)
{
	cJSON *list = cJSON_CreateArray();
	sg_autofree char *cache = sg_rootfs_cache_dir();
	DIR *d = cache ? opendir(cache) : NULL;
	if (!d)
		return list;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !sg_rootfs_is_name(de->d_name))
			continue;
		names = sg_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = sg_xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", names[i]);
		sg_rootfs_image img;
		sg_error err = {0};
		if (sg_rootfs_image_open(names[i], &img, &err) == 0) {
			cJSON_AddStringToObject(o, "path", img.root);
			cJSON_AddStringToObject(o, "kind", img.kind);
			cJSON *dg = cJSON_AddObjectToObject(o, "digest");
			cJSON_AddStringToObject(dg, "sha256", img.digest);
			cJSON_AddNumberToObject(o, "packages", (double)img.n_packages);
			sg_rootfs_image_free(&img);
		} else {
			cJSON_AddStringToObject(o, "error", err.msg);
		}
		cJSON_AddItemToArray(list, o);
		free(names[i]);
	}
	free(names);
	return list;
}

/* ---- os-release -------------------------------------------------------------------- */

/* Open root/path with every symlink resolved inside root (etc/os-release is usually a
 * link to ../usr/lib/os-release, and an image's links must not reach the host's files). */
static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* The value of a shell-style assignment: quotes removed, \" \\ \$ \` unescaped. */
static char *os_release_value(const char *v, size_t n)
{
	sg_buf b = {0};
	char quote = 0;
	if (n && (v[0] == '"' || v[0] == '\'')) {
		quote = v[0];
		v++;
		n--;
		if (n && v[n - 1] == quote)
			n--;
	}
	for (size_t i = 0; i < n; i++) {
		if (quote != '\'' && v[i] == '\\' && i + 1 < n && strchr("\"\\$`", v[i + 1]))
			i++;
		sg_buf_append(&b, &v[i], 1);
	}
	if (!b.data)
		sg_buf_append(&b, "", 0);
	char *clean = sg_utf8_sanitize(b.data, b.len);
	sg_buf_free(&b);
	return clean;
}

cJSON *sg_os_release(const char *root)
{
	static const char *const files[] = {"etc/os-release", "usr/lib/os-release"};
	static const char *const keys[] = {"ID", "VERSION_ID", "PRETTY_NAME"};
	sg_autoclose int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return NULL;
	sg_autoclose int fd = -1;
	for (size_t i = 0; i < SG_ARRAY_LEN(files) && fd < 0; i++)
		fd = open_in_root(rootfd, files[i]);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	sg_autofree char *data = sg_xmalloc(SG_OS_RELEASE_MAX_BYTES + 1);
	ssize_t len = sg_read_all(fd, data, SG_OS_RELEASE_MAX_BYTES);
	if (len < 0)
		return NULL;
	data[len] = '\0';
	cJSON *o = cJSON_CreateObject();
	for (size_t k = 0; k < SG_ARRAY_LEN(keys); k++) {
		size_t klen = strlen(keys[k]);
		for (const char *line = data; line && *line;) {
			const char *end = strchr(line, '\n');
			size_t n = end ? (size_t)(end - line) : strlen(line);
			if (n > klen && !strncmp(line, keys[k], klen) && line[klen] == '=') {
				sg_autofree char *v = os_release_value(line + klen + 1, n - klen - 1);
				cJSON_DeleteItemFromObjectCaseSensitive(o, keys[k]);
				cJSON_AddStringToObject(o, keys[k], v);
			}
			line = end ? end + 1 : NULL;
		}
	}
	return o;
}
