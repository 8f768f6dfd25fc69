// Ground truth for `core check`: loads each program of a BPF object alone
// (the others' autoload off, this one's on even in a SEC("?...")) into the
// running kernel with libbpf, and prints one line per program:
//   PROG <name> <ret>     (ret 0: loaded and verified)
//   WHY <name> <text>     after a failure: libbpf's last messages
// Usage: load_programs OBJ
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>

/* libbpf's messages of the current load (the verifier log's last lines
 * say why a load failed). */
static char log_buf[16384];
static size_t log_len;

static int keep(enum libbpf_print_level level, const char *fmt, va_list args)
{
	int n;

	if (level == LIBBPF_DEBUG || log_len >= sizeof(log_buf) - 1)
		return 0;
	n = vsnprintf(log_buf + log_len, sizeof(log_buf) - log_len, fmt, args);
	if (n > 0)
		log_len += (size_t)n < sizeof(log_buf) - log_len ? (size_t)n : sizeof(log_buf) - log_len - 1;
	return 0;
}

/* The last `n` lines of the kept messages, on one line. */
static void print_why(const char *name, int n)
{
	char *end = log_buf + log_len, *p = end;
	int lines = 0;

	while (p > log_buf && lines <= n)
		if (*--p == '\n' && p + 1 < end)
			lines++;
	printf("WHY %s ", name);
	for (; p < end; p++)
		putchar(*p == '\n' ? ' ' : *p);
	putchar('\n');
}

int main(int argc, char **argv)
{
	struct bpf_program *prog, *p;
	struct bpf_object *names, *obj;
	int ret;

	if (argc < 2)
		return 2;
	libbpf_set_print(keep);
	names = bpf_object__open_file(argv[1], NULL);
	if (!names) {
		printf("OPEN failed\n");
		return 1;
	}
	bpf_object__for_each_program(prog, names) {
		const char *name = bpf_program__name(prog);

		obj = bpf_object__open_file(argv[1], NULL);
		if (!obj)
			return 1;
		bpf_object__for_each_program(p, obj)
			bpf_program__set_autoload(p, !strcmp(bpf_program__name(p), name));
		log_len = 0;
		ret = bpf_object__load(obj);
		printf("PROG %s %d\n", name, ret);
		if (ret)
			print_why(name, 8);
		bpf_object__close(obj);
	}
	bpf_object__close(names);
	return 0;
}
