// Types that live in kernel modules (kvm, btrfs), not in vmlinux: their
// candidates come from module BTF, searched only when vmlinux has none.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
struct kvm_vcpu {
	int vcpu_id;
};
struct kvm_lapic {
	unsigned long base_address;
	unsigned int divide_count;
	struct kvm_vcpu *vcpu;
};
struct btrfs_fs_info {
	unsigned long long generation;
	unsigned int sectorsize;
};
#pragma clang attribute pop

__u64 out[16];
#define OUT(i, v) (*(volatile __u64 *)&out[i] = (__u64)(v))

SEC("kprobe/kvm_lapic_reset")
int modules_read(struct kvm_lapic *apic)
{
	OUT(0, BPF_CORE_READ(apic, divide_count));
	OUT(1, BPF_CORE_READ(apic, vcpu, vcpu_id));
	OUT(2, bpf_core_type_exists(struct btrfs_fs_info));
	OUT(3, bpf_core_type_size(struct kvm_lapic));
	return 0;
}

SEC("kprobe/btrfs_sync_fs")
int modules_btrfs(struct btrfs_fs_info *fs)
{
	OUT(4, BPF_CORE_READ(fs, generation));
	OUT(5, BPF_CORE_READ(fs, sectorsize));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
