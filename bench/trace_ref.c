/* The reference for `btfkit trace`'s CPU cost: a minimal libbpf loader of
 * the same object (bpf/trace_ring.bpf.o or trace_perf.bpf.o, on arm64
 * their .arm64.bpf.o twins, BTF from sysfs) that attaches the same
 * programs, consumes the same buffer and formats each event as a line of
 * the same shape to stdout. On SIGINT it prints "events N lost M" (lost:
 * the object's own counter plus perf's lost samples) on stderr.
 *
 *   trace_ref OBJECT ring|perf */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "../bpf/trace.h"

static volatile sig_atomic_t stop;
static unsigned long long events, lost;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int handle(void *ctx, void *data, size_t size)
{
	(void)ctx;
	const struct event *e = data;
	char args[ARGS_BUF + 64];
	size_t n = 0;
	if (size < EVENT_HEADER_LEN)
		return 0;
	if (e->type == EVENT_EXIT) {
		n = snprintf(args, sizeof(args), "exit_code: %d", e->ret);
	} else {
		n = snprintf(args, sizeof(args), "pathname: %s, argv: [", e->path);
		for (__u32 off = 0; off < e->args_len && n < sizeof(args) - 2;) {
			size_t len = strnlen(&e->args[off], e->args_len - off);
			n += snprintf(args + n, sizeof(args) - n, "%s%.*s", off ? " " : "", (int)len, &e->args[off]);
			off += len + 1;
		}
		n += snprintf(args + n, sizeof(args) - n, "]");
	}
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	printf("%02ld:%02ld:%02ld:%06ld  %-6u %-16s %-7u %-7u %-16d %-20s %s\n", t.tv_sec / 3600 % 24,
	       t.tv_sec / 60 % 60, t.tv_sec % 60, t.tv_nsec / 1000, e->uid, e->comm, e->pid, e->tid, e->ret,
	       e->type == EVENT_EXECVE ? "execve" : e->type == EVENT_EXECVEAT ? "execveat" : "sched_process_exit",
	       args);
	events++;
	return 0;
}

static void handle_perf(void *ctx, int cpu, void *data, __u32 size)
{
	(void)cpu;
	handle(ctx, data, size);
}

static void handle_lost(void *ctx, int cpu, __u64 n)
{
	(void)ctx;
	(void)cpu;
	lost += n;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: trace_ref OBJECT ring|perf\n");
		return 2;
	}
	int ring = strcmp(argv[2], "ring") == 0;
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open failed\n");
		return 1;
	}
	const char *progs[] = {"tp_enter_execve", "tp_exit_execve", "tp_enter_execveat", "tp_exit_execveat",
			       "tp_process_exit"};
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj)
	{
		int keep = 0;
		for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
			keep |= strcmp(bpf_program__name(p), progs[i]) == 0;
		bpf_program__set_autoload(p, keep);
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	/* Filters on, none set: every event passes, as in btfkit trace. */
	struct config cfg = {.flags = CONFIG_FILTERS_ON, .event_mask = ~0u};
	__u32 zero = 0;
	bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "config"), &zero, &cfg, 0);
	bpf_object__for_each_program(p, obj)
	{
		if (bpf_program__autoload(p) && !bpf_program__attach(p)) {
			fprintf(stderr, "attach %s failed\n", bpf_program__name(p));
			return 1;
		}
	}
	int events_fd = bpf_object__find_map_fd_by_name(obj, "events");
	struct ring_buffer *rb = NULL;
	struct perf_buffer *pb = NULL;
	if (ring)
		rb = ring_buffer__new(events_fd, handle, NULL, NULL);
	else
		pb = perf_buffer__new(events_fd, 256, handle_perf, handle_lost, NULL, NULL);
	if (!rb && !pb) {
		fprintf(stderr, "buffer failed\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "trace_ref: tracing\n");
	while (!stop) {
		if (rb)
			ring_buffer__poll(rb, 200);
		else
			perf_buffer__poll(pb, 200);
		fflush(stdout);
	}
	if (rb)
		ring_buffer__consume(rb);
	else
		perf_buffer__consume(pb);
	fflush(stdout);
	int stats_fd = bpf_object__find_map_fd_by_name(obj, "stats");
	int ncpu = libbpf_num_possible_cpus();
	__u64 vals[ncpu > 0 ? ncpu : 1];
	__u32 key = STAT_LOST;
	if (ncpu > 0 && !bpf_map_lookup_elem(stats_fd, &key, vals))
		for (int i = 0; i < ncpu; i++)
			lost += vals[i];
	fprintf(stderr, "events %llu lost %llu\n", events, lost);
	return 0;
}
