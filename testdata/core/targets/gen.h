/* The suite types as a target defines them by default: the same as
 * ../types.h (keep the two in sync). A target file changes a type by
 * defining OVERRIDE_<name> and its own version before including this,
 * and removes one from its BTF with OMIT_<name>. Flavored local types
 * (core_flavor___v2) have no default target version. */
#ifndef CORE_TARGET_GEN_H
#define CORE_TARGET_GEN_H

#if !defined(OVERRIDE_core_prim) && !defined(OMIT_core_prim)
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
#endif

#if !defined(OVERRIDE_core_prim_t) && !defined(OMIT_core_prim_t)
typedef struct core_prim core_prim_t;
#endif

#if !defined(OVERRIDE_core_prim_alias_t) && !defined(OMIT_core_prim_alias_t)
typedef core_prim_t core_prim_alias_t;
#endif

#if !defined(OVERRIDE_core_cv_int) && !defined(OMIT_core_cv_int)
typedef const volatile int core_cv_int;
#endif

#if !defined(OVERRIDE_core_nested) && !defined(OMIT_core_nested)
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
#endif

#if !defined(OVERRIDE_core_arrays) && !defined(OMIT_core_arrays)
struct core_arrays {
	int a[4];
	int m[2][3][4];
	struct core_prim ps[2];
	char c[16];
	long l[3];
	int n;
	int flex[];
};
#endif

#if !defined(OVERRIDE_core_bits) && !defined(OMIT_core_bits)
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
#endif

#if !defined(OVERRIDE_core_e) && !defined(OMIT_core_e)
enum core_e { CORE_A = 1, CORE_B = 2, CORE_C = 0x7fffffff, CORE_NEG = -5 };
#endif

#if !defined(OVERRIDE_core_eu) && !defined(OMIT_core_eu)
enum core_eu { CORE_U_BIG = 0x80000000U, CORE_U_SMALL = 1 };
#endif

#if !defined(OVERRIDE_core_e64) && !defined(OMIT_core_e64)
enum core_e64 { CORE64_A = 0x100000000ULL, CORE64_B = 2 };
#endif

#if !defined(OVERRIDE_core_flavor) && !defined(OMIT_core_flavor)
struct core_flavor {
	int x;
	int y;
};
#endif

#if !defined(OVERRIDE_core_missing) && !defined(OMIT_core_missing)
struct core_missing {
	int present;
	int gone;
};
#endif

#if !defined(OVERRIDE_core_mixup) && !defined(OMIT_core_mixup)
struct core_mixup {
	int a;
	struct core_prim inner;
	int scalar;
	struct core_prim *ptr;
};
#endif

#if !defined(OVERRIDE_core_ambig) && !defined(OMIT_core_ambig)
struct core_ambig {
	int a;
	int b;
};
#endif

#if !defined(OVERRIDE_core_ambig_bad) && !defined(OMIT_core_ambig_bad)
struct core_ambig_bad {
	int a;
	int b;
};
#endif

#if !defined(OVERRIDE_core_union) && !defined(OMIT_core_union)
union core_union {
	int i;
	long l;
	struct core_prim p;
};
#endif

#if !defined(OVERRIDE_core_int_t) && !defined(OMIT_core_int_t)
typedef int core_int_t;
#endif

#if !defined(OVERRIDE_core_fn_t) && !defined(OMIT_core_fn_t)
typedef void (*core_fn_t)(int, long);
#endif

#if !defined(OVERRIDE_core_matches) && !defined(OMIT_core_matches)
struct core_matches {
	int a;
	struct core_prim *p;
	enum core_e e;
	core_fn_t fn;
	char name[8];
};
#endif

#if !defined(OVERRIDE_core_sizes) && !defined(OMIT_core_sizes)
struct core_sizes {
	unsigned int u32_to_u64;
	unsigned long long u64_to_u32;
	int s32_to_s64;
	void *ptr;
	unsigned char u8_to_u16;
	int i32_same;
};
#endif

#if !defined(OVERRIDE_core_bigoff) && !defined(OMIT_core_bigoff)
struct core_bigoff {
	int first;
	int far;
};
#endif

#if !defined(OVERRIDE_core_prune) && !defined(OMIT_core_prune)
struct core_prune {
	int x;
	int y;
};
#endif

#if !defined(OVERRIDE_core_multi) && !defined(OMIT_core_multi)
struct core_multi {
	int x;
	int y;
	int z;
};
#endif

#if !defined(OVERRIDE_core_packed_bits) && !defined(OMIT_core_packed_bits)
struct core_packed_bits {
	char c;
	long long wide : 60;
};
#endif

/* Globals make clang emit BTF for every type. */
#ifndef OMIT_core_prim
struct core_prim __use_core_prim;
#endif
#ifndef OMIT_core_prim_t
core_prim_t __use_core_prim_t;
#endif
#ifndef OMIT_core_prim_alias_t
core_prim_alias_t __use_core_prim_alias_t;
#endif
#ifndef OMIT_core_cv_int
core_cv_int __use_core_cv_int;
#endif
#ifndef OMIT_core_nested
struct core_nested __use_core_nested;
#endif
#ifndef OMIT_core_arrays
struct core_arrays __use_core_arrays;
#endif
#ifndef OMIT_core_bits
struct core_bits __use_core_bits;
#endif
#ifndef OMIT_core_e
enum core_e __use_core_e;
#endif
#ifndef OMIT_core_eu
enum core_eu __use_core_eu;
#endif
#ifndef OMIT_core_e64
enum core_e64 __use_core_e64;
#endif
#ifndef OMIT_core_flavor
struct core_flavor __use_core_flavor;
#endif
#ifndef OMIT_core_missing
struct core_missing __use_core_missing;
#endif
#ifndef OMIT_core_mixup
struct core_mixup __use_core_mixup;
#endif
#ifndef OMIT_core_ambig
struct core_ambig __use_core_ambig;
#endif
#ifndef OMIT_core_ambig_bad
struct core_ambig_bad __use_core_ambig_bad;
#endif
#ifndef OMIT_core_union
union core_union __use_core_union;
#endif
#ifndef OMIT_core_int_t
core_int_t __use_core_int_t;
#endif
#ifndef OMIT_core_fn_t
core_fn_t __use_core_fn_t;
#endif
#ifndef OMIT_core_matches
struct core_matches __use_core_matches;
#endif
#ifndef OMIT_core_sizes
struct core_sizes __use_core_sizes;
#endif
#ifndef OMIT_core_bigoff
struct core_bigoff __use_core_bigoff;
#endif
#ifndef OMIT_core_prune
struct core_prune __use_core_prune;
#endif
#ifndef OMIT_core_multi
struct core_multi __use_core_multi;
#endif
#ifndef OMIT_core_packed_bits
struct core_packed_bits __use_core_packed_bits;
#endif

#endif
