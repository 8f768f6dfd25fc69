/* An exec storm for the tracer benchmark: WORKERS processes each run
 * TOTAL/WORKERS times vfork() + execve(PROG, [PROG, "storm", "arg"]) +
 * waitpid(). Prints execs and execs per second.
 *
 *   exec_storm PROG TOTAL WORKERS */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: exec_storm PROG TOTAL WORKERS\n");
		return 2;
	}
	const char *prog = argv[1];
	long total = atol(argv[2]);
	int workers = atoi(argv[3]);
	char *args[] = {(char *)prog, "storm", "arg", NULL};
	char *env[] = {NULL};
	double start = now();
	for (int w = 0; w < workers; w++) {
		if (fork() == 0) {
			long n = total / workers + (w < total % workers);
			for (long i = 0; i < n; i++) {
				pid_t p = vfork();
				if (p == 0) {
					execve(prog, args, env);
					_exit(127);
				}
				if (p > 0)
					waitpid(p, NULL, 0);
			}
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	double secs = now() - start;
	printf("%ld execs in %.3f s: %.0f execs/s\n", total, secs, total / secs);
	return 0;
}
