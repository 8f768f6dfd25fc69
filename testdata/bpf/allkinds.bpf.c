typedef unsigned int u32;
typedef unsigned long long u64;
#define __tag1 __attribute__((btf_decl_tag("tag1")))
#define __utag __attribute__((btf_type_tag("user")))
#define SEC(n) __attribute__((section(n), used))
enum small { A = 1, B = -2 };
enum big { X = 0xffffffffffULL, Y = 1 };
enum bigs { S1 = -5000000000LL, S2 = 3 };
struct fwd_only;
union fwd_union;
struct bits { int a:3; unsigned b:5; long c; char d[7]; volatile const int * restrict p; };
union un { int i; float f; double d; };
struct holder { struct bits b; union un u; enum small s; enum big g; enum bigs gs; struct fwd_only *fo; union fwd_union *fu; int __utag *up; u32 x __tag1; };
struct holder gh __tag1;
static volatile int counter SEC(".data.custom");
const int rodata_v = 5;
int bss_v;
int func_tagged(int a __tag1, struct holder *h) __tag1;
SEC("tp/sched/sched_process_exec") int prog(void *ctx) { gh.x++; counter++; bss_v += rodata_v; return func_tagged(1, &gh); }
__attribute__((noinline)) int func_tagged(int a, struct holder *h) { return a + h->b.a + h->u.i + (h->fo != 0); }
char LICENSE[] SEC("license") = "GPL";
