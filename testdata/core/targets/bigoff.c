/* Target: a member beyond what a load/store offset (s16) reaches, a
 * bitfield no 64-bit load covers, a prim whose signed int grew. */
#define OVERRIDE_core_bigoff
struct core_bigoff {
	int first;
	char gap[40000];
	int far;
};

#define OVERRIDE_core_packed_bits
struct __attribute__((packed)) core_packed_bits {
	char c[3];
	long long wide : 60;
};

#define OVERRIDE_core_prim
struct core_prim {
	long long c;
	short s;
	long i;
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
#include "gen.h"
