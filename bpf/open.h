/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The open tracer's record. The tracer decodes it from the object's own BTF (field names and
 * offsets), so these names are the contract; the sizes below bound the variable part.
 */
#ifndef TRACER_OPEN_H
#define TRACER_OPEN_H

#define OPEN_PATH_MAX 4096  /* bytes of the path as passed kept (PATH_MAX) */
#define OPEN_FULL_MAX 4096  /* bytes of full-path components kept */
#define OPEN_NAME_MAX 256   /* one component (NAME_MAX + NUL) */
#define OPEN_FULL_STEPS 256 /* dentries and mount crossings walked at most */
#define OPEN_PREFIX_MAX 256 /* --path filtered in the kernel: prefixes up to 255 bytes */

/* open_event.flags */
#define OPEN_F_PATH_TRUNCATED 1 /* the path as passed is 4096 bytes or longer: cut at 4096 */
#define OPEN_F_PATH_FAULT 2     /* the path as passed could not be read */
#define OPEN_F_FULL 4           /* full[] holds components (-F) */
#define OPEN_F_FULL_DIR 8       /* ... of the directory the relative path is relative to */
#define OPEN_F_FULL_TRUNCATED 16 /* the walk stopped before the root (depth or bytes) */
#define OPEN_F_DELETED 32       /* the opened file has no name any more (O_TMPFILE, unlinked) */

/* open_event.syscall */
#define OPEN_SYS_OPEN 0
#define OPEN_SYS_OPENAT 1
#define OPEN_SYS_OPENAT2 2

/*
 * One open, stamped at the syscall's exit (CLOCK_BOOTTIME). data[] holds the path as passed
 * (path_len bytes, no NUL), then full_len bytes of full-path components with -F: each
 * NUL-terminated, from the file up towards the root (the reader reverses them). Only the used
 * part of data[] is sent.
 */
struct open_event {
	__u64 time_ns;
	__u64 cgroup_id;
	__u64 mntns_id;
	__u64 open_flags; /* O_* as passed (openat2: open_how.flags) */
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 ret;   /* the fd, or -errno */
	__s32 dirfd; /* AT_FDCWD (-100) for open() */
	__u32 mode;  /* as passed (openat2: open_how.mode) */
	__u32 path_len;
	__u32 full_len;
	__u32 flags; /* OPEN_F_* */
	__u32 syscall; /* OPEN_SYS_* */
	char comm[16];
	char data[OPEN_PATH_MAX + OPEN_FULL_MAX];
};

/* Indexes of the per-CPU `stats` array (__u64 counters). */
enum open_stat {
	OPEN_STAT_LOST = 0,           /* records dropped: ring or perf buffer full (STAT_LOST) */
	OPEN_STAT_PATH_TRUNCATED = 1, /* paths cut at 4096 bytes */
	OPEN_STAT_PATH_FAULT = 2,     /* paths that could not be read */
	OPEN_STAT_FULL_TRUNCATED = 3, /* full paths cut (depth or bytes) */
	OPEN_STAT_PENDING_DROPPED = 4, /* opens not remembered from entry to exit (map full) */
	STAT_TRACED_FULL = 5,         /* forks not followed: traced-tgid map full */
	OPEN_STAT_COUNT = 6,
};

#endif
