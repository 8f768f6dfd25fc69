/* The tracer's events and configuration, shared by the BPF programs and
 * read byte by byte by btfkit's tracer (crates/tracer/src/event.rs), which
 * must follow any change here. All fields are native-endian. */
#ifndef BTFKIT_TRACE_H
#define BTFKIT_TRACE_H

#define TASK_COMM_LEN 16
#define PATH_LEN 256
#define ARGS_MAX 20
#define ARG_LEN 256
#define ARGS_BUF (ARGS_MAX * ARG_LEN)

enum event_type {
	EVENT_EXECVE = 1,
	EVENT_EXECVEAT = 2,
	EVENT_EXIT = 3,
};

/* event.flags */
#define FLAG_ARGS_TRUNCATED 1	/* more than ARGS_MAX arguments */
#define FLAG_ARG_TRUNCATED 2	/* an argument longer than ARG_LEN - 1 */
#define FLAG_PATH_TRUNCATED 4	/* pathname longer than PATH_LEN - 1 */
#define FLAG_READ_ERROR 8	/* a user-memory read failed */
#define FLAG_ARGS_FROM_MM 16	/* args: the new program's argument block
				 * (mm->arg_start..arg_end), argc not counted */

struct event {
	__u64 ts_ns;		/* bpf_ktime_get_ns() */
	__u32 type;		/* enum event_type */
	__u32 pid;		/* thread group id */
	__u32 tid;
	__u32 ppid;		/* real parent's thread group id */
	__u32 uid;
	__u32 gid;
	__s32 ret;		/* syscall return value; exit status for EVENT_EXIT */
	__u32 mnt_ns;		/* mount namespace inode number */
	__u32 pid_ns;		/* pid namespace (for children) inode number */
	__u32 flags;
	__u32 argc;		/* arguments captured */
	__u32 path_len;		/* bytes of path, with its NUL (0 for exit) */
	__u32 args_len;		/* bytes of args: argc NUL-terminated strings
				 * (with FLAG_ARGS_FROM_MM: a raw block) */
	char comm[TASK_COMM_LEN];
	char path[PATH_LEN];
	char args[ARGS_BUF];
};

/* Bytes of an event before args. */
#define EVENT_HEADER_LEN ((unsigned long)&((struct event *)0)->args)

/* config.flags */
#define CONFIG_FILTERS_ON 1	/* off while the loader checks its own exec */
#define CONFIG_FILTER_UID 2
#define CONFIG_FILTER_PID 4
#define CONFIG_FILTER_NEW 8	/* processes started after start_ns */
#define CONFIG_FILTER_COMM 16

struct config {
	__u32 flags;
	__u32 event_mask;	/* bit (1 << enum event_type) */
	__u64 start_ns;		/* for CONFIG_FILTER_NEW, bpf_ktime_get_ns() time */
};

/* kconfig map indexes: kernel options the loader copies from the
 * resolver's kconfig (1 = y, 2 = m, 0 = unset). */
enum kconfig_key {
	KCONFIG_ARCH_HAS_SYSCALL_WRAPPER = 0,
	KCONFIG_MAX = 8,
};

/* stats map indexes (per-CPU counters). */
enum stat_key {
	STAT_LOST = 0,		/* events the buffer had no room for */
	STAT_ERRORS = 1,	/* pending-exec table full, failed reads */
	STAT_MAX = 4,
};

#endif
