/* Types shared by the encoder's test program's units. */
#ifndef COMMON_H
#define COMMON_H
#include <stdint.h>
#include <stddef.h>

struct opaque;	/* defined in lib.c only */

enum color { RED, GREEN = 5, BLUE = -1 };
enum big { SMALL = 1, HUGE = 0x123456789aLL };

struct node {
	struct node *next, *prev;
	int key;
};

struct flags {
	unsigned int a: 3;
	unsigned int b: 13;
	uint64_t wide: 40;
	signed char c: 2;
	_Bool on: 1;
};

struct __attribute__((packed)) wire {
	uint8_t tag;
	uint32_t len;
	uint16_t crc;
};

union value {
	int64_t i;
	double d;
	char bytes[8];
};

typedef int (*visit_fn)(struct node *n, void *ctx, ...);

struct table {
	const char *name;
	volatile uint32_t count;
	struct node *const *heads;
	int grid[3][4];
	struct {
		uint16_t lo, hi;
	} range;
	union {
		float f;
		uint32_t u;
	};
	enum color color;
	enum big big;
	struct flags flags;
	struct wire wire;
	union value values[2];
	visit_fn visit;
	struct opaque *priv;
	size_t n;
	char tail[];
};

typedef struct table table_t;

int table_visit(table_t *t, visit_fn f, void *ctx);
struct opaque *make_opaque(int v);
#endif
