// Type-based relocations: existence, size, matches, local and target ids,
// for structs, unions, enums, typedefs, function pointers and flavors.
#include "common.h"

struct core_not_anywhere {
	int x;
} __attribute__((preserve_access_index));

SEC("raw_tp/sys_enter")
int types_exists(void *ctx)
{
	OUT(0, bpf_core_type_exists(struct core_prim));
	OUT(1, bpf_core_type_exists(union core_union));
	OUT(2, bpf_core_type_exists(enum core_e));
	OUT(3, bpf_core_type_exists(core_int_t));
	OUT(4, bpf_core_type_exists(core_fn_t));
	OUT(5, bpf_core_type_exists(struct core_not_anywhere));
	OUT(6, bpf_core_type_exists(struct core_flavor___v2));
	OUT(7, bpf_core_type_exists(struct core_missing));
	return 0;
}

SEC("raw_tp/sys_enter")
int types_size(void *ctx)
{
	OUT(10, bpf_core_type_size(struct core_prim));
	OUT(11, bpf_core_type_size(union core_union));
	OUT(12, bpf_core_type_size(enum core_e));
	OUT(13, bpf_core_type_size(core_int_t));
	OUT(14, bpf_core_type_size(struct core_arrays));
	OUT(15, bpf_core_type_size(enum core_e64));
	OUT(16, bpf_core_type_size(struct core_not_anywhere));
	return 0;
}

SEC("raw_tp/sys_enter")
int types_matches(void *ctx)
{
	OUT(20, bpf_core_type_matches(struct core_matches));
	OUT(21, bpf_core_type_matches(struct core_prim));
	OUT(22, bpf_core_type_matches(union core_union));
	OUT(23, bpf_core_type_matches(enum core_e));
	OUT(24, bpf_core_type_matches(core_fn_t));
	OUT(25, bpf_core_type_matches(core_int_t));
	OUT(26, bpf_core_type_matches(struct core_flavor___v2));
	OUT(27, bpf_core_type_matches(struct core_not_anywhere));
	return 0;
}

SEC("raw_tp/sys_enter")
int types_ids(void *ctx)
{
	OUT(30, bpf_core_type_id_local(struct core_prim));
	OUT(31, bpf_core_type_id_kernel(struct core_prim));
	OUT(32, bpf_core_type_id_local(core_int_t));
	OUT(33, bpf_core_type_id_kernel(core_int_t));
	OUT(34, bpf_core_type_id_kernel(struct core_not_anywhere));
	OUT(35, bpf_core_type_id_kernel(enum core_e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
