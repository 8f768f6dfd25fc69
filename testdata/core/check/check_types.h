/* Kernel types the way a libbpf-based tool's vmlinux.h provides them,
 * reduced to the members the check suite reads (preserve_access_index:
 * every kernel's layout relocates), plus the flavors tools define to
 * follow renames across kernel versions. */
#ifndef CHECK_TYPES_H
#define CHECK_TYPES_H

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
struct task_struct {
	int pid;
	int tgid;
	unsigned long long start_time;
	unsigned long long start_boottime;	/* 5.5+ */
	unsigned long long real_start_time;	/* up to 5.4 */
	unsigned long long core_cookie;		/* 5.14+, CONFIG_SCHED_CORE */
};
/* task_struct::state became __state in 5.14. */
struct task_struct___new {
	unsigned int __state;
};
struct task_struct___old {
	long state;
};
/* What bpf_core_type_matches() compares: only these members, by name
 * and compatible type. */
struct task_struct___m {
	unsigned int __state;
};
struct kernel_clone_args {	/* 5.3+ */
	int exit_signal;
};
#pragma clang attribute pop

#endif
