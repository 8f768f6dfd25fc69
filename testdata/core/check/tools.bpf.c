// Programs written the way libbpf-based tools guard kernel differences:
// existence checks nested in other checks, ___flavor structs tried in
// turn, bpf_core_type_exists / bpf_core_type_matches, LINUX_KERNEL_VERSION,
// helper probes, ring buffer or perf buffer chosen by the kernel's map
// types, fentry targets that exist on some kernels only, a weak kfunc, a
// const volatile knob. Next to them the same reads unguarded, which fail
// where the kernel lacks what they need. `core check` tests assert each
// program's verdict on the corpus kernels and on the host's verifier.
#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/version.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "check_types.h"

/* Not in libbpf 1.1's headers. */
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) (!!(sym))
#endif

__u64 out[32];
#define OUT(i, v) (*(volatile __u64 *)&out[i] = (__u64)(v))

extern int LINUX_KERNEL_VERSION __kconfig;
extern void bpf_rcu_read_lock(void) __ksym __weak;
extern void bpf_rcu_read_unlock(void) __ksym __weak;

/* Set by userspace before loading (--rodata targ_boottime=1). */
const volatile bool targ_boottime = false;

struct event {
	__u32 pid;
	__u64 ts;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pb SEC(".maps");

static __always_inline struct task_struct *current(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* The rename of real_start_time to start_boottime (5.5), read only where
 * the kernel has the matching boot-time clock (5.7). */
SEC("tp/sched/sched_process_fork")
int boottime_guarded(void *ctx)
{
	struct task_struct *task = current();
	__u64 t = 0;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ktime_get_boot_ns)) {
		if (bpf_core_field_exists(task->start_boottime))
			t = BPF_CORE_READ(task, start_boottime);
		else
			t = BPF_CORE_READ(task, real_start_time);
	}
	OUT(0, t);
	return 0;
}

/* The old name, unguarded: fails from 5.5 on. */
SEC("tp/sched/sched_process_fork")
int boottime_unguarded(void *ctx)
{
	OUT(1, BPF_CORE_READ(current(), real_start_time));
	return 0;
}

/* ___flavor structs tried in turn. */
SEC("tp/sched/sched_process_exit")
int state_flavors(void *ctx)
{
	struct task_struct *task = current();

	if (bpf_core_field_exists(((struct task_struct___new *)task)->__state))
		OUT(2, BPF_CORE_READ((struct task_struct___new *)task, __state));
	else
		OUT(2, BPF_CORE_READ((struct task_struct___old *)task, state));
	return 0;
}

/* A type that appeared in 5.3. */
SEC("tp/sched/sched_process_exit")
int type_exists_guard(void *ctx)
{
	if (bpf_core_type_exists(struct kernel_clone_args))
		OUT(3, bpf_core_field_size(struct kernel_clone_args, exit_signal));
	return 0;
}

/* A flavor that matches the kernel's type or not. */
SEC("tp/sched/sched_process_exit")
int type_matches_guard(void *ctx)
{
	struct task_struct *task = current();

	if (bpf_core_type_matches(struct task_struct___m))
		OUT(4, BPF_CORE_READ((struct task_struct___m *)task, __state));
	else
		OUT(4, BPF_CORE_READ((struct task_struct___old *)task, state));
	return 0;
}

/* The kernel's version from .kconfig. */
SEC("tp/sched/sched_process_exec")
int kversion_guard(void *ctx)
{
	struct task_struct *task = current();

	if (LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 5, 0))
		OUT(5, BPF_CORE_READ(task, start_boottime));
	else
		OUT(5, BPF_CORE_READ(task, real_start_time));
	return 0;
}

/* A const volatile knob: unknown unless pinned. */
SEC("tp/sched/sched_process_exec")
int rodata_knob(void *ctx)
{
	struct task_struct *task = current();

	if (targ_boottime)
		OUT(6, BPF_CORE_READ(task, start_boottime));
	else
		OUT(6, BPF_CORE_READ(task, start_time));
	return 0;
}

/* Ring buffer where the kernel has it (5.8), else perf buffer. */
SEC("tp/sched/sched_process_exec")
int events(void *ctx)
{
	struct event e = {};

	e.pid = bpf_get_current_pid_tgid() >> 32;
	e.ts = bpf_ktime_get_ns();
	if (bpf_core_enum_value_exists(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF))
		bpf_ringbuf_output(&rb, &e, sizeof(e), 0);
	else
		bpf_perf_event_output(ctx, &pb, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

/* Helper probes. */
SEC("tp/sched/sched_process_exec")
int helper_probe(void *ctx)
{
	__u64 ts;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ktime_get_boot_ns))
		ts = bpf_ktime_get_boot_ns();
	else
		ts = bpf_ktime_get_ns();
	OUT(7, ts);
	return 0;
}

SEC("tp/sched/sched_process_exec")
int helper_unguarded(void *ctx)
{
	OUT(8, bpf_ktime_get_boot_ns());
	return 0;
}

/* kernel_clone replaced _do_fork in 5.10. */
SEC("fentry/kernel_clone")
int BPF_PROG(fentry_kernel_clone, struct kernel_clone_args *args)
{
	OUT(9, BPF_CORE_READ(args, exit_signal));
	return 0;
}

SEC("fentry/_do_fork")
int BPF_PROG(fentry_do_fork)
{
	OUT(10, 1);
	return 0;
}

/* A kfunc (6.2) called only where it exists. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(kfunc_guarded, struct task_struct *parent, struct task_struct *child)
{
	if (bpf_ksym_exists(bpf_rcu_read_lock)) {
		bpf_rcu_read_lock();
		OUT(11, child->pid);
		bpf_rcu_read_unlock();
	}
	return 0;
}

/* A helper BPF_PROG_TYPE_TRACING programs may call (since 5.12) and raw
 * tracepoints never, in a subprogram both variants share, as libbpf-tools'
 * tcppktlat has it: the enum guard is true on every kernel, so the
 * raw_tp program is refused everywhere, the tp_btf one before 5.12. */
struct sock;

static __noinline __u64 sock_cookie(struct sock *sk)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_socket_cookie))
		return bpf_get_socket_cookie(sk);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(cookie_btf, struct sock *sk)
{
	OUT(13, sock_cookie(sk));
	return 0;
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(cookie_raw, struct sock *sk)
{
	OUT(14, sock_cookie(sk));
	return 0;
}

/* A BTF-typed program reads its attach target's arguments (here parent
 * and child) and nothing past them, never through a moved context
 * pointer: what biosnoop's and bitesize's block_rq_* programs hit on
 * Debian's 5.10, whose tracepoint had lost an argument their version
 * check expected. */
SEC("tp_btf/sched_process_fork")
int ctx_beyond_args(unsigned long long *ctx)
{
	OUT(15, ctx[2]);
	return 0;
}

/* The offset computed from the version, as clang emits bitesize's: the
 * pointer moves by 8 before 5.11 (refused), by 0 after. */
SEC("tp_btf/sched_process_fork")
int ctx_moved_by_version(unsigned long long *ctx)
{
	int old = LINUX_KERNEL_VERSION < KERNEL_VERSION(5, 11, 0);

	OUT(16, *(unsigned long long *)((char *)ctx + 8 * old));
	return 0;
}

/* Not loaded unless userspace enables it. */
SEC("?tp/sched/sched_process_exec")
int optional_unguarded(void *ctx)
{
	OUT(12, BPF_CORE_READ(current(), real_start_time));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
