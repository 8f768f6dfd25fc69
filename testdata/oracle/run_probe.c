// Loads testdata/core/progs/probe.bpf.o with libbpf, with BTF (a
// minimized BTF, or the kernel's) given as btf_custom_path, attaches it,
// calls getppid() and prints what the probe read about this task:
//   pid tgid ppid uid mnt_ns_inum start_time comm8 marker
// Usage: run_probe OBJ BTF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *link;
	__u64 want = getpid(), r[8] = {};
	__u32 key = 0;
	int i;

	if (argc < 3)
		return 2;
	opts.btf_custom_path = argv[2];
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	if (bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "config"), &key, &want, 0)) {
		perror("config");
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "probe_getppid");
	link = bpf_program__attach(prog);
	if (!link) {
		perror("attach");
		return 1;
	}
	syscall(SYS_getppid);
	if (bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "results"), &key, r)) {
		perror("results");
		return 1;
	}
	for (i = 0; i < 8; i++)
		printf("%llu%c", (unsigned long long)r[i], i == 7 ? '\n' : ' ');
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
