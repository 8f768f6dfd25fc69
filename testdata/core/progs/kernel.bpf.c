// Real kernel types, declared the minimal CO-RE way (only the members
// used, preserve_access_index): what a tracer reads. Relocated against
// every corpus kernel, from 4.18 to 6.12.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "kernel_types.h"

__u64 out[64];
#define OUT(i, v) (*(volatile __u64 *)&out[i] = (__u64)(v))

SEC("tp/sched/sched_process_exec")
int kernel_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	OUT(0, BPF_CORE_READ(t, pid));
	OUT(1, BPF_CORE_READ(t, tgid));
	OUT(2, BPF_CORE_READ(t, real_parent, tgid));
	OUT(3, BPF_CORE_READ(t, group_leader, pid));
	OUT(4, BPF_CORE_READ(t, real_cred, uid.val));
	OUT(5, BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum));
	OUT(6, BPF_CORE_READ(t, nsproxy, pid_ns_for_children, ns.inum));
	OUT(7, BPF_CORE_READ(t, mm, arg_start));
	OUT(8, BPF_CORE_READ(t, signal, nr_threads));
	OUT(9, BPF_CORE_READ(t, start_time));
	OUT(10, BPF_CORE_READ_BITFIELD_PROBED(t, in_execve));
	OUT(11, BPF_CORE_READ(ctx, old_pid));
	OUT(12, bpf_core_field_size(t->comm));
	if (bpf_core_field_exists(t->__state))
		OUT(13, BPF_CORE_READ(t, __state));
	else
		OUT(13, BPF_CORE_READ((struct task_struct___old *)t, state));
	return 0;
}

SEC("tp/sched/sched_process_exit")
int kernel_meta(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct pid *p = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);

	OUT(20, BPF_CORE_READ(p, numbers[0].nr));
	OUT(21, level);
	OUT(22, bpf_core_enum_value(enum pid_type, PIDTYPE_TGID));
	OUT(23, bpf_core_enum_value_exists(enum pid_type, PIDTYPE_MAX));
	OUT(24, bpf_core_type_exists(struct task_struct___old));
	OUT(25, bpf_core_type_size(struct task_struct));
	OUT(26, bpf_core_type_id_kernel(struct task_struct));
	OUT(27, __builtin_preserve_field_info(t->pid, BPF_FIELD_SIGNED));
	OUT(28, bpf_core_field_exists(t->flags));
	OUT(29, BPF_CORE_READ(t, flags));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
