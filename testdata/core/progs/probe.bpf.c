// A probe that reads the calling task through CO-RE and reports what it
// read: the in-kernel proof that a minimized BTF relocates correctly.
// Userspace writes its tgid to `config`, calls getppid(), reads `results`.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "kernel_types.h"

#include <linux/bpf.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[8]);
} results SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_getppid(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	__u32 key = 0;
	__u64 *want = bpf_map_lookup_elem(&config, &key);
	__u64 *r = bpf_map_lookup_elem(&results, &key);

	if (!want || !r || BPF_CORE_READ(t, tgid) != *want)
		return 0;
	r[0] = BPF_CORE_READ(t, pid);
	r[1] = BPF_CORE_READ(t, tgid);
	r[2] = BPF_CORE_READ(t, real_parent, tgid);
	r[3] = BPF_CORE_READ(t, real_cred, uid.val);
	r[4] = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	r[5] = BPF_CORE_READ(t, start_time);
	bpf_probe_read_kernel(&r[6], 8, &t->comm);
	r[7] = 0x600d;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
