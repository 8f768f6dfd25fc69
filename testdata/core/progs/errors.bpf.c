// Relocations libbpf refuses, one per program: ambiguous candidates,
// offsets that do not fit a load, bitfields no 64-bit load covers.
#include "common.h"

SEC("raw_tp/sys_enter")
int err_offset_ambiguity(void *ctx)
{
	struct core_ambig_bad *a = ctx;

	OUT(0, BPF_CORE_READ(a, b));
	return 0;
}

SEC("raw_tp/sys_enter")
int err_type_id_ambiguity(void *ctx)
{
	OUT(1, bpf_core_type_id_kernel(struct core_ambig));
	return 0;
}

SEC("raw_tp/sys_enter")
int err_offset_too_big(void *ctx)
{
	struct core_bigoff *b = ctx;

	OUT(2, b->far);
	return 0;
}

SEC("raw_tp/sys_enter")
int err_bitfield_too_wide(void *ctx)
{
	struct core_packed_bits *p = ctx;

	OUT(3, BPF_CORE_READ_BITFIELD_PROBED(p, wide));
	return 0;
}

SEC("raw_tp/sys_enter")
int ok_after_errors(void *ctx)
{
	struct core_prim *p = ctx;

	OUT(4, BPF_CORE_READ(p, ll));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
