#ifndef CORE_COMMON_H
#define CORE_COMMON_H
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "../types.h"

/* Results go to a global so the compiler keeps every relocation. */
__u64 out[128];
#define OUT(i, v) (*(volatile __u64 *)&out[i] = (__u64)(v))

#endif
