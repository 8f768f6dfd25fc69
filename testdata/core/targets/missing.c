/* Target: members, enumerators and whole types missing. */
#define OVERRIDE_core_prim
struct core_prim {
	int i;
	long l;
};

#define OVERRIDE_core_missing
struct core_missing {
	int present;
};

#define OVERRIDE_core_e
enum core_e { CORE_A = 1 };

#define OVERRIDE_core_nested
struct core_nested {
	int a;
	struct core_prim prim;
};

#define OVERRIDE_core_bits
struct core_bits {
	unsigned int b1 : 1;
	unsigned int word;
};

#define OVERRIDE_core_arrays
struct core_arrays {
	int a[2];
	long l[1];
};

#define OMIT_core_flavor
#define OMIT_core_eu
#define OMIT_core_e64
#define OMIT_core_int_t
#define OMIT_core_fn_t
#define OMIT_core_matches
#define OMIT_core_sizes
#define OMIT_core_mixup
#define OMIT_core_ambig
#define OMIT_core_union
#include "gen.h"
