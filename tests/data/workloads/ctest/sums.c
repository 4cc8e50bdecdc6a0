long long sum_below(long long n);
long long sum_below(long long n)
{
	long long s = 0;
	for (long long i = 0; i < n; i++)
		s += i;
	return s;
}
