#include <stdlib.h>
#include "common.h"

struct opaque {
	long value;
	struct opaque *self;
};

struct opaque *make_opaque(int v)
{
	struct opaque *o = malloc(sizeof(*o));
	o->value = v;
	o->self = o;
	return o;
}

int table_visit(table_t *t, visit_fn f, void *ctx)
{
	int sum = 0;
	for (struct node *n = t->heads[0]; n; n = n->next)
		sum += f(n, ctx);
	return sum + (int)t->flags.a + t->wire.len + (int)t->values[1].i;
}
