// Several matching candidates: relocations that keep more than one in
// libbpf's candidate list, on their own so that tools that stop at the
// first ambiguity elsewhere still process them.
#include "common.h"

/* Two candidates agree on x; only the second has z. Both stay in the
 * candidate list after x, so z resolves through the second: a minimized
 * BTF must keep x in both, not only in the first. */
SEC("raw_tp/sys_enter")
int flavors_all_candidates(void *ctx)
{
	struct core_multi *m = ctx;

	OUT(40, BPF_CORE_READ(m, x));
	OUT(41, BPF_CORE_READ(m, z));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
