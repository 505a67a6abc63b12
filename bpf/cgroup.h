/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Container context, shared by every tracer object: the id of the task's cgroup in the
 * hierarchy that names containers on this host, and the --cgroup/--container filter.
 *
 * On a pure cgroup v2 host that is the v2 cgroup (bpf_get_current_cgroup_id). On hybrid and v1
 * hosts, where container runtimes create their cgroups in the v1 controllers' hierarchies, it
 * is the task's cgroup in one v1 hierarchy: cgroup_v1_subsys is that controller's index in the
 * kernel's enum cgroup_subsys_id (set by the tracer from /proc/cgroups' order). Either way the id
 * is the cgroup directory's inode number, which the tracer maps to a path in user space.
 *
 * The filter is a verdict per cgroup id, decided by the tracer from the cgroup's path and
 * written to cgroup_verdicts: 1 keep, 0 drop. A cgroup the tracer has not seen yet (created
 * after the start) has no verdict: its records are sent, the tracer decides from its path and
 * stores the verdict, so the kernel drops the next ones itself. Include after common.h.
 */
#ifndef TRACER_CGROUP_H
#define TRACER_CGROUP_H

const volatile __s32 cgroup_v1_subsys = -1; /* -1: the v2 hierarchy */
const volatile __s32 cgroup_hierarchy_id = 0; /* its id in the cgroup_mkdir tracepoint */
const volatile bool filter_cgroups = false;

/*
 * Cgroups created while tracing, sent as they are made (before any task can run in them): the
 * tracer names a new cgroup from here even when it is removed before the tracer reads a
 * record of it (a short-lived container). Losing one costs nothing but a walk of the
 * hierarchy, so a full ring is not counted.
 */
#define CGROUP_PATH_MAX 1024 /* the kernel's own bound on the tracepoint's path */

struct cgroup_event {
	__u64 id;
	__u32 path_len;
	char path[CGROUP_PATH_MAX];
};

struct cgroup_event *const unused_cgroup_event __attribute__((used)) = NULL;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 10);
} cgroup_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);  /* cgroup id */
	__type(value, __u8); /* 1: keep, 0: drop */
} cgroup_verdicts SEC(".maps");

/* The current task's cgroup id in the hierarchy chosen (see above); 0 if unreadable. */
static __always_inline __u64 current_cgroup_id(void)
{
	struct task_struct *task;
	struct cgroup_subsys_state *css = NULL;
	struct css_set *cset;
	__u32 i;

	if (cgroup_v1_subsys < 0)
		return bpf_get_current_cgroup_id();
	task = (struct task_struct *)bpf_get_current_task();
	cset = BPF_CORE_READ(task, cgroups);
	i = cgroup_v1_subsys & 63;
	bpf_probe_read_kernel(&css, sizeof(css), (void *)cset +
			      bpf_core_field_offset(struct css_set, subsys) + i * sizeof(css));
	return BPF_CORE_READ(css, cgroup, kn, id);
}

/* The --cgroup/--container filter: false when the tracer decided this cgroup is not wanted. */
static __always_inline bool cgroup_wanted(void)
{
	__u64 id;
	__u8 *v;

	if (!filter_cgroups)
		return true;
	id = current_cgroup_id();
	v = bpf_map_lookup_elem(&cgroup_verdicts, &id);
	return !v || *v;
}

SEC("tracepoint/cgroup/cgroup_mkdir")
int on_cgroup_mkdir(struct trace_event_raw_cgroup *ctx)
{
	struct cgroup_event *e;
	unsigned int loc;
	long n;

	if (BPF_CORE_READ(ctx, root) != cgroup_hierarchy_id)
		return 0;
	e = bpf_ringbuf_reserve(&cgroup_events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->id = BPF_CORE_READ(ctx, id);
	loc = BPF_CORE_READ(ctx, __data_loc_path);
	n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), (void *)ctx + (loc & 0xffff));
	e->path_len = n > 0 ? n - 1 : 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

#endif
