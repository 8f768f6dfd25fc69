#include <stdio.h>
#include <stdlib.h>
#include "common.h"

static int count_nodes(struct node *n, void *ctx, ...)
{
	(*(int *)ctx)++;
	return n->key;
}

int main(int argc, char **argv)
{
	struct node a = {0}, b = {0};
	a.next = &b;
	table_t *t = calloc(1, sizeof(*t) + 4);
	struct node *heads[1] = {&a};
	int n = 0;
	t->heads = heads;
	t->priv = make_opaque(argc);
	printf("%d %d\n", table_visit(t, count_nodes, &n), n);
	free(t);
	return 0;
}
