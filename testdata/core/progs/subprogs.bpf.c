// Relocations inside subprograms (.text): static and global functions
// called from programs, and a program libbpf does not load by default
// (SEC("?...")), whose relocations it skips.
#include "common.h"

static __attribute__((noinline)) long read_l(struct core_prim *p)
{
	return BPF_CORE_READ(p, l) + bpf_core_field_size(p->ll);
}

__attribute__((noinline)) int global_sub(struct core_nested *n)
{
	return BPF_CORE_READ(n, anon_x) + BPF_CORE_READ(n, u.whole);
}

SEC("raw_tp/sys_enter")
int sub_caller(void *ctx)
{
	OUT(0, read_l(ctx));
	OUT(1, global_sub(ctx));
	return 0;
}

SEC("raw_tp/sys_exit")
int sub_caller_too(void *ctx)
{
	struct core_prim *p = ctx;

	OUT(2, read_l(ctx));
	OUT(3, BPF_CORE_READ(p, ui));
	return 0;
}

SEC("?raw_tp/sys_enter")
int not_autoloaded(void *ctx)
{
	struct core_prim *p = ctx;

	OUT(4, BPF_CORE_READ(p, us));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
