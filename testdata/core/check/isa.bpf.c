// Instructions newer than some verifiers: BPF atomics beyond `lock add`
// (5.12). Built with -mcpu=v3 (testdata/core/build.sh). Before 5.12 the
// verifier refuses them anywhere in a program, even where a
// LINUX_KERNEL_VERSION check keeps them unreached: `core check` must say
// both programs fail there, and `lock add` loads everywhere.
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/version.h>
#include <bpf/bpf_helpers.h>

extern int LINUX_KERNEL_VERSION __kconfig;

__u64 counter;
__u64 flags;
__u64 out[4];

/* `lock add`: every kernel. */
SEC("tp/sched/sched_process_exec")
int atomic_add(void *ctx)
{
	__sync_fetch_and_add(&counter, 1);
	return 0;
}

/* fetch_or (5.12), reached everywhere. */
SEC("tp/sched/sched_process_exec")
int atomic_fetch_or_unguarded(void *ctx)
{
	out[0] = __sync_fetch_and_or(&flags, 1);
	return 0;
}

/* cmpxchg only where the kernel has it, `lock add` elsewhere. */
SEC("tp/sched/sched_process_exec")
int atomic_cmpxchg_guarded(void *ctx)
{
	if (LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 12, 0))
		out[1] = __sync_val_compare_and_swap(&flags, 0, 2);
	else
		__sync_fetch_and_add(&counter, 2);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
