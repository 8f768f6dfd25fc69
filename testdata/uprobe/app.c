/*
 * The userspace CO-RE demo's application, in two versions: version 2
 * (-DV2) adds a member before the ones the probe reads, so `value` and
 * `name` move. bpf/uprobe.bpf.c, compiled once against version 1, reads
 * both correctly when its target BTF is the kernel's merged with the
 * application's (btfkit btf encode + btfkit btf merge).
 */
#include <stdio.h>
#include <string.h>

struct app_data {
	int id;
#ifdef V2
	char tag[24];
#endif
	long value;
	char name[16];
};

/* The probed function. */
__attribute__((noinline)) int process_data(struct app_data *d)
{
	return printf("process_data: id=%d value=%ld name=%s\n", d->id, d->value, d->name) < 0;
}

/* Called through a volatile pointer, so the compiler neither inlines nor
 * clones process_data (the probe is on the symbol). */
int (*volatile process)(struct app_data *) = process_data;

int main(void)
{
	struct app_data d;

	memset(&d, 0, sizeof(d));
	d.id = 42;
	d.value = 1234567;
#ifdef V2
	strcpy(d.tag, "version 2");
#endif
	strcpy(d.name, "btfkit");
	return process(&d);
}
