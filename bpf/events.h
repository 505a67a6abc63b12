/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Event records the BPF programs send to user space. The tracer decodes them from the
 * object's own BTF (field names and offsets), so these names are the contract; the sizes
 * below bound the variable part.
 */
#ifndef TRACER_EVENTS_H
#define TRACER_EVENTS_H

#define EXEC_FILENAME_MAX 4096 /* bytes of file name kept (PATH_MAX) */
#define EXEC_ARGS_MAX 8192     /* hard limit of argv bytes kept; .rodata max_arg_bytes <= this */
#define EXEC_ARGS_LIMIT 128    /* hard limit of args read one by one (failed execs) */

/* exec_event.flags */
#define EXEC_F_ARGS_TRUNCATED 1     /* argv cut at max_arg_bytes or max_args */
#define EXEC_F_FILENAME_TRUNCATED 2 /* file name cut at EXEC_FILENAME_MAX - 1 bytes */
#define EXEC_F_ARGS_FAULT 4         /* argv (or part of it) was not readable */
#define EXEC_F_EXECVEAT 8           /* failed execveat(): filename is relative to a dirfd */

#define EXEC_ANCESTORS_MAX 16 /* the parent, its parent, ... up to init */

/* One process above the exec'ing one. */
struct exec_ancestor {
	__u32 pid; /* tgid */
	char comm[16];
};

/*
 * One exec: time_ns is CLOCK_BOOTTIME. data[] holds the file name (filename_len bytes, no NUL)
 * followed by args_len bytes of argv, each argument NUL-terminated (the last one may lack
 * its NUL when the args were truncated). Only the used part of data[] is sent.
 */
struct exec_event {
	__u64 time_ns;
	__u64 cgroup_id;
	__u64 mntns_id;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__s32 ret;
	__u32 argc; /* arguments the process has (success), or arguments read (failed) */
	__u32 filename_len;
	__u32 args_len;
	__u32 flags;
	char comm[16];
	char pcomm[16];
	__u32 ancestors_len; /* ancestors[] used: the parent first, up to init (pid 1) */
	struct exec_ancestor ancestors[EXEC_ANCESTORS_MAX];
	char data[EXEC_FILENAME_MAX + EXEC_ARGS_MAX];
};

/* Indexes of the per-CPU `stats` array (__u64 counters). */
enum exec_stat {
	EXEC_STAT_LOST = 0,       /* events dropped: ring or perf buffer full (STAT_LOST) */
	STAT_ARGS_TRUNCATED = 1,  /* events whose argv was cut */
	STAT_FILENAME_TRUNCATED = 2,
	STAT_ARGS_FAULT = 3,      /* events whose argv could not be (fully) read */
	STAT_PENDING_DROPPED = 4, /* execve entries not remembered (map update failed) */
	STAT_TRACED_FULL = 5,     /* forks not followed: traced-tgid map full */
	EXEC_STAT_COUNT = 6,
};

#endif
