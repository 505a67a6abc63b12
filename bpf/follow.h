/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * "-- CMD" mode, shared by every tracer object: only the process follow_tgid (the tracer) and
 * its descendants are traced. Forks are followed in the kernel (sched_process_fork), so a
 * child's first event is never missed; exits remove the process. Programs in two forms:
 * tp_btf (handle_fork, handle_exit) and raw_tp (handle_fork_raw, handle_exit_raw, no kernel
 * BTF needed to attach). Include after common.h, with STAT_TRACED_FULL defined.
 */
#ifndef TRACER_FOLLOW_H
#define TRACER_FOLLOW_H

const volatile __u32 follow_tgid = 0; /* only descendants of this tgid; 0 = all */

/* Processes followed (follow_tgid != 0). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} traced SEC(".maps");

/* Whether process tgid is traced: always without follow_tgid. */
static __always_inline bool followed(__u32 tgid)
{
	return !follow_tgid || bpf_map_lookup_elem(&traced, &tgid);
}

/* A child of a followed process is followed. */
static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid, ctgid;
	__u8 one = 1;

	if (!follow_tgid)
		return 0;
	ptgid = BPF_CORE_READ(parent, tgid);
	ctgid = BPF_CORE_READ(child, tgid);
	if (ctgid == ptgid)
		return 0; /* a thread */
	if (ptgid != follow_tgid && !bpf_map_lookup_elem(&traced, &ptgid))
		return 0;
	if (bpf_map_update_elem(&traced, &ctgid, &one, BPF_ANY))
		count(STAT_TRACED_FULL);
	return 0;
}

static __always_inline int on_exit(struct task_struct *task)
{
	__u32 tgid;

	if (!follow_tgid)
		return 0;
	if (BPF_CORE_READ(task, pid) != (tgid = BPF_CORE_READ(task, tgid)))
		return 0; /* a thread, not the whole process */
	bpf_map_delete_elem(&traced, &tgid);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	return on_exit(task);
}

/* The same, as raw tracepoints: attached by name, no kernel BTF needed. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(handle_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(handle_exit_raw, struct task_struct *task)
{
	return on_exit(task);
}

#endif
