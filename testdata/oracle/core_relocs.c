// libbpf oracle for btfkit's CO-RE engine: opens a BPF object with a
// custom target BTF (btf_custom_path), loads it, and prints libbpf's own
// messages about each relocation, one per line:
//   L <message>
// then "LOAD <ret>". The load attempt itself may fail after relocation
// (programs built for another kernel); only the relocation messages
// matter. With PROG..., only those programs (and subprograms) are loaded,
// as libbpf does for bpf_program__set_autoload(other, false).
// Usage: core_relocs OBJ TARGET_BTF [PROG...]
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, args);

	if (n > 0 && strstr(buf, "relo #")) {
		if (buf[strlen(buf) - 1] == '\n')
			buf[strlen(buf) - 1] = 0;
		printf("L %s\n", buf);
	}
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct bpf_program *prog;
	struct bpf_object *obj;
	int ret;

	if (argc < 3)
		return 2;
	libbpf_set_print(print);
	opts.btf_custom_path = argv[2];
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		printf("OPEN failed\n");
		return 1;
	}
	if (argc > 3) {
		bpf_object__for_each_program(prog, obj) {
			bool load = false;

			for (int i = 3; i < argc; i++)
				load |= !strcmp(bpf_program__name(prog), argv[i]);
			bpf_program__set_autoload(prog, load);
		}
	}
	ret = bpf_object__load(obj);
	printf("LOAD %d\n", ret);
	bpf_object__close(obj);
	return 0;
}
