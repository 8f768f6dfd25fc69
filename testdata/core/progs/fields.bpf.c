// Field relocations: offsets through nesting and anonymous members,
// direct loads and stores, sizes, existence, signedness, typedefs and
// modifiers, pointer-as-array.
#include "common.h"

SEC("raw_tp/sys_enter")
int fields_read(void *ctx)
{
	struct core_nested *n = ctx;

	OUT(0, BPF_CORE_READ(n, a));
	OUT(1, BPF_CORE_READ(n, anon_x));
	OUT(2, BPF_CORE_READ(n, anon_u));
	OUT(3, BPF_CORE_READ(n, anon_l));
	OUT(4, BPF_CORE_READ(n, prim.l));
	OUT(5, BPF_CORE_READ(n, prim_ptr, ll));
	OUT(6, BPF_CORE_READ(n, u.parts.hi));
	OUT(7, BPF_CORE_READ(n, u.whole));
	OUT(8, BPF_CORE_READ(n, cv));
	OUT(9, BPF_CORE_READ(n, aliased.us));
	return 0;
}

SEC("raw_tp/sys_enter")
int fields_direct(void *ctx)
{
	struct core_prim *p = ctx;

	OUT(10, p->c);
	OUT(11, p->s);
	OUT(12, p->i);
	OUT(13, p->l);
	OUT(14, p->uc);
	OUT(15, p->us);
	OUT(16, p->ui);
	OUT(17, p->ul);
	OUT(18, p->b);
	OUT(19, (unsigned long)p->ptr);
	p->i = 7;
	p->ul = (unsigned long)ctx;
	p->uc = 1;
	return 0;
}

SEC("raw_tp/sys_enter")
int fields_meta(void *ctx)
{
	struct core_prim *p = ctx;
	struct core_missing *m = ctx;
	struct core_nested *n = ctx;

	OUT(20, bpf_core_field_size(p->c));
	OUT(21, bpf_core_field_size(p->l));
	OUT(22, bpf_core_field_size(p->iptr));
	OUT(23, bpf_core_field_size(n->prim));
	OUT(24, bpf_core_field_exists(p->iptr));
	OUT(25, bpf_core_field_exists(m->gone));
	OUT(26, bpf_core_field_exists(m->present));
	OUT(27, __builtin_preserve_field_info(p->c, BPF_FIELD_SIGNED));
	OUT(28, __builtin_preserve_field_info(p->ui, BPF_FIELD_SIGNED));
	OUT(29, __builtin_preserve_field_info(p->i, BPF_FIELD_SIGNED));
	OUT(30, __builtin_preserve_field_info(n->cv, BPF_FIELD_SIGNED));
	OUT(31, bpf_core_field_offset(n->anon_l));
	if (bpf_core_field_exists(m->gone))
		OUT(32, BPF_CORE_READ(m, gone));
	else
		OUT(32, BPF_CORE_READ(m, present));
	return 0;
}

SEC("raw_tp/sys_enter")
int fields_typedefs(void *ctx)
{
	core_prim_alias_t *a = ctx;
	core_prim_t *t = ctx;

	OUT(40, BPF_CORE_READ(a, i));
	OUT(41, BPF_CORE_READ(t, ll));
	OUT(42, bpf_core_field_size(a->d));
	OUT(43, bpf_core_field_exists(t->f));
	return 0;
}

SEC("raw_tp/sys_enter")
int fields_ptr_as_array(void *ctx)
{
	struct core_prim *p = ctx;
	long v = 0;

	bpf_core_read(&v, sizeof(v), &p[3].l);
	OUT(50, v);
	bpf_core_read(&v, sizeof(int), &p[1].i);
	OUT(51, v);
	OUT(52, bpf_core_field_offset(p[2].ll));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
