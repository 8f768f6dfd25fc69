// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace CO-RE: a uprobe on process_data() of testdata/uprobe/app.c
 * that reads the application's struct with CO-RE relocations, so one
 * compiled object reads the right offsets in every version of the
 * application. The loader's target BTF is the kernel's merged with the
 * application's (encoded from its DWARF).
 */
/* Built per architecture (bpf/build.sh): BPF_KPROBE reads the argument
 * from the registers, whose layout is the architecture's. */
#if defined(__TARGET_ARCH_arm64)
#include "vmlinux.arm64.h"
#else
#include "vmlinux.h"
#endif
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* The application's struct as this probe was written against (version
 * 1); the relocations move each access to where the target has it. */
struct app_data {
	int id;
	long value;
	char name[16];
} __attribute__((preserve_access_index));

/* What the probe saw; must match crates/tracer/src/uprobe.rs. */
struct seen {
	__u32 hits;
	__s32 id;
	__s64 value;
	char name[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct seen);
} seen SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(on_process_data, struct app_data *d)
{
	__u32 zero = 0;
	struct seen *s = bpf_map_lookup_elem(&seen, &zero);

	if (!s)
		return 0;
	s->id = BPF_CORE_READ_USER(d, id);
	s->value = BPF_CORE_READ_USER(d, value);
	BPF_CORE_READ_USER_STR_INTO(&s->name, d, name);
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
