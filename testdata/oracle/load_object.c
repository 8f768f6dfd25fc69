// Loads a BPF object into the running kernel with libbpf and prints
// "LOAD <ret>" (0 on success): proves an object btfkit relocated is
// accepted by libbpf and the verifier as it is.
// Usage: load_object OBJ
#include <bpf/libbpf.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	int ret;

	if (argc < 2)
		return 2;
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		printf("OPEN failed\n");
		return 1;
	}
	ret = bpf_object__load(obj);
	printf("LOAD %d\n", ret);
	bpf_object__close(obj);
	return ret ? 1 : 0;
}
