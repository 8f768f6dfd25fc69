/* Local types of the CO-RE test suite: what the BPF programs were
 * compiled against. The target files in targets/ define the same names
 * with the variations each test exercises. */
#ifndef CORE_TYPES_H
#define CORE_TYPES_H

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct core_prim {
	char c;
	short s;
	int i;
	long l;
	long long ll;
	unsigned char uc;
	unsigned short us;
	unsigned int ui;
	unsigned long ul;
	_Bool b;
	float f;
	double d;
	void *ptr;
	int *iptr;
};

typedef struct core_prim core_prim_t;
typedef core_prim_t core_prim_alias_t;
typedef const volatile int core_cv_int;

struct core_nested {
	int a;
	struct {
		int anon_x;
		union {
			int anon_u;
			long anon_l;
		};
	};
	struct core_prim prim;
	struct core_prim *prim_ptr;
	union {
		struct {
			short lo, hi;
		} parts;
		int whole;
	} u;
	core_cv_int cv;
	core_prim_alias_t aliased;
};

struct core_arrays {
	int a[4];
	int m[2][3][4];
	struct core_prim ps[2];
	char c[16];
	long l[3];
	int n;
	int flex[];
};

struct core_bits {
	unsigned int b1 : 1;
	unsigned int b2 : 2;
	int sb : 5;
	unsigned int word;
	unsigned long long wide : 40;
	unsigned long long wide2 : 20;
	signed char c3 : 3;
	int as_int;
	unsigned int to_bits;
};

enum core_e { CORE_A = 1, CORE_B = 2, CORE_C = 0x7fffffff, CORE_NEG = -5 };
enum core_eu { CORE_U_BIG = 0x80000000U, CORE_U_SMALL = 1 };
enum core_e64 { CORE64_A = 0x100000000ULL, CORE64_B = 2 };

struct core_flavor {
	int x;
	int y;
};

struct core_flavor___v2 {
	int x;
	long y;
	int z;
};

struct core_missing {
	int present;
	int gone;
};

struct core_mixup {
	int a;
	struct core_prim inner;
	int scalar;
	struct core_prim *ptr;
};

struct core_ambig {
	int a;
	int b;
};

struct core_ambig_bad {
	int a;
	int b;
};

union core_union {
	int i;
	long l;
	struct core_prim p;
};

typedef int core_int_t;
typedef void (*core_fn_t)(int, long);

struct core_matches {
	int a;
	struct core_prim *p;
	enum core_e e;
	core_fn_t fn;
	char name[8];
};

struct core_sizes {
	unsigned int u32_to_u64;
	unsigned long long u64_to_u32;
	int s32_to_s64;
	void *ptr;
	unsigned char u8_to_u16;
	int i32_same;
};

struct core_bigoff {
	int first;
	int far;
};

struct core_prune {
	int x;
	int y;
};

struct core_multi {
	int x;
	int y;
	int z;
};

struct core_packed_bits {
	char c;
	long long wide : 60;
};

#pragma clang attribute pop

#endif
