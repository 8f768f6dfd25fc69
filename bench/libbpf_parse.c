// Reference side of bench/run.sh: libbpf's btf__parse.
//   libbpf_parse FILE cold     one parse in this process; prints "<us> <maxrss_kb>"
//   libbpf_parse FILE warm N   best of N parses in one process; prints "<us>"
#include <bpf/btf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	double best = 1e18;
	int i, n = 1;

	if (argc < 3)
		return 2;
	if (!strcmp(argv[2], "warm"))
		n = argc > 3 ? atoi(argv[3]) : 30;
	for (i = 0; i < n; i++) {
		double t0 = now_us(), t;
		struct btf *btf = btf__parse(argv[1], NULL);

		t = now_us() - t0;
		if (!btf) {
			perror("btf__parse");
			return 1;
		}
		if (t < best)
			best = t;
		if (!strcmp(argv[2], "cold")) {
			struct rusage ru;

			getrusage(RUSAGE_SELF, &ru);
			printf("%.0f %ld\n", t, ru.ru_maxrss);
			return 0;
		}
		btf__free(btf);
	}
	printf("%.0f\n", best);
	return 0;
}
