// Layout corner cases for the BTF reader and (later) the C dumper:
// anonymous members, packed and aligned structs, bitfields, flexible
// arrays, function pointers, multi-dimensional arrays, typedef chains,
// forward declarations, BTF-defined maps and datasecs.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct fwd_decl;
typedef struct fwd_decl fwd_t;
typedef int (*callback_t)(void *ctx, const char *msg, unsigned long len);
typedef callback_t callback_alias_t;
typedef const volatile int cv_int;

struct __attribute__((packed)) packed {
	char c;
	int i;
	short s;
	long long ll;
};

struct __attribute__((aligned(16))) aligned16 {
	int x;
};

struct bits {
	unsigned int a : 1, b : 2, c : 29;
	unsigned long long wide : 40, rest : 24;
	signed char sc : 3;
	int : 0;
	int after_zero;
	union {
		__u32 raw;
		struct {
			__u16 lo : 12, mid : 4;
			__u16 hi;
		};
	};
};

struct flex {
	int n;
	long items[];
};

struct nested {
	struct {
		int anon_a;
		union {
			long anon_u1;
			char anon_u2[8];
		};
	};
	struct bits b;
	struct packed p;
	struct aligned16 al;
	int matrix[3][4][5];
	const char *const strings[2];
	callback_alias_t cb;
	fwd_t *opaque;
	cv_int cvi;
	void (*handlers[4])(int);
	struct flex *f;
	_Bool flag;
	__int128 big;
	unsigned __int128 ubig;
	double d;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, struct nested);
} nested_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct nested global_nested;
static volatile const __u64 config_value = 42;
char buffer[64] SEC(".data.buf");

SEC("tracepoint/syscalls/sys_enter_execve")
int handle(void *ctx)
{
	__u32 key = 0;
	struct nested *n = bpf_map_lookup_elem(&nested_map, &key);

	if (!n)
		return 0;
	global_nested.b.a = n->b.c & 1;
	buffer[0] = (char)config_value;
	if (n->cb)
		return n->matrix[1][2][3];
	return n->b.mid + n->anon_a;
}

char LICENSE[] SEC("license") = "GPL";
