// Loads and stores whose field size changes: allowed for unsigned ints
// and pointers (the load is resized), poisoned for signed ints.
#include "common.h"

SEC("raw_tp/sys_enter")
int sizes_loads(void *ctx)
{
	struct core_sizes *s = ctx;

	OUT(0, s->u32_to_u64);
	OUT(1, s->u64_to_u32);
	OUT(2, (unsigned long)s->ptr);
	OUT(3, s->u8_to_u16);
	OUT(4, s->i32_same);
	return 0;
}

SEC("raw_tp/sys_enter")
int sizes_signed(void *ctx)
{
	struct core_sizes *s = ctx;

	OUT(5, s->s32_to_s64);
	return 0;
}

SEC("raw_tp/sys_enter")
int sizes_stores(void *ctx)
{
	struct core_sizes *s = ctx;

	s->u32_to_u64 = 1;
	s->u8_to_u16 = (unsigned char)(unsigned long)ctx;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
