#include <stdio.h>
#include <stdlib.h>
long long sum_below(long long n);
int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	long long got = sum_below(atoll(argv[1])), want = atoll(argv[2]);
	printf("sum_below(%s) = %lld, want %lld\n", argv[1], got, want);
	return got == want ? 0 : 1;
}
