/* Target: every type present, laid out differently: members reordered
 * and resized, anonymous members regrouped, array dimensions and element
 * sizes changed, bitfields moved and resized, enum values changed,
 * enum <-> enum64. */
#define OVERRIDE_core_prim
struct core_prim {
	long pad0;
	int *iptr;
	double d;
	unsigned long ul;
	long long ll;
	long l;
	short s;
	char c;
	unsigned char uc;
	unsigned int ui;
	unsigned short us;
	_Bool b;
	int i;
	float f;
	void *ptr;
};

#define OVERRIDE_core_nested
struct core_nested {
	long pad[3];
	union {
		struct core_prim prim;
		int a_shadow;
	};
	int a;
	struct core_prim *prim_ptr;
	union {
		long anon_l;
		struct {
			short anon_u_lo;
			int anon_u;
		};
	};
	int anon_x;
	union {
		int whole;
		struct {
			short lo, hi, extra;
		} parts;
	} u;
	int cv;
	struct core_prim aliased;
};

#define OVERRIDE_core_arrays
struct core_arrays {
	long n_before;
	int a[8];
	int m[3][3][4];
	struct core_prim ps[3];
	char c[32];
	int l[3];
	long n;
	int flex[];
};

#define OVERRIDE_core_bits
struct core_bits {
	unsigned long long wide : 48;
	unsigned int word;
	unsigned int b2 : 2;
	unsigned int b1 : 1;
	unsigned char pad : 7;
	int sb : 9;
	unsigned long long wide2 : 30;
	signed char c3 : 3;
	int as_int : 16;
	unsigned int to_bits;
};

#define OVERRIDE_core_e
enum core_e { CORE_X = 0, CORE_NEG = -7, CORE_B = 20, CORE_A = 10, CORE_C = 0x7ffffffe };

#define OVERRIDE_core_eu
enum core_eu { CORE_U_SMALL = 0x80000001U, CORE_U_BIG = 0xfffffff0U };

#define OVERRIDE_core_e64
enum core_e64 { CORE64_B = 3, CORE64_A = 4 };

#define OVERRIDE_core_flavor
struct core_flavor {
	long y;
	int x;
};

#define OVERRIDE_core_sizes
struct core_sizes {
	unsigned long long u32_to_u64;
	unsigned int u64_to_u32;
	long long s32_to_s64;
	void *ptr;
	unsigned short u8_to_u16;
	int i32_same;
};

#define OVERRIDE_core_matches
struct core_matches {
	char name[8];
	long extra;
	void (*fn)(int, long);
	enum core_e e;
	struct core_prim *p;
	int a;
};

#define OVERRIDE_core_union
union core_union {
	long l;
	struct core_prim p;
	char bytes[3];
	int i;
};
#include "gen.h"
