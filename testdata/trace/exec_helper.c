/* Test helper for btfkit trace: makes the exec calls the tests assert on.
 *
 *   exec_helper execveat PATH ARG...   execveat(AT_FDCWD, PATH, [ARG...], 0)
 *   exec_helper execve PATH ARG...     execve(PATH, [ARG...])
 *   exec_helper execve-unmapped PATH ARG...
 *       execve(PATH, [ARG...]) with the arguments (strings and pointer
 *       array) in a file mapping this process never touched: at the
 *       syscall's entry their pages are not present, so a BPF program,
 *       which cannot fault pages in, cannot read them there.
 *
 * Exits 127 with a message when the exec fails (the tracer still reports
 * the failed call with its error). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

/* Writes ARGs and their pointer array (as they will be mapped at `at`)
 * to a temporary file, maps it without touching the mapping, and
 * returns the mapped pointer array. */
static char **unmapped_args(char **args, int n)
{
	char tmpl[] = "/tmp/btfkit-exec-helper-XXXXXX";
	int fd = mkstemp(tmpl);
	size_t strings = 0, size;
	char *at, *buf, **ptrs;
	int i;

	if (fd < 0)
		return NULL;
	unlink(tmpl);
	for (i = 0; i < n; i++)
		strings += strlen(args[i]) + 1;
	size = (n + 1) * sizeof(char *) + strings;
	/* Reserve the address first, so the pointers can be computed. */
	at = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf = calloc(1, size);
	if (at == MAP_FAILED || !buf)
		return NULL;
	ptrs = (char **)buf;
	strings = (n + 1) * sizeof(char *);
	for (i = 0; i < n; i++) {
		ptrs[i] = at + strings;
		strcpy(buf + strings, args[i]);
		strings += strlen(args[i]) + 1;
	}
	if (write(fd, buf, size) != (ssize_t)size)
		return NULL;
	/* The file's pages replace the reservation; nothing reads them. */
	if (mmap(at, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED)
		return NULL;
	/* Page-cache pages are mapped in on first touch only; drop them
	 * from the cache too so no fault-around maps them early. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return (char **)at;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: exec_helper execve|execveat|execve-unmapped PATH ARG...\n");
		return 2;
	}
	const char *path = argv[2];
	char **args = &argv[3];
	if (strcmp(argv[1], "execveat") == 0)
		syscall(SYS_execveat, AT_FDCWD, path, args, environ, 0);
	else if (strcmp(argv[1], "execve-unmapped") == 0) {
		char **mapped = unmapped_args(args, argc - 3);
		if (!mapped) {
			perror("mapping the arguments");
			return 126;
		}
		execve(path, mapped, environ);
	} else
		execve(path, args, environ);
	perror("exec");
	return 127;
}
