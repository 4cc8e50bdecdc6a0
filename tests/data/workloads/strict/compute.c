/* compute.c: a pure computation for the strict policy (tests/integration/test_policies.sh).
 *
 *     compute [N]            count the primes below N (default 2000000) with a sieve on two
 *                            threads, print the count; exit 0
 *     compute --socket       the same program trying to open a socket: prints why it
 *                            could not and exits 1 (under strict: EPERM)
 *     compute --spawn        the same, trying to start a second process (fork)
 *
 * Built with `gcc -static -O2 -pthread`, so it also runs in the busybox image. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct half {
	const unsigned char *composite;
	long from, to, count;
};

static void *count_primes(void *arg)
{
	struct half *h = arg;
	for (long i = h->from; i < h->to; i++)
		h->count += i >= 2 && !h->composite[i];
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--socket")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) {
			fprintf(stderr, "compute: socket: %s\n", strerror(errno));
			return 1;
		}
		printf("compute: socket opened (fd %d)\n", s);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--spawn")) {
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "compute: fork: %s\n", strerror(errno));
			return 1;
		}
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
		printf("compute: started a second process\n");
		return 0;
	}
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	if (n < 2)
		n = 2;
	unsigned char *composite = calloc((size_t)n, 1);
	if (!composite)
		return 2;
	for (long i = 2; i * i < n; i++)
		if (!composite[i])
			for (long j = i * i; j < n; j += i)
				composite[j] = 1;
	struct half a = {composite, 0, n / 2, 0}, b = {composite, n / 2, n, 0};
	pthread_t t;
	if (pthread_create(&t, NULL, count_primes, &b) != 0) {
		fprintf(stderr, "compute: pthread_create failed\n");
		return 2;
	}
	count_primes(&a);
	pthread_join(t, NULL);
	printf("primes below %ld: %ld\n", n, a.count + b.count);
	free(composite);
	return 0;
}
