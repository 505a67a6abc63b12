/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The minimal kernel type header of tracer's BPF programs: hand-written, holding only the
 * types and fields the programs use. Kernel structs carry preserve_access_index, so every
 * field access becomes a CO-RE relocation that the tracer resolves against the running
 * kernel's BTF (field names must match the kernel's; order, offsets and sizes need not).
 * Not a generated vmlinux.h.
 */
#ifndef TRACER_VMLINUX_MIN_H
#define TRACER_VMLINUX_MIN_H

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef int pid_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

/* UAPI constants (include/uapi/linux/bpf.h): stable ABI, no relocation needed. */
enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};
enum { BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2 };
enum { BPF_RB_NO_WAKEUP = 1, BPF_RB_FORCE_WAKEUP = 2 };
enum { BPF_RB_AVAIL_DATA = 0 };
#define BPF_F_CURRENT_CPU 0xffffffffULL /* bpf_perf_event_output: this CPU's slot */

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct nsproxy {
	struct mnt_namespace *mnt_ns;
};

/* arg_start/arg_end sit in an anonymous struct in recent kernels: CO-RE finds them there. */
struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
};

/* Cgroups: a task's cgroup in one hierarchy is its css_set's subsys[i] (v1) or dfl_cgrp (v2). */
struct kernfs_node {
	__u64 id; /* the cgroup id: the cgroup directory's inode number (5.5+) */
};

struct cgroup {
	struct kernfs_node *kn;
};

struct cgroup_subsys_state {
	struct cgroup *cgroup;
};

struct css_set {
	struct cgroup_subsys_state *subsys[0]; /* CGROUP_SUBSYS_COUNT entries: kernel-dependent */
};

struct task_struct {
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct mm_struct *mm;
	struct nsproxy *nsproxy;
	struct files_struct *files;
	struct fs_struct *fs;
	struct css_set *cgroups;
	char comm[16];
};

struct linux_binprm {
	int argc;
	const char *filename;
};

/* The cgroup_mkdir tracepoint record (event class "cgroup"). */
struct trace_event_raw_cgroup {
	int root;                      /* the hierarchy's id: 0 for v2, /proc/cgroups' for v1 */
	int level;
	__u64 id;                      /* the new cgroup's id */
	unsigned int __data_loc_path;  /* offset (low 16 bits) and length of its path */
};

/* The sched_process_exec tracepoint record (no kernel BTF needed to attach it). */
struct trace_event_raw_sched_process_exec {
	unsigned int __data_loc_filename; /* offset (low 16 bits) and length of the name */
	pid_t pid;
	pid_t old_pid;
};

/* Files and paths: the open tracer's -F walks a struct path up to the root. */
struct qstr {
	const unsigned char *name;
};

struct hlist_bl_node {
	struct hlist_bl_node *next, **pprev;
};

struct dentry {
	struct hlist_bl_node d_hash; /* unhashed (pprev NULL): the name was removed */
	struct dentry *d_parent;
	struct qstr d_name;
};

struct vfsmount {
	struct dentry *mnt_root;
};

/* The mount a vfsmount is embedded in (fs/mount.h): container_of with a CO-RE offset. */
struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
	void *private_data; /* a socket's struct socket */
};

/* ---- tracer connect ---- */

/*
 * kprobe context: the kernel's struct pt_regs, laid out per CPU architecture. Two flavours
 * (CO-RE drops the ___suffix when matching kernel types), each of whose fields exists only on
 * its architecture: x86-64 names the argument registers (di, si; the return value in ax),
 * arm64 numbers them (regs[0], regs[1]; the return value in regs[0]). One object serves both:
 * the programs pick the flavour with bpf_core_field_exists at load time.
 */
struct pt_regs___x86 {
	unsigned long di;
	unsigned long si;
	unsigned long ax;
};

struct pt_regs___arm64 {
	unsigned long regs[31];
};

struct net {
	struct ns_common ns;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

/* skc_daddr .. skc_num sit in anonymous unions/structs: CO-RE finds them there. */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	int sk_err;
	__u16 sk_protocol;
	struct socket *sk_socket;
};

typedef enum {
	SS_FREE = 0,
	SS_UNCONNECTED = 1,
	SS_CONNECTING = 2,
	SS_CONNECTED = 3,
	SS_DISCONNECTING = 4,
} socket_state;

struct socket {
	socket_state state;
	short type;
	struct file *file;
	struct sock *sk;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct fs_struct {
	struct path pwd;
};

struct inet_sock {
	__be16 inet_sport;
};

struct sockaddr;

#pragma clang attribute pop

/* openat2()'s argument (include/uapi/linux/openat2.h): a stable ABI, no relocation needed. */
struct open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

/*
 * Syscall tracepoint records (tracefs events/syscalls/sys_enter_execve/format and friends): a fixed layout
 * (8 bytes of common fields, the syscall number, then 8-byte argument slots), not BTF types.
 */
struct syscall_enter_ctx {
	__u64 common;
	int nr;
	int pad;
	unsigned long args[6];
};

struct syscall_exit_ctx {
	__u64 common;
	int nr;
	int pad;
	long ret;
};

#endif
