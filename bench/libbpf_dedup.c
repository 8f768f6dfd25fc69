// Reference side of bench/dedup_worst.sh: libbpf's counterpart of
// `btfkit btf merge BASE X`: X's types added to an empty split BTF on
// BASE (btf__add_btf), then btf__dedup. Prints "<us> <types added>".
// With one file, that file deduplicated alone: "<us> <types left>".
//   libbpf_dedup BASE X
//   libbpf_dedup FILE
#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	struct btf *base, *x, *split;
	double t0;
	int err;

	if (argc == 2) {
		x = btf__parse(argv[1], NULL);
		if (!x) {
			perror("btf__parse");
			return 1;
		}
		t0 = now_us();
		err = btf__dedup(x, NULL);
		if (err) {
			fprintf(stderr, "btf__dedup: %d\n", err);
			return 1;
		}
		printf("%.0f %u\n", now_us() - t0, btf__type_cnt(x) - 1);
		return 0;
	}
	if (argc < 3)
		return 2;
	base = btf__parse(argv[1], NULL);
	x = btf__parse(argv[2], NULL);
	if (!base || !x) {
		perror("btf__parse");
		return 1;
	}
	split = btf__new_empty_split(base);
	if (!split || btf__add_btf(split, x) < 0) {
		perror("btf__add_btf");
		return 1;
	}
	t0 = now_us();
	err = btf__dedup(split, NULL);
	if (err) {
		fprintf(stderr, "btf__dedup: %d\n", err);
		return 1;
	}
	printf("%.0f %u\n", now_us() - t0,
	       btf__type_cnt(split) - btf__type_cnt(base));
	return 0;
}
