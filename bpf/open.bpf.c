// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tracer open: every open(), openat() and openat2(). The entry tracepoints remember the
 * syscall's arguments (user pointers, dirfd, flags, mode) per thread; the exit tracepoint
 * reads the path (the kernel has faulted its pages in by then), and with -F walks the opened
 * file's struct path (or, for a failed relative open, the dirfd's or the cwd's) up to the
 * root, then sends a record sized to its content.
 *
 * Only tracepoints (and tp_btf/raw_tp to follow "-- CMD"): no kprobe, no fentry.
 * Configuration is .rodata, set by the tracer before load. Nothing is dropped silently: see
 * enum open_stat.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "open.h"
#include "files.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_FDCWD -100
#define O_CREAT 0100
#define O_TMPFILE 020200000

/* ---- configuration (.rodata, written by the tracer before load) ---- */
const volatile __u32 target_tgid = 0;       /* only this process; 0 = any */
const volatile __u32 target_tid = 0;        /* only this thread; 0 = any */
const volatile __u32 target_uid = (__u32)-1; /* only this uid; -1 = any */
const volatile bool failed_only = false;    /* only opens that failed */
/* -f: an open matches if it has any of these flag bits, or an access mode in accmodes. */
const volatile __u64 flag_bits = 0;
const volatile __u32 accmodes = 0;          /* bit n: O_ACCMODE == n; with flag_bits 0 and this 0: all */
/* --path without -F: the path as passed must be path_prefix or below it; length 0 = off. */
const volatile char path_prefix[OPEN_PREFIX_MAX] = {};
const volatile __u32 path_prefix_len = 0;

#define STAT_COUNT OPEN_STAT_COUNT
#include "common.h"
#include "follow.h"
#include "cgroup.h"

/* Keeps struct open_event in the object's BTF for the tracer's decoder. */
struct open_event *const unused_open_event __attribute__((used)) = NULL;

/* An open in progress: the syscall's arguments, kept from entry to exit. */
struct pending_open {
	__u64 path;  /* user pointer */
	__u64 how;   /* openat2: user pointer to struct open_how */
	__u64 flags;
	__s32 dirfd;
	__u32 mode;
	__u32 syscall;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct pending_open);
} pending SEC(".maps");

/* The record under construction, with slack so bounded writes past data[] stay in the value. */
struct scratch {
	struct open_event e;
	char slack[OPEN_NAME_MAX + 8];
	/*
	 * Bytes the -F walk stored so far. Kept here rather than on the stack: the verifier
	 * knows nothing of a map value's contents, so every step of a bounded loop starts from
	 * the same state and is pruned, instead of being followed once per count of components
	 * stored so far (E2BIG on kernels without bpf_loop).
	 */
	__u64 walk_off;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} heap SEC(".maps");

static __always_inline int enter_open(__u32 syscall, __s32 dirfd, __u64 path, __u64 flags,
				      __u32 mode, __u64 how)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
	struct pending_open p = {
		.path = path, .how = how, .flags = flags, .dirfd = dirfd, .mode = mode,
		.syscall = syscall,
	};

	if (target_tgid && tgid != target_tgid)
		return 0;
	if (target_tid && tid != target_tid)
		return 0;
	if (target_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != target_uid)
		return 0;
	if (!followed(tgid) || !cgroup_wanted())
		return 0;
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY))
		count(OPEN_STAT_PENDING_DROPPED);
	return 0;
}

/* arm64 and other new architectures have no open(): this one is attached where it exists. */
SEC("tracepoint/syscalls/sys_enter_open")
int enter_open_tp(struct syscall_enter_ctx *ctx)
{
	return enter_open(OPEN_SYS_OPEN, AT_FDCWD, ctx->args[0], (__u32)ctx->args[1],
			  ctx->args[2], 0);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct syscall_enter_ctx *ctx)
{
	return enter_open(OPEN_SYS_OPENAT, ctx->args[0], ctx->args[1], (__u32)ctx->args[2],
			  ctx->args[3], 0);
}

/* flags and mode come from struct open_how, read at exit. openat2 is 5.6+. */
SEC("tracepoint/syscalls/sys_enter_openat2")
int enter_openat2(struct syscall_enter_ctx *ctx)
{
	return enter_open(OPEN_SYS_OPENAT2, ctx->args[0], ctx->args[1], 0, 0, ctx->args[2]);
}

/* Whether the -f filter keeps an open with these flags. */
static __always_inline bool flags_wanted(__u64 flags)
{
	if (!flag_bits && !accmodes)
		return true;
	if (flags & flag_bits)
		return true;
	return (accmodes >> (flags & 3)) & 1;
}

/* Whether the path as passed (data[0..len)) is path_prefix or below it. */
static __always_inline bool path_wanted(struct open_event *e, __u64 len)
{
	__u32 n = path_prefix_len;

	if (!n)
		return true;
	if (len < n || n > OPEN_PREFIX_MAX - 1)
		return false;
	for (__u32 i = 0; i < OPEN_PREFIX_MAX - 1 && i < n; i++)
		if (e->data[i] != path_prefix[i])
			return false;
	return len == n || path_prefix[n - 1] == '/' || e->data[n] == '/';
}

/* State of the -F walk (bpf_loop callback context). */
struct path_walk {
	struct dentry *dentry;
	struct mount *mnt;
	struct dentry *mnt_root;
	__u64 base; /* components start at data[base]; the bytes stored so far: walk_off */
	bool done;  /* reached the root */
};

/* One step up from w->dentry: its name stored, or a mount crossed. Returns 1 to stop. */
static __always_inline long walk_one(struct path_walk *w)
{
	struct dentry *d = w->dentry, *parent;
	struct mount *mnt = w->mnt, *mparent;
	__u32 slot = 0;
	struct scratch *s;
	__u64 base, off;
	long n;

	if (d == w->mnt_root) {
		/* The root of this mount: go on from where it is mounted, or stop at the top. */
		mparent = BPF_CORE_READ(mnt, mnt_parent);
		if (mparent == mnt || !mparent) {
			w->done = true;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mparent;
		w->mnt_root = BPF_CORE_READ(mparent, mnt.mnt_root);
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (parent == d || !parent) {
		w->done = true; /* the root of a file system not mounted here */
		return 1;
	}
	s = bpf_map_lookup_elem(&heap, &slot);
	if (!s)
		return 1;
	base = w->base;
	off = s->walk_off;
	if (base > OPEN_PATH_MAX || off > OPEN_FULL_MAX - OPEN_NAME_MAX)
		return 1; /* out of room: truncated */
	barrier_var(base);
	barrier_var(off);
	n = bpf_probe_read_kernel_str(&s->e.data[base + off], OPEN_NAME_MAX,
				      BPF_CORE_READ(d, d_name.name));
	if (n <= 0)
		return 1;
	s->walk_off = off + n;
	w->dentry = parent;
	return 0;
}

/* walk_one as a bpf_loop callback: the verifier checks its body once, not once per step. */
static long walk_step(__u64 i, void *ctx)
{
	return walk_one(ctx);
}

/* Stores the components of path p (a kernel struct path) at data[base]; returns their bytes. */
static __always_inline __u64 walk_path(struct open_event *e, __u64 base, struct path *p,
					bool bounded)
{
	struct vfsmount *vfs = BPF_CORE_READ(p, mnt);
	struct path_walk w = {
		.dentry = BPF_CORE_READ(p, dentry),
		.mnt = (void *)vfs - bpf_core_field_offset(struct mount, mnt),
		.mnt_root = BPF_CORE_READ(vfs, mnt_root),
		.base = base,
	};

	struct scratch *s = (struct scratch *)e; /* e is the heap's record under construction */

	if (!vfs || !w.dentry)
		return 0;
	e->flags |= OPEN_F_FULL;
	s->walk_off = 0;
	if (bounded) {
		/* Kernels without bpf_loop (before 5.17): a bounded loop, verified step by step. */
#pragma clang loop unroll(disable)
		for (__u32 i = 0; i < OPEN_FULL_STEPS; i++)
			if (walk_one(&w))
				break;
	} else {
		bpf_loop(OPEN_FULL_STEPS, walk_step, &w, 0);
	}
	if (!w.done) {
		e->flags |= OPEN_F_FULL_TRUNCATED;
		count(OPEN_STAT_FULL_TRUNCATED);
	}
	return s->walk_off;
}

/*
 * -F: the opened file's path (success), or the directory a failed relative path was relative
 * to (the dirfd's, or the cwd's for AT_FDCWD). Stored after the path; returns its bytes.
 */
static __always_inline __u64 full_path(struct open_event *e, __u64 base, bool bounded)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct path *p;
	struct file *f;
	struct dentry *d;

	/* One walk for the three cases: a bounded loop is verified once, not three times. */
	if (e->ret >= 0) {
		f = fd_file(task, e->ret);
		if (!f)
			return 0;
		/* O_TMPFILE or unlinked already: readlink adds " (deleted)". */
		d = BPF_CORE_READ(f, f_path.dentry);
		if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
			e->flags |= OPEN_F_DELETED;
		p = &f->f_path;
	} else if (e->path_len > 0 && e->data[0] == '/') {
		return 0; /* absolute: the path as passed is the full path */
	} else if (e->dirfd == AT_FDCWD) {
		e->flags |= OPEN_F_FULL_DIR;
		p = &BPF_CORE_READ(task, fs)->pwd;
	} else {
		f = fd_file(task, e->dirfd);
		if (!f)
			return 0;
		e->flags |= OPEN_F_FULL_DIR;
		p = &f->f_path;
	}
	return walk_path(e, base, p, bounded);
}

static __always_inline int exit_open(void *ctx, long ret, bool full, bool bounded)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, slot = 0;
	struct task_struct *task;
	struct pending_open *p;
	struct open_how how;
	struct scratch *s;
	struct open_event *e;
	__u64 path_len = 0, full_len = 0;
	long n;

	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	if (failed_only && ret >= 0)
		goto done;
	s = bpf_map_lookup_elem(&heap, &slot);
	if (!s)
		goto done;
	e = &s->e;
	e->flags = 0;
	e->open_flags = p->flags;
	e->mode = p->mode;
	if (p->syscall == OPEN_SYS_OPENAT2) {
		if (bpf_probe_read_user(&how, sizeof(how), (void *)p->how) == 0) {
			e->open_flags = how.flags;
			e->mode = how.mode;
		}
	}
	if (!flags_wanted(e->open_flags))
		goto done;
	task = (struct task_struct *)bpf_get_current_task();
	e->time_ns = now_ns();
	e->cgroup_id = current_cgroup_id();
	e->mntns_id = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	e->pid = pid_tgid >> 32;
	e->tid = tid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = ret;
	e->dirfd = p->dirfd;
	e->syscall = p->syscall;
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	/* One byte more than kept: a 4096-byte read that found no NUL means a longer path. */
	n = bpf_probe_read_user_str(e->data, OPEN_PATH_MAX + 1, (void *)p->path);
	if (n <= 0) {
		e->flags |= OPEN_F_PATH_FAULT;
		count(OPEN_STAT_PATH_FAULT);
	} else if (n > OPEN_PATH_MAX) {
		path_len = OPEN_PATH_MAX;
		e->flags |= OPEN_F_PATH_TRUNCATED;
		count(OPEN_STAT_PATH_TRUNCATED);
	} else {
		path_len = n - 1;
	}
	e->path_len = path_len;
	if (!path_wanted(e, path_len))
		goto done;
	if (full)
		full_len = full_path(e, path_len, bounded);
	if (path_len > OPEN_PATH_MAX)
		path_len = OPEN_PATH_MAX;
	if (full_len > OPEN_FULL_MAX)
		full_len = OPEN_FULL_MAX;
	e->full_len = full_len;
	barrier_var(path_len);
	barrier_var(full_len);
	send(ctx, e, __builtin_offsetof(struct open_event, data) + path_len + full_len);
done:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

/*
 * Also attached to sys_exit_open and sys_exit_openat2 where the kernel has them (same record
 * layout): verified once.
 */
SEC("tracepoint/syscalls/sys_exit_openat")
int exit_open_tp(struct syscall_exit_ctx *ctx)
{
	return exit_open(ctx, ctx->ret, false, false);
}

/* The same with -F, walking the path with bpf_loop (5.17+). */
SEC("tracepoint/syscalls/sys_exit_openat")
int exit_open_full(struct syscall_exit_ctx *ctx)
{
	return exit_open(ctx, ctx->ret, true, false);
}

/* The same with -F where bpf_loop is missing: the walk as a bounded loop. */
SEC("tracepoint/syscalls/sys_exit_openat")
int exit_open_full_bounded(struct syscall_exit_ctx *ctx)
{
	return exit_open(ctx, ctx->ret, true, true);
}
