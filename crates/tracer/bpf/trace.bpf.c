// SPDX-License-Identifier: GPL-2.0 OR MIT
/* btfkit's tracer: execve and execveat (pathname and arguments captured
 * on entry, reported on exit with the return value) and process exit.
 * Every kernel structure is read through CO-RE, so one object loads on
 * every kernel of its architecture for which the loader has BTF.
 *
 * Built twice per architecture (bpf/build.sh): with -DTRACE_RINGBUF the
 * events go through a BPF ring buffer (5.8+), without it through a perf
 * event array; with -D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64, as the
 * kprobe fallback reads registers, whose layout is the architecture's. */
#if defined(__TARGET_ARCH_arm64)
#include "vmlinux.arm64.h"
#else
#include "vmlinux.h"
#endif
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "trace.h"

/* Constants of anonymous enums in the kernel's UAPI headers, which a
 * header written from BTF cannot name. */
#ifndef BPF_F_NO_PREALLOC
#define BPF_F_NO_PREALLOC 1
#endif
#ifndef BPF_F_CURRENT_CPU
#define BPF_F_CURRENT_CPU 0xffffffffULL
#endif
#ifndef BPF_ANY
#define BPF_ANY 0
#endif

/* A kprobe's context: the registers in their user-visible (ABI) layout
 * (bpf_user_pt_regs_t), read at fixed offsets. Through the kernel's
 * `struct pt_regs` these reads would be CO-RE relocations, and clang may
 * then compute the context address in a register, which the verifier
 * refuses. */
#if defined(__TARGET_ARCH_x86)
/* x86-64: struct pt_regs itself; arguments in di, si, dx, the return
 * value in ax. */
struct kprobe_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
#define KPROBE_ARG1(ctx) (((struct kprobe_regs *)(ctx))->di)
#define KPROBE_ARG2(ctx) (((struct kprobe_regs *)(ctx))->si)
#define KPROBE_ARG3(ctx) (((struct kprobe_regs *)(ctx))->dx)
#define KPROBE_RET(ctx) (((struct kprobe_regs *)(ctx))->ax)
#elif defined(__TARGET_ARCH_arm64)
/* arm64: struct user_pt_regs, which starts struct pt_regs; arguments in
 * x0, x1, x2, the return value in x0. */
struct kprobe_regs {
	unsigned long regs[31];
	unsigned long sp, pc, pstate;
};
#define KPROBE_ARG1(ctx) (((struct kprobe_regs *)(ctx))->regs[0])
#define KPROBE_ARG2(ctx) (((struct kprobe_regs *)(ctx))->regs[1])
#define KPROBE_ARG3(ctx) (((struct kprobe_regs *)(ctx))->regs[2])
#define KPROBE_RET(ctx) (((struct kprobe_regs *)(ctx))->regs[0])
#else
#error "build with -D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64 (bpf/build.sh)"
#endif

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#ifdef TRACE_RINGBUF
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");
#else
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");
#endif

/* Executions in flight: captured on entry, reported on exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct event);
} pending SEC(".maps");

/* Where an event is built before it is stored or sent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KCONFIG_MAX);
	__type(key, __u32);
	__type(value, __u64);
} kconfig SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} uid_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

struct comm_key {
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct comm_key);
	__type(value, __u8);
} comm_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &key);
	if (v)
		*v += 1;
}

static __always_inline __u64 kconfig_value(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&kconfig, &key);
	return v ? *v : 0;
}

/* Whether the current process passes the filters (checked when an
 * event is about to be sent, after exec has set the new comm). */
static __always_inline bool wanted(__u32 type, __u32 tgid, __u32 uid)
{
	__u32 zero = 0;
	struct config *c = bpf_map_lookup_elem(&config, &zero);
	if (!c)
		return 0;
	if (!(c->flags & CONFIG_FILTERS_ON))
		return 1;
	if (!(c->event_mask & (1U << type)))
		return 0;
	if ((c->flags & CONFIG_FILTER_UID) && !bpf_map_lookup_elem(&uid_filter, &uid))
		return 0;
	if (c->flags & (CONFIG_FILTER_PID | CONFIG_FILTER_NEW)) {
		bool pass = (c->flags & CONFIG_FILTER_PID) && bpf_map_lookup_elem(&pid_filter, &tgid);
		if (!pass && (c->flags & CONFIG_FILTER_NEW)) {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();
			pass = BPF_CORE_READ(task, group_leader, start_time) >= c->start_ns;
		}
		if (!pass)
			return 0;
	}
	if (c->flags & CONFIG_FILTER_COMM) {
		struct comm_key key = {};
		bpf_get_current_comm(&key.comm, sizeof(key.comm));
		if (!bpf_map_lookup_elem(&comm_filter, &key))
			return 0;
	}
	return 1;
}

/* The task facts every event carries. */
static __always_inline void fill_task(struct event *e)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	e->ts_ns = bpf_ktime_get_ns();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	e->pid_ns = BPF_CORE_READ(task, nsproxy, pid_ns_for_children, ns.inum);
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
}

static __always_inline long send(void *ctx, struct event *e)
{
	__u32 len = e->args_len;
	long err;

	if (len > ARGS_BUF)
		len = ARGS_BUF;
#ifdef TRACE_RINGBUF
	err = bpf_ringbuf_output(&events, e, EVENT_HEADER_LEN + len, 0);
#else
	err = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, EVENT_HEADER_LEN + len);
#endif
	if (err)
		count(STAT_LOST);
	return err;
}

/* Entry of execve/execveat: capture the pathname and arguments while the
 * caller's memory still exists. */
static __always_inline int enter(__u32 type, const char *path, const char *const *argv)
{
	__u32 zero = 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	e->type = type;
	e->flags = 0;
	e->argc = 0;
	e->args_len = 0;
	long n = bpf_probe_read_user_str(e->path, sizeof(e->path), path);
	if (n < 0) {
		e->flags |= FLAG_READ_ERROR;
		n = 0;
		e->path[0] = 0;
	} else if (n == sizeof(e->path)) {
		char next = 0;
		if (!bpf_probe_read_user(&next, 1, path + sizeof(e->path) - 1) && next)
			e->flags |= FLAG_PATH_TRUNCATED;
	}
	e->path_len = n;

	__u32 off = 0;
	int i;
#pragma unroll
	for (i = 0; i < ARGS_MAX; i++) {
		const char *arg = 0;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i])) {
			e->flags |= FLAG_READ_ERROR;
			break;
		}
		if (!arg)
			break;
		if (off > ARGS_BUF - ARG_LEN)
			break;
		n = bpf_probe_read_user_str(&e->args[off], ARG_LEN, arg);
		if (n < 0) {
			e->flags |= FLAG_READ_ERROR;
			break;
		}
		if (n == ARG_LEN) {
			char next = 0;
			if (!bpf_probe_read_user(&next, 1, arg + ARG_LEN - 1) && next)
				e->flags |= FLAG_ARG_TRUNCATED;
		}
		off += n;
		e->argc++;
	}
	if (i == ARGS_MAX) {
		const char *more = 0;
		if (!bpf_probe_read_user(&more, sizeof(more), &argv[ARGS_MAX]) && more)
			e->flags |= FLAG_ARGS_TRUNCATED;
	}
	e->args_len = off;
	if (bpf_map_update_elem(&pending, &tid, e, BPF_ANY))
		count(STAT_ERRORS);
	return 0;
}

/* The new program's memory descriptor, only what args_from_mm reads
 * (a CO-RE flavor of struct mm_struct). */
struct mm_struct___args {
	unsigned long arg_start;
	unsigned long arg_end;
} __attribute__((preserve_access_index));

/* The arguments again, where reading the caller's failed at entry. BPF
 * cannot fault pages in, so a read fails on a page that is not present
 * (never touched, swapped out) and, on CPUs without hardware access-flag
 * updates (ARMv8.0: Cortex-A53, A72), on any page whose entry is "old",
 * which every page of a fork child is until the child touches it: a
 * fork-then-exec caller's argv often cannot be read there. After a
 * successful exec the kernel has just copied the arguments onto the new
 * program's stack, between mm->arg_start and arg_end, so those pages are
 * present and young. The block is sent as it is (userspace splits it);
 * for a #! script it holds the interpreter's argv, as the program sees
 * it. */
static __always_inline void args_from_mm(struct event *e)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct___args *mm = (struct mm_struct___args *)BPF_CORE_READ(task, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u32 len;

	if (!mm || end <= start)
		return;
	if (end - start > ARGS_BUF) {
		len = ARGS_BUF;
		e->flags |= FLAG_ARGS_TRUNCATED;
	} else {
		len = end - start;
	}
	if (bpf_probe_read_user(e->args, len, (const void *)start))
		return;
	e->args_len = len;
	e->argc = 0;
	e->flags |= FLAG_ARGS_FROM_MM;
	/* The pathname was read at entry; the error was the arguments'. */
	if (e->path_len)
		e->flags &= ~FLAG_READ_ERROR;
}

/* Exit of execve/execveat: report with the return value (and, after a
 * successful exec, the new comm). */
static __always_inline int leave(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct event *e = bpf_map_lookup_elem(&pending, &tid);
	if (!e)
		return 0;
	fill_task(e);
	e->ret = ret;
	if ((e->flags & FLAG_READ_ERROR) && ret == 0)
		args_from_mm(e);
	if (wanted(e->type, e->pid, e->uid))
		send(ctx, e);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

/* The context of the per-syscall tracepoints (syscalls/sys_enter_*,
 * sys_exit_*) is struct syscall_trace_enter / syscall_trace_exit, not the
 * raw_syscalls tracepoints' trace_event_raw_sys_enter / _exit: those have
 * a long `id` where these have an int `nr`. The offsets agree only while
 * struct trace_entry is 8 bytes; PREEMPT_RT kernels add a byte to it,
 * which moves `args` and `ret` differently in the two (the kernel then
 * refuses a read past its context, or the read is another argument).
 * Flavors with only the members read. The kernel's `args` is a flexible
 * array, whose elements past the first Aya refuses to relocate (libbpf
 * accepts them), so only the array's offset is relocated and the
 * arguments are copied from there: a load from the context at an offset
 * computed at run time is one the verifier refuses. */
struct syscall_trace_enter___args {
	unsigned long args[6];
} __attribute__((preserve_access_index));

struct syscall_trace_exit___ret {
	long ret;
} __attribute__((preserve_access_index));

/* Argument `i` of a syscall tracepoint's context. */
static __always_inline unsigned long syscall_tp_arg(void *ctx, __u32 i)
{
	unsigned long v = 0;
	__u32 off = bpf_core_field_offset(struct syscall_trace_enter___args, args);

	bpf_probe_read_kernel(&v, sizeof(v), (char *)ctx + off + i * sizeof(v));
	return v;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int tp_enter_execve(void *ctx)
{
	return enter(EVENT_EXECVE, (const char *)syscall_tp_arg(ctx, 0),
		     (const char *const *)syscall_tp_arg(ctx, 1));
}

SEC("tracepoint/syscalls/sys_exit_execve")
int tp_exit_execve(struct syscall_trace_exit___ret *ctx)
{
	return leave(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int tp_enter_execveat(void *ctx)
{
	return enter(EVENT_EXECVEAT, (const char *)syscall_tp_arg(ctx, 1),
		     (const char *const *)syscall_tp_arg(ctx, 2));
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int tp_exit_execveat(struct syscall_trace_exit___ret *ctx)
{
	return leave(ctx, ctx->ret);
}

/* Kernels without syscall tracepoints (CONFIG_FTRACE_SYSCALLS unset): the
 * syscall functions themselves. Where the architecture has syscall
 * wrappers (CONFIG_ARCH_HAS_SYSCALL_WRAPPER, from the kconfig map), the
 * probed function receives the user registers as its one argument, and
 * the syscall's arguments are read from them (kernel memory) through
 * CO-RE: libbpf's *_CORE_SYSCALL macros read di, si, dx of struct pt_regs
 * on x86-64; on arm64 the first argument from pt_regs' orig_x0 (regs[0]
 * is where the return value goes), the others from regs[1], regs[2] of
 * struct user_pt_regs. */
static __always_inline void syscall_args(struct pt_regs *ctx, unsigned long *a, unsigned long *b,
					 unsigned long *c)
{
	if (kconfig_value(KCONFIG_ARCH_HAS_SYSCALL_WRAPPER)) {
		struct pt_regs *regs = (struct pt_regs *)KPROBE_ARG1(ctx);
		*a = PT_REGS_PARM1_CORE_SYSCALL(regs);
		*b = PT_REGS_PARM2_CORE_SYSCALL(regs);
		*c = PT_REGS_PARM3_CORE_SYSCALL(regs);
	} else {
		*a = KPROBE_ARG1(ctx);
		*b = KPROBE_ARG2(ctx);
		*c = KPROBE_ARG3(ctx);
	}
}

SEC("kprobe/execve")
int kp_enter_execve(struct pt_regs *ctx)
{
	unsigned long a, b, c;
	syscall_args(ctx, &a, &b, &c);
	return enter(EVENT_EXECVE, (const char *)a, (const char *const *)b);
}

SEC("kretprobe/execve")
int kp_exit_execve(struct pt_regs *ctx)
{
	return leave(ctx, KPROBE_RET(ctx));
}

SEC("kprobe/execveat")
int kp_enter_execveat(struct pt_regs *ctx)
{
	unsigned long a, b, c;
	syscall_args(ctx, &a, &b, &c);
	return enter(EVENT_EXECVEAT, (const char *)b, (const char *const *)c);
}

SEC("kretprobe/execveat")
int kp_exit_execveat(struct pt_regs *ctx)
{
	return leave(ctx, KPROBE_RET(ctx));
}

/* A process (its last thread, the group leader's exit) ends. */
SEC("tracepoint/sched/sched_process_exit")
int tp_process_exit(struct trace_event_raw_sched_process_template *ctx)
{
	__u32 zero = 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((__u32)pid_tgid != pid_tgid >> 32)
		return 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	fill_task(e);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->type = EVENT_EXIT;
	e->ret = BPF_CORE_READ(task, exit_code) >> 8;
	e->flags = 0;
	e->argc = 0;
	e->path_len = 0;
	e->args_len = 0;
	if (wanted(EVENT_EXIT, e->pid, e->uid))
		send(ctx, e);
	return 0;
}
