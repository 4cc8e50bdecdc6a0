/* spin.c: burn CPU in a busy loop for a wall-clock time (a cgroup test helper, built
 * static).
 *
 *     spin MS
 *
 * Loops on the CPU until MS milliseconds of monotonic time have passed, then exits 0.
 * Under a CPU quota its CPU time over its wall time is the share it was given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: spin MS\n");
		return 2;
	}
	unsigned long long ms = strtoull(argv[1], NULL, 10);
	unsigned long long end = now_ms() + ms;
	volatile unsigned long long work = 0;
	while (now_ms() < end)
		for (int i = 0; i < 10000; i++)
			work += (unsigned long long)i;
	return 0;
}
