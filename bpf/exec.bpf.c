// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tracer exec: every exec, successful (sched_process_exec, argv read from the new mm) and,
 * when asked, failed (sys_enter/sys_exit of execve and execveat: the user pointers are kept
 * at entry and read at exit, only when the call failed).
 *
 * Only tracepoints and tp_btf: no kprobe, no fentry. Configuration is .rodata, set by the
 * tracer before load. Nothing is dropped silently: see enum exec_stat.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- configuration (.rodata, written by the tracer before load) ---- */
const volatile __u32 target_uid = (__u32)-1; /* only this uid; -1 = any */
const volatile __u32 target_ppid = 0;        /* only children of this tgid; 0 = any */
const volatile bool emit_success = true;
const volatile bool emit_failed = false;
const volatile __u32 max_args = 64;          /* args read by the failed-exec path */
const volatile __u32 max_arg_bytes = EXEC_ARGS_MAX;

#define STAT_COUNT EXEC_STAT_COUNT
#include "common.h"
#include "follow.h"
#include "cgroup.h"

/* Keeps struct exec_event in the object's BTF for the tracer's decoder. */
struct exec_event *const unused_exec_event __attribute__((used)) = NULL;

/* The event under construction, with slack so bounded writes past data[] stay in the value. */
struct scratch {
	struct exec_event e;
	char slack[EXEC_ARGS_MAX];
	/*
	 * argv bytes a failed exec's walk stored so far. Kept here rather than on the stack: the
	 * verifier knows nothing of a map value's contents, so every step of a bounded loop
	 * starts from the same state and is pruned, instead of being followed once per count of
	 * bytes stored so far (E2BIG on kernels without bpf_loop).
	 */
	__u64 walk_off;
};

/*
 * One slot per kind of program, so a successful-exec event and a failed-exec event being
 * built on the same CPU (possible where BPF programs are preemptible, e.g. PREEMPT_RT) never
 * share a buffer.
 */
enum { SLOT_EXEC = 0, SLOT_FAILED = 1 };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct scratch);
} heap SEC(".maps");

/* A failed-exec candidate: the syscall's user pointers, kept from entry to exit. */
struct pending_exec {
	__u64 filename;
	__u64 argv;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32); /* tid */
	__type(value, struct pending_exec);
} pending SEC(".maps");

/* Filters that only need the current task. Returns true when the event is wanted. */
static __always_inline bool wanted(struct task_struct *task, __u32 tgid, __u32 uid)
{
	if (target_uid != (__u32)-1 && uid != target_uid)
		return false;
	if (target_ppid && BPF_CORE_READ(task, real_parent, tgid) != target_ppid)
		return false;
	if (!followed(tgid))
		return false;
	return cgroup_wanted();
}

/* The chain of processes from the parent up to init (pid 1), at most EXEC_ANCESTORS_MAX. */
static __always_inline void fill_ancestors(struct exec_event *e, struct task_struct *task)
{
	struct task_struct *t = BPF_CORE_READ(task, real_parent);
	__u32 n = 0;

	for (int i = 0; i < EXEC_ANCESTORS_MAX; i++) {
		__u32 pid;

		if (!t)
			break;
		pid = BPF_CORE_READ(t, tgid);
		if (!pid)
			break; /* the idle task: above init and the kernel threads */
		e->ancestors[i].pid = pid;
		/* real_parent is the thread that forked: the process's name is its leader's */
		BPF_CORE_READ_STR_INTO(&e->ancestors[i].comm, t, group_leader, comm);
		n = i + 1;
		if (pid == 1)
			break;
		t = BPF_CORE_READ(t, real_parent);
	}
	e->ancestors_len = n;
}

/* Fills the fixed fields of e from the current task. */
static __always_inline void fill_common(struct exec_event *e, struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	e->time_ns = now_ns();
	e->cgroup_id = current_cgroup_id();
	e->mntns_id = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_STR_INTO(&e->pcomm, task, real_parent, comm);
	fill_ancestors(e, task);
}

/* Sends the used part of the event, counting its truncations. */
static __always_inline void submit(void *ctx, struct exec_event *e, __u64 filename_len,
				   __u64 args_len)
{

	if (filename_len > EXEC_FILENAME_MAX)
		filename_len = EXEC_FILENAME_MAX;
	if (args_len > EXEC_ARGS_MAX)
		args_len = EXEC_ARGS_MAX;
	e->filename_len = filename_len;
	e->args_len = args_len;
	if (e->flags & EXEC_F_ARGS_TRUNCATED)
		count(STAT_ARGS_TRUNCATED);
	if (e->flags & EXEC_F_FILENAME_TRUNCATED)
		count(STAT_FILENAME_TRUNCATED);
	if (e->flags & EXEC_F_ARGS_FAULT)
		count(STAT_ARGS_FAULT);
	barrier_var(filename_len);
	barrier_var(args_len);
	send(ctx, e, __builtin_offsetof(struct exec_event, data) + filename_len + args_len);
}

/* Stores a file name (read_str result n, NUL included) and returns its length without NUL. */
static __always_inline __u64 name_len(struct exec_event *e, long n)
{
	if (n <= 0)
		return 0;
	if (n >= EXEC_FILENAME_MAX)
		e->flags |= EXEC_F_FILENAME_TRUNCATED;
	return n - 1;
}

/*
 * A successful exec, in the new program: the file name comes from the kernel (bprm->filename,
 * also the tracepoint's filename), the argv from the new mm (arg_start..arg_end), which the
 * kernel has just written, so it is the real argv and always mapped. argc: -1 when unknown.
 */
static __always_inline int on_exec(void *ctx, struct task_struct *task, const char *filename,
				   int argc)
{
	__u32 slot = SLOT_EXEC, tgid;
	__u64 start, end, fname_len, args_len, limit;
	struct scratch *s;
	struct exec_event *e;
	long n;

	if (!emit_success)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!wanted(task, tgid, (__u32)bpf_get_current_uid_gid()))
		return 0;
	s = bpf_map_lookup_elem(&heap, &slot);
	if (!s)
		return 0;
	e = &s->e;
	e->flags = 0;
	fill_common(e, task);
	e->ret = 0;
	e->argc = argc < 0 ? 0 : argc;

	n = bpf_probe_read_kernel_str(e->data, EXEC_FILENAME_MAX, filename);
	fname_len = name_len(e, n);
	if (fname_len > EXEC_FILENAME_MAX - 1)
		fname_len = EXEC_FILENAME_MAX - 1;

	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	args_len = end > start ? end - start : 0;
	limit = max_arg_bytes;
	if (limit > EXEC_ARGS_MAX)
		limit = EXEC_ARGS_MAX;
	if (args_len > limit) {
		args_len = limit;
		e->flags |= EXEC_F_ARGS_TRUNCATED;
	}
	if (args_len > EXEC_ARGS_MAX)
		args_len = EXEC_ARGS_MAX;
	barrier_var(args_len); /* keep the bounded copy for the verifier */
	barrier_var(fname_len);
	if (bpf_probe_read_user(&e->data[fname_len], args_len, (void *)start)) {
		e->flags |= EXEC_F_ARGS_FAULT;
		args_len = 0;
	}
	submit(ctx, e, fname_len, args_len);
	return 0;
}

/* With kernel BTF: the binprm gives the file name and argc directly. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(ctx, task, BPF_CORE_READ(bprm, filename), BPF_CORE_READ(bprm, argc));
}

/* Without kernel BTF at attach time (--btf): the classic tracepoint, same event. */
SEC("tracepoint/sched/sched_process_exec")
int handle_exec_tp(struct trace_event_raw_sched_process_exec *ctx)
{
	unsigned int loc = BPF_CORE_READ(ctx, __data_loc_filename);

	return on_exec(ctx, (struct task_struct *)bpf_get_current_task(),
		       (void *)ctx + (loc & 0xffff), -1);
}

static __always_inline int enter_exec(__u64 filename, __u64 argv, __u32 flags)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_exec p = { .filename = filename, .argv = argv, .flags = flags };

	if (!emit_failed)
		return 0;
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY))
		count(STAT_PENDING_DROPPED);
	return 0;
}

/* State of the argv walk of a failed exec (bpf_loop callback context). */
struct argv_walk {
	__u64 argv;      /* user address of the pointer array */
	__u64 fname_len; /* args start at data[fname_len]; the bytes stored so far: walk_off */
	__u64 limit;     /* max_arg_bytes */
	__u32 nmax;      /* max_args */
	__u32 argc;      /* arguments stored */
	__u32 flags;     /* EXEC_F_* found on the way */
};

/* One argument: argv[i] copied after the previous ones. Returns 1 to stop the walk. */
static __always_inline long read_one_arg(__u64 i, struct argv_walk *w)
{
	__u32 slot = SLOT_FAILED;
	__u64 off, fname_len;
	struct scratch *s;
	const char *arg;
	long n;

	s = bpf_map_lookup_elem(&heap, &slot);
	if (!s)
		return 1;
	if (bpf_probe_read_user(&arg, sizeof(arg), (void *)(w->argv + i * sizeof(arg)))) {
		w->flags |= EXEC_F_ARGS_FAULT;
		return 1;
	}
	if (!arg)
		return 1;
	off = s->walk_off;
	if (i >= w->nmax || off >= w->limit) {
		w->flags |= EXEC_F_ARGS_TRUNCATED;
		return 1;
	}
	fname_len = w->fname_len;
	if (off > EXEC_ARGS_MAX - 1 || fname_len > EXEC_FILENAME_MAX - 1)
		return 1;
	barrier_var(off);
	barrier_var(fname_len);
	n = bpf_probe_read_user_str(&s->e.data[fname_len + off], EXEC_ARGS_MAX, arg);
	if (n <= 0) {
		w->flags |= EXEC_F_ARGS_FAULT;
		return 1;
	}
	s->walk_off = off + n;
	w->argc = i + 1;
	return 0;
}

/* read_one_arg as a bpf_loop callback: the verifier checks its body once, not once per arg. */
static long read_arg(__u64 i, void *ctx)
{
	return read_one_arg(i, ctx);
}

/* Reads argv (a user array of string pointers) into e->data after the file name. */
static __always_inline __u64 read_argv(struct exec_event *e, __u64 fname_len, __u64 argv,
				       bool bounded)
{
	struct argv_walk w = {
		.argv = argv,
		.fname_len = fname_len,
		.limit = max_arg_bytes,
		.nmax = max_args,
	};
	struct scratch *s = (struct scratch *)e; /* e is the heap's record under construction */
	__u64 off;

	if (w.limit > EXEC_ARGS_MAX)
		w.limit = EXEC_ARGS_MAX;
	if (w.nmax > EXEC_ARGS_LIMIT)
		w.nmax = EXEC_ARGS_LIMIT;
	e->argc = 0;
	if (!argv)
		return 0; /* execve(path, NULL, ...) is allowed: no arguments */
	s->walk_off = 0;
	if (bounded) {
		/* Kernels without bpf_loop (before 5.17): a bounded loop, verified step by step. */
#pragma clang loop unroll(disable)
		for (__u32 i = 0; i < EXEC_ARGS_LIMIT + 1; i++)
			if (read_one_arg(i, &w))
				break;
	} else {
		bpf_loop(EXEC_ARGS_LIMIT + 1, read_arg, &w, 0);
	}
	e->argc = w.argc;
	e->flags |= w.flags;
	off = s->walk_off;
	if (off > w.limit) {
		off = w.limit;
		e->flags |= EXEC_F_ARGS_TRUNCATED;
	}
	return off;
}

static __always_inline int exit_exec(void *ctx, long ret, bool bounded)
{
	__u32 slot = SLOT_FAILED, tid, tgid, uid;
	__u64 fname_len, args_len;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct pending_exec *p;
	struct scratch *s;
	struct exec_event *e;
	long n;

	tid = (__u32)pid_tgid;
	tgid = pid_tgid >> 32;
	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	if (ret >= 0)
		goto done;
	task = (struct task_struct *)bpf_get_current_task();
	uid = (__u32)bpf_get_current_uid_gid();
	if (!wanted(task, tgid, uid))
		goto done;
	s = bpf_map_lookup_elem(&heap, &slot);
	if (!s)
		goto done;
	e = &s->e;
	e->flags = p->flags;
	fill_common(e, task);
	e->ret = ret;
	n = bpf_probe_read_user_str(e->data, EXEC_FILENAME_MAX, (void *)p->filename);
	fname_len = name_len(e, n);
	args_len = read_argv(e, fname_len, p->argv, bounded);
	submit(ctx, e, fname_len, args_len);
done:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int enter_execve(struct syscall_enter_ctx *ctx)
{
	return enter_exec(ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int enter_execveat(struct syscall_enter_ctx *ctx)
{
	return enter_exec(ctx->args[1], ctx->args[2], EXEC_F_EXECVEAT);
}

/* Also attached to syscalls/sys_exit_execveat (same record layout): verified once. */
SEC("tracepoint/syscalls/sys_exit_execve")
int exit_execve(struct syscall_exit_ctx *ctx)
{
	return exit_exec(ctx, ctx->ret, false);
}

/* The same where bpf_loop is missing (before 5.17): argv read in a bounded loop. */
SEC("tracepoint/syscalls/sys_exit_execve")
int exit_execve_bounded(struct syscall_exit_ctx *ctx)
{
	return exit_exec(ctx, ctx->ret, true);
}
