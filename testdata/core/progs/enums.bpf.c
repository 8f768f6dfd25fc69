// requires: clang-16
// Enumerator relocations: existence and value, enum and enum64, signed
// values, an unsigned 32-bit value with the top bit set.
#include "common.h"

SEC("raw_tp/sys_enter")
int enums_exists(void *ctx)
{
	OUT(0, bpf_core_enum_value_exists(enum core_e, CORE_A));
	OUT(1, bpf_core_enum_value_exists(enum core_e, CORE_B));
	OUT(2, bpf_core_enum_value_exists(enum core_e, CORE_NEG));
	OUT(3, bpf_core_enum_value_exists(enum core_eu, CORE_U_BIG));
	OUT(4, bpf_core_enum_value_exists(enum core_e64, CORE64_A));
	return 0;
}

SEC("raw_tp/sys_enter")
int enums_values(void *ctx)
{
	OUT(10, bpf_core_enum_value(enum core_e, CORE_A));
	OUT(11, bpf_core_enum_value(enum core_e, CORE_B));
	OUT(12, bpf_core_enum_value(enum core_e, CORE_C));
	OUT(13, bpf_core_enum_value(enum core_e, CORE_NEG));
	OUT(14, bpf_core_enum_value(enum core_eu, CORE_U_BIG));
	OUT(15, bpf_core_enum_value(enum core_eu, CORE_U_SMALL));
	OUT(16, bpf_core_enum_value(enum core_e64, CORE64_A));
	OUT(17, bpf_core_enum_value(enum core_e64, CORE64_B));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
