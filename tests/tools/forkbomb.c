/* forkbomb.c: fork for ever (a cgroup test helper, built static).
 *
 *     forkbomb
 *
 * Every process forks in a loop; when fork fails (the pids limit) it waits a millisecond
 * and tries again, so the tree stays at the limit until something kills it. It never
 * exits by itself: run it under a timeout.
 */
#include <time.h>
#include <unistd.h>

int main(void)
{
	struct timespec ms = {0, 1000000L};
	for (;;)
		if (fork() < 0)
			nanosleep(&ms, NULL);
}
