// Reference side of the CO-RE benchmark: libbpf 1.1's own relocation
// core, called the way bpftool's `gen min_core_btf` calls it (its
// internal entry points are global symbols of the static libbpf.a):
// parse the target BTF, then for every object parse its ELF, .BTF and
// .BTF.ext, search candidates (cached per local type, as libbpf does),
// compute every relocation and patch the instruction.
//   libbpf_core TARGET_BTF ROUNDS OBJ...   prints "<us for the best round> <relocations>"
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gelf.h>
#include <libelf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* libbpf 1.1.2 internal ABI (relo_core.h, libbpf_internal.h). */
struct bpf_core_cand { const struct btf *btf; __u32 id; };
struct bpf_core_cand_list { struct bpf_core_cand *cands; int len; };
struct bpf_core_accessor { __u32 type_id; __u32 idx; const char *name; };
struct bpf_core_spec {
	const struct btf *btf;
	struct bpf_core_accessor spec[64];
	__u32 root_type_id;
	enum bpf_core_relo_kind relo_kind;
	int len;
	int raw_spec[64];
	int raw_len;
	__u32 bit_offset;
};
struct bpf_core_relo_res {
	__u64 orig_val, new_val;
	bool poison, validate, fail_memsz_adjust;
	__u32 orig_sz, orig_type_id, new_sz, new_type_id;
};
struct btf_ext_info { void *info; __u32 rec_size; __u32 len; __u32 *sec_idxs; int sec_cnt; };
struct btf_ext {
	union { void *hdr; void *data; };
	struct btf_ext_info func_info, line_info, core_relo_info;
	__u32 data_size;
};
struct btf_ext_info_sec { __u32 sec_name_off; __u32 num_info; __u8 data[]; };
int bpf_core_add_cands(struct bpf_core_cand *local_cand, size_t local_essent_len,
		       const struct btf *targ_btf, const char *targ_btf_name, int targ_start_id,
		       struct bpf_core_cand_list *cands);
size_t bpf_core_essential_name_len(const char *name);
int bpf_core_calc_relo_insn(const char *prog_name, const struct bpf_core_relo *relo, int relo_idx,
			    const struct btf *local_btf, struct bpf_core_cand_list *cands,
			    struct bpf_core_spec *specs_scratch, struct bpf_core_relo_res *targ_res);
int bpf_core_patch_insn(const char *prog_name, struct bpf_insn *insn, int insn_idx,
			const struct bpf_core_relo *relo, int relo_idx,
			const struct bpf_core_relo_res *res);

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int quiet(enum libbpf_print_level l, const char *f, va_list a) { return 0; }

/* A copy of section `name`'s bytes (the instructions to patch). */
static void *section_copy(Elf *elf, const char *name, size_t *size)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	elf_getshdrstrndx(elf, &shstrndx);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		gelf_getshdr(scn, &sh);
		if (strcmp(elf_strptr(elf, shstrndx, sh.sh_name), name) == 0) {
			Elf_Data *d = elf_getdata(scn, NULL);
			void *copy = malloc(d->d_size);
			memcpy(copy, d->d_buf, d->d_size);
			*size = d->d_size;
			return copy;
		}
	}
	return NULL;
}

static long relocate_object(const char *path, const struct btf *targ)
{
	struct btf_ext *ext = NULL;
	struct btf *local = btf__parse_elf(path, &ext);
	struct bpf_core_spec specs[3];
	struct bpf_core_relo_res res;
	struct bpf_core_cand_list **cache;
	long count = 0;
	int fd = open(path, O_RDONLY);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	struct btf_ext_info *seg;
	struct btf_ext_info_sec *sec;
	__u32 n, i;

	if (!local || !ext) {
		fprintf(stderr, "%s: no BTF/BTF.ext\n", path);
		exit(1);
	}
	n = btf__type_cnt(local);
	cache = calloc(n, sizeof(*cache));
	seg = &ext->core_relo_info;
	for (sec = seg->info; (void *)sec < seg->info + seg->len;
	     sec = (void *)sec + sizeof(*sec) + sec->num_info * seg->rec_size) {
		const char *sec_name = btf__name_by_offset(local, sec->sec_name_off);
		size_t size;
		struct bpf_insn *insns = section_copy(elf, sec_name, &size);

		for (i = 0; i < sec->num_info; i++) {
			const struct bpf_core_relo *rec = (void *)sec->data + i * seg->rec_size;
			struct bpf_core_cand_list *cands = NULL;
			int err;

			if (rec->kind != BPF_CORE_TYPE_ID_LOCAL) {
				if (!cache[rec->type_id]) {
					const struct btf_type *t = btf__type_by_id(local, rec->type_id);
					const char *name = btf__name_by_offset(local, t->name_off);
					struct bpf_core_cand local_cand = { local, rec->type_id };

					cands = calloc(1, sizeof(*cands));
					bpf_core_add_cands(&local_cand, bpf_core_essential_name_len(name),
							   targ, "vmlinux", 1, cands);
					cache[rec->type_id] = cands;
				}
				cands = cache[rec->type_id];
			}
			err = bpf_core_calc_relo_insn(sec_name, rec, i, local, cands, specs, &res);
			if (!err)
				err = bpf_core_patch_insn(sec_name, &insns[rec->insn_off / 8],
							  rec->insn_off / 8, rec, i, &res);
			count++;
		}
		free(insns);
	}
	for (i = 0; i < n; i++) {
		if (cache[i]) {
			free(cache[i]->cands);
			free(cache[i]);
		}
	}
	free(cache);
	elf_end(elf);
	close(fd);
	btf_ext__free(ext);
	btf__free(local);
	return count;
}

int main(int argc, char **argv)
{
	double best = 1e18;
	long relos = 0;
	int r, rounds, i;

	if (argc < 4)
		return 2;
	libbpf_set_print(quiet);
	elf_version(EV_CURRENT);
	rounds = atoi(argv[2]);
	for (r = 0; r < rounds; r++) {
		double t0 = now_us(), t;
		struct btf *targ = btf__parse(argv[1], NULL);

		relos = 0;
		for (i = 3; i < argc; i++)
			relos += relocate_object(argv[i], targ);
		btf__free(targ);
		t = now_us() - t0;
		if (t < best)
			best = t;
	}
	printf("%.0f %ld\n", best, relos);
	return 0;
}
