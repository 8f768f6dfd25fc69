/* Test helper for btfkit trace: makes the exec calls the tests assert on.
 *
 *   exec_helper execveat PATH ARG...   execveat(AT_FDCWD, PATH, [ARG...], 0)
 *   exec_helper execve PATH ARG...     execve(PATH, [ARG...])
 *
 * Exits 127 with a message when the exec fails (the tracer still reports
 * the failed call with its error). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: exec_helper execve|execveat PATH ARG...\n");
		return 2;
	}
	const char *path = argv[2];
	char **args = &argv[3];
	if (strcmp(argv[1], "execveat") == 0)
		syscall(SYS_execveat, AT_FDCWD, path, args, environ, 0);
	else
		execve(path, args, environ);
	perror("exec");
	return 127;
}
