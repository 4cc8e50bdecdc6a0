/* memhog.c: allocate and touch memory, then hold it (a cgroup test helper, built static so
 * that no interpreter or loader adds to the figures).
 *
 *     memhog MB [HOLD_MS]
 *
 * Maps MB mebibytes of anonymous memory, writes to every page so that each one is really
 * charged, prints "touched MB" and sleeps HOLD_MS milliseconds (default 0) before it
 * exits 0. Under a memory limit below MB it is OOM-killed while touching. Exit 2 on
 * usage errors, 1 if the mapping fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: memhog MB [HOLD_MS]\n");
		return 2;
	}
	char *end = NULL;
	unsigned long mb = strtoul(argv[1], &end, 10);
	unsigned long hold_ms = argc == 3 ? strtoul(argv[2], NULL, 10) : 0;
	if (!end || *end || mb == 0) {
		fprintf(stderr, "memhog: MB must be a whole number above 0\n");
		return 2;
	}
	size_t len = mb << 20;
	/* no huge pages: the peak then rises page by page, as the figures assume */
	volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("memhog: mmap");
		return 1;
	}
	(void)madvise((void *)p, len, MADV_NOHUGEPAGE);
	long page = sysconf(_SC_PAGESIZE);
	for (size_t off = 0; off < len; off += (size_t)page)
		p[off] = (char)(off >> 12 | 1);
	printf("touched %lu\n", mb);
	fflush(stdout);
	struct timespec ts = {(time_t)(hold_ms / 1000), (long)(hold_ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
	return 0;
}
