// Flavors: local ___suffix types matching unflavored and flavored targets,
// duplicate compatible candidates, struct/union mix-ups.
#include "common.h"

SEC("raw_tp/sys_enter")
int flavors_read(void *ctx)
{
	struct core_flavor *f = ctx;
	struct core_flavor___v2 *v2 = ctx;

	OUT(0, BPF_CORE_READ(f, x));
	OUT(1, BPF_CORE_READ(f, y));
	OUT(2, BPF_CORE_READ(v2, y));
	if (bpf_core_field_exists(v2->z))
		OUT(3, BPF_CORE_READ(v2, z));
	OUT(4, bpf_core_type_exists(struct core_flavor___v2));
	return 0;
}

SEC("raw_tp/sys_enter")
int flavors_duplicates(void *ctx)
{
	struct core_ambig *a = ctx;

	OUT(10, BPF_CORE_READ(a, b));
	OUT(11, bpf_core_field_size(a->a));
	OUT(12, bpf_core_type_size(struct core_ambig));
	return 0;
}

SEC("raw_tp/sys_enter")
int flavors_mixups(void *ctx)
{
	struct core_mixup *m = ctx;
	union core_union *u = ctx;

	OUT(20, BPF_CORE_READ(m, inner.i));
	OUT(21, BPF_CORE_READ(m, scalar));
	OUT(22, BPF_CORE_READ(m, ptr, l));
	OUT(23, BPF_CORE_READ(u, l));
	OUT(24, BPF_CORE_READ(u, p.s));
	OUT(25, bpf_core_field_exists(m->scalar));
	return 0;
}

/* Two target candidates; only one has x. Relocating x prunes the other
 * from the cached candidate list, so y (at different offsets in the two)
 * is not ambiguous afterwards. */
SEC("raw_tp/sys_enter")
int flavors_pruning(void *ctx)
{
	struct core_prune *p = ctx;

	OUT(30, BPF_CORE_READ(p, x));
	OUT(31, BPF_CORE_READ(p, y));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
