// A libbpf loader handed its BTF by btfkit in memory:
//   btfkit resolve --bundle B --exec ./exec_events OBJECT {btf}
// btfkit finds the running kernel's BTF (sysfs, vmlinux files, else the
// bundle), puts it in a sealed memory file and runs this program with
// its path (/proc/self/fd/N) as the last argument and in BTFKIT_BTF_PATH;
// libbpf relocates OBJECT against it (btf_custom_path). Nothing is
// written to disk. OBJECT is examples/portable-aya/bpf/exec.bpf.o: one
// ring-buffer event per exec with the pid and parent pid, read via CO-RE.
// Runs `sh -c true` and exits 0 when its exec event arrives.
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct event {
	unsigned int pid;
	unsigned int ppid;
	char comm[16];
};

static pid_t child;
static int seen;

static int on_event(void *ctx, void *data, size_t len)
{
	const struct event *e = data;

	(void)ctx;
	if (len >= sizeof(*e) && e->pid == (unsigned int)child &&
	    e->ppid == (unsigned int)getpid()) {
		printf("exec: pid %u ppid %u comm %.16s\n", e->pid, e->ppid, e->comm);
		seen = 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *link;
	struct ring_buffer *rb;
	const char *btf;
	time_t deadline;

	if (argc != 3) {
		fprintf(stderr, "usage: %s OBJECT BTF\n", argv[0]);
		return 2;
	}
	btf = argv[2];
	printf("BTF: %s (BTFKIT_BTF_PATH=%s)\n", btf, getenv("BTFKIT_BTF_PATH") ?: "");
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf);
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "loading %s with BTF %s failed\n", argv[1], btf);
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "on_exec");
	link = prog ? bpf_program__attach(prog) : NULL;
	rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), on_event, NULL, NULL);
	if (!link || !rb) {
		fprintf(stderr, "attaching on_exec or opening the ring buffer failed\n");
		return 1;
	}
	child = fork();
	if (child == 0) {
		execl("/bin/sh", "sh", "-c", "true", (char *)NULL);
		_exit(127);
	}
	deadline = time(NULL) + 10;
	while (!seen && time(NULL) < deadline)
		ring_buffer__poll(rb, 100);
	waitpid(child, NULL, 0);
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	if (!seen)
		fprintf(stderr, "no exec event for pid %d within 10 s\n", (int)child);
	return seen ? 0 : 1;
}
