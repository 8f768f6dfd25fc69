// Bitfields: probed (BPF_CORE_READ_BITFIELD_PROBED) and direct
// (BPF_CORE_READ_BITFIELD) reads, size and position changes, bitfields
// that become plain ints and back.
#include "common.h"

SEC("raw_tp/sys_enter")
int bits_probed(void *ctx)
{
	struct core_bits *b = ctx;

	OUT(0, BPF_CORE_READ_BITFIELD_PROBED(b, b1));
	OUT(1, BPF_CORE_READ_BITFIELD_PROBED(b, b2));
	OUT(2, BPF_CORE_READ_BITFIELD_PROBED(b, sb));
	OUT(3, BPF_CORE_READ_BITFIELD_PROBED(b, wide));
	OUT(4, BPF_CORE_READ_BITFIELD_PROBED(b, wide2));
	OUT(5, BPF_CORE_READ_BITFIELD_PROBED(b, c3));
	OUT(6, BPF_CORE_READ_BITFIELD_PROBED(b, as_int));
	OUT(7, BPF_CORE_READ_BITFIELD_PROBED(b, to_bits));
	return 0;
}

SEC("raw_tp/sys_enter")
int bits_direct(void *ctx)
{
	struct core_bits *b = ctx;

	OUT(10, BPF_CORE_READ_BITFIELD(b, b1));
	OUT(11, BPF_CORE_READ_BITFIELD(b, sb));
	OUT(12, BPF_CORE_READ_BITFIELD(b, wide));
	OUT(13, BPF_CORE_READ_BITFIELD(b, c3));
	OUT(14, BPF_CORE_READ_BITFIELD(b, to_bits));
	return 0;
}

SEC("raw_tp/sys_enter")
int bits_meta(void *ctx)
{
	struct core_bits *b = ctx;

	OUT(20, bpf_core_field_size(b->b2));
	OUT(21, bpf_core_field_offset(b->wide2));
	OUT(22, bpf_core_field_exists(b->c3));
	OUT(23, __builtin_preserve_field_info(b->sb, BPF_FIELD_SIGNED));
	OUT(24, __builtin_preserve_field_info(b->word, BPF_FIELD_LSHIFT_U64));
	OUT(25, __builtin_preserve_field_info(b->word, BPF_FIELD_RSHIFT_U64));
	OUT(26, b->word);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
