// A CONFIG_* extern guarding a field that exists only with that option
// (task_struct::core_cookie, CONFIG_SCHED_CORE, 5.14+): unknown without
// the kernel's config (the corpus has none), decided with --kconfig.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "check_types.h"

__u64 out[4];

extern _Bool CONFIG_SCHED_CORE __kconfig __weak;

SEC("tp/sched/sched_process_exec")
int kconfig_guard(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (CONFIG_SCHED_CORE)
		*(volatile __u64 *)&out[0] = BPF_CORE_READ(task, core_cookie);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
