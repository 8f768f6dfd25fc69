// libbpf oracle for btfkit's type queries: for every type of a BTF file
// (raw or ELF, optionally split on a base), prints
//   <id> <kind> <resolve_size or -errno> <align_of or -errno>
// preceded by one line "ptr_size <n> types <btf__type_cnt>".
// Usage: btf_queries FILE [BASE]
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return 0;
}

int main(int argc, char **argv)
{
	struct btf *base = NULL, *btf;
	__u32 id, cnt, start = 1;

	libbpf_set_print(quiet);
	if (argc < 2)
		return 2;
	if (argc > 2) {
		base = btf__parse(argv[2], NULL);
		if (!base) {
			fprintf(stderr, "cannot parse base %s: %d\n", argv[2], errno);
			return 1;
		}
		start = btf__type_cnt(base);
	}
	btf = btf__parse_split(argv[1], base);
	if (!btf) {
		fprintf(stderr, "cannot parse %s: %d\n", argv[1], errno);
		return 1;
	}
	cnt = btf__type_cnt(btf);
	printf("ptr_size %zu types %u\n", btf__pointer_size(btf), cnt);
	for (id = start; id < cnt; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		long long size = btf__resolve_size(btf, id);
		int align;

		errno = 0;
		align = btf__align_of(btf, id);
		if (align == 0)
			align = errno ? -errno : 0;
		printf("%u %u %lld %d\n", id, btf_kind(t), size, align);
	}
	return 0;
}
