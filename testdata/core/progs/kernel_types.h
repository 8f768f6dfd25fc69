/* Kernel types as a CO-RE program declares them: only the members used,
 * with preserve_access_index, so that any kernel's layout relocates. */
#ifndef KERNEL_TYPES_H
#define KERNEL_TYPES_H

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
struct ns_common {
	unsigned int inum;
};
struct mnt_namespace {
	struct ns_common ns;
};
struct pid_namespace {
	struct ns_common ns;
	unsigned int level;
};
struct nsproxy {
	struct mnt_namespace *mnt_ns;
	struct pid_namespace *pid_ns_for_children;
};
typedef struct {
	unsigned int val;
} kuid_t;
struct cred {
	kuid_t uid;
	kuid_t euid;
};
struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
};
struct signal_struct {
	int nr_threads;
};
struct upid {
	int nr;
};
struct pid {
	unsigned int level;
	struct upid numbers[1];
};
enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID, PIDTYPE_MAX };
struct task_struct {
	unsigned int __state;
	unsigned int flags;
	int pid;
	int tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	char comm[16];
	const struct cred *real_cred;
	struct nsproxy *nsproxy;
	struct mm_struct *mm;
	struct signal_struct *signal;
	unsigned long long start_time;
	unsigned int in_execve : 1;
	struct pid *thread_pid;
};
struct task_struct___old {
	long state;
};
struct trace_event_raw_sched_process_exec {
	unsigned int __data_loc_filename;
	int pid;
	int old_pid;
};
#pragma clang attribute pop

#endif
