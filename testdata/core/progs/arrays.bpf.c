// Arrays: elements of one-, multi-dimensional and flexible arrays,
// arrays of structs, element size and dimension changes.
#include "common.h"

SEC("raw_tp/sys_enter")
int arrays_read(void *ctx)
{
	struct core_arrays *a = ctx;

	OUT(0, BPF_CORE_READ(a, a[2]));
	OUT(1, BPF_CORE_READ(a, m[1][2][3]));
	OUT(2, BPF_CORE_READ(a, ps[1].l));
	OUT(3, BPF_CORE_READ(a, c[15]));
	OUT(4, BPF_CORE_READ(a, l[2]));
	OUT(5, BPF_CORE_READ(a, flex[5]));
	OUT(6, BPF_CORE_READ(a, n));
	return 0;
}

SEC("raw_tp/sys_enter")
int arrays_meta(void *ctx)
{
	struct core_arrays *a = ctx;

	OUT(10, bpf_core_field_size(a->m));
	OUT(11, bpf_core_field_size(a->m[1]));
	OUT(12, bpf_core_field_size(a->m[1][2]));
	OUT(13, bpf_core_field_size(a->ps[1]));
	OUT(14, bpf_core_field_offset(a->m[1][0][1]));
	OUT(15, bpf_core_field_exists(a->l[1]));
	OUT(16, bpf_core_field_offset(a->flex));
	OUT(17, bpf_core_field_size(a->c));
	return 0;
}

SEC("raw_tp/sys_enter")
int arrays_direct(void *ctx)
{
	struct core_arrays *a = ctx;

	OUT(20, a->a[3]);
	OUT(21, a->l[0]);
	OUT(22, a->ps[0].ui);
	a->c[1] = 'x';
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
