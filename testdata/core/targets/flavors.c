/* Target: types under flavored names, duplicate candidates (compatible
 * and not), and struct/union mix-ups. */
#define OVERRIDE_core_flavor
struct core_flavor___kernel {
	int pad;
	int x;
	long y;
	int z;
};
struct core_flavor___kernel __use_core_flavor_k;
#define OMIT_core_flavor

#define OVERRIDE_core_ambig
struct core_ambig___one {
	int a;
	int b;
};
struct core_ambig___two {
	int a;
	int b;
	long more;
};
struct core_ambig___one __use_ambig_one;
struct core_ambig___two __use_ambig_two;
#define OMIT_core_ambig

#define OVERRIDE_core_ambig_bad
struct core_ambig_bad___one {
	int a;
	int b;
};
struct core_ambig_bad___two {
	int b;
	int a;
};
struct core_ambig_bad___one __use_ambig_bad_one;
struct core_ambig_bad___two __use_ambig_bad_two;
#define OMIT_core_ambig_bad

#define OMIT_core_prune
struct core_prune___has_x {
	int pad;
	int x;
	int y;
};
struct core_prune___no_x {
	int y;
};
struct core_prune___has_x __use_prune_a;
struct core_prune___no_x __use_prune_b;

#define OMIT_core_multi
struct core_multi___first {
	int x;
	int y;
};
struct core_multi___second {
	int x;
	int y;
	int z;
};
struct core_multi___first __use_multi_a;
struct core_multi___second __use_multi_b;

#define OMIT_core_mixup
#define OMIT_core_union
#define OMIT_core_matches
#include "gen.h"

/* Defined after gen.h: they use types it defines. */
struct core_mixup {
	int a;
	union {
		int i;
		long l;
	} inner;
	struct {
		int x;
	} scalar;
	long ptr;
};
struct core_mixup __use_mixup;

struct core_union {
	int i;
	long l;
	struct core_prim p;
};
struct core_union __use_union_as_struct;

struct core_matches {
	int a;
	struct core_prim *p;
	enum core_e e;
	void (*fn)(int, int);
	char name[8];
};
struct core_matches __use_matches;
