// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tracer connect: one record per active TCP connect (IPv4, IPv6, v4-mapped IPv6), sent when
 * its outcome is known: established, or the error (the socket's sk_err when it closes, or
 * connect()'s return value when it failed inside the call).
 *
 * A connect is followed by its socket (`struct sock *`, the key of `conns`) from the connect
 * call, in the connecting task's context (pid, tid, uid, comm, cgroup, mount namespace taken
 * there), to its outcome, which may arrive in softirq context. Where the call is seen depends
 * on the strategy the tracer chose:
 *   fentry      fentry/fexit on tcp_v4_connect / tcp_v6_connect
 *   kprobe      kprobe/kretprobe on the same functions
 *   tracepoint  the CLOSE -> SYN_SENT transition of sock:inet_sock_set_state, which runs
 *               inside tcp_v4_connect in the connecting task (start_on_tp set)
 * Every strategy takes the outcome from sock:inet_sock_set_state (SYN_SENT -> ESTABLISHED or
 * CLOSE; as tp_btf with fentry, else as a raw tracepoint) and synchronous failures from the connect syscall's enter/exit tracepoints (errors
 * returned before any SYN: no route, a policy, no local port ...). Configuration is .rodata.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "connect.h"
#include "files.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define ECONNABORTED 103
#define EINPROGRESS 115

/* ---- configuration (.rodata, written by the tracer before load) ---- */
const volatile __u32 target_pid = 0;         /* only this process (tgid); 0 = any */
const volatile __u32 target_uid = (__u32)-1; /* only this uid; -1 = any */
const volatile __u16 target_family = 0;      /* only AF_INET or AF_INET6 records; 0 = both */
const volatile bool failed_only = false;
const volatile __u64 min_latency_ns = 0;
const volatile bool start_on_tp = false; /* tracepoint strategy: the call is CLOSE -> SYN_SENT */
/* Destination and local port filters: up to 8 ports each, 4 per __u64 (16 bits each). */
const volatile __u32 n_dports = 0;
const volatile __u64 dports_a = 0;
const volatile __u64 dports_b = 0;
const volatile __u32 n_lports = 0;
const volatile __u64 lports_a = 0;
const volatile __u64 lports_b = 0;

#define STAT_COUNT CONNECT_STAT_COUNT
#include "common.h"
#include "follow.h"
#include "cgroup.h"

/* Keeps struct connect_event in the object's BTF for the tracer's decoder. */
struct connect_event *const unused_connect_event __attribute__((used)) = NULL;

/* A connect in flight: its record so far, and where its call is. */
struct conn {
	struct connect_event e;
	__u8 in_call; /* the connecting task is still inside connect() */
	__u8 closed;  /* closed without a socket error inside the call: connect()'s return says why */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct sock * */
	__type(value, struct conn);
} conns SEC(".maps");

/* A connect() syscall in progress on an unconnected TCP socket. */
struct call {
	__u64 uaddr;    /* user sockaddr */
	__u64 sk;       /* the socket's struct sock * */
	__u64 start_ns;
	__u8 seen;      /* the TCP connect path took it (a start was seen for this socket) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct call);
} calls SEC(".maps");

/* kprobe strategy: tcp_v*_connect's arguments, from entry to return. */
struct kargs {
	__u64 sk;
	__u64 uaddr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct kargs);
} kcalls SEC(".maps");

/* The first bytes of a sockaddr_in / sockaddr_in6 (user or kernel copy). */
struct sa_in {
	__u16 family;
	__be16 port;
	__u8 addr[4];
};

struct sa_in6 {
	__u16 family;
	__be16 port;
	__u32 flowinfo;
	__u8 addr[16];
};

static __always_inline bool task_filtered(__u32 tgid, __u32 uid)
{
	if (target_pid && tgid != target_pid)
		return true;
	if (target_uid != (__u32)-1 && uid != target_uid)
		return true;
	return !followed(tgid) || !cgroup_wanted();
}

static __always_inline bool port_in(__u64 a, __u64 b, __u32 n, __u16 port)
{
	for (int i = 0; i < 8; i++) {
		__u64 w = i < 4 ? a : b;

		if (i >= n)
			return false;
		if (((w >> ((i & 3) * 16)) & 0xffff) == port)
			return true;
	}
	return false;
}

/* The record filters that need the outcome (ports, family, result, latency). */
static __always_inline bool wanted(struct connect_event *e)
{
	if (failed_only && !e->err)
		return false;
	if (min_latency_ns && e->time_ns - e->start_ns < min_latency_ns)
		return false;
	if (target_family && e->family != target_family)
		return false;
	if (n_dports && !port_in(dports_a, dports_b, n_dports, e->dport))
		return false;
	if (n_lports && !port_in(lports_a, lports_b, n_lports, e->sport))
		return false;
	return true;
}

static __always_inline void emit(void *ctx, struct connect_event *e)
{
	if (wanted(e))
		send(ctx, e, sizeof(*e));
}

/* The connecting task's side of the record: who, where, when the call started. */
static __always_inline void fill_task(struct connect_event *e, __u64 start_ns)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	e->start_ns = start_ns;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->cgroup_id = current_cgroup_id();
	e->mntns_id = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

static __always_inline bool is_v4_mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff);
}

/* The socket's side: family, network namespace, addresses and ports as they are now. */
static __always_inline void fill_sk(struct connect_event *e, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u32 *s = (__u32 *)e->saddr, *d = (__u32 *)e->daddr;

	e->family = family;
	e->netns_id = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr);
		/* v4-mapped: the IPv6 source is written after tcp_v4_connect returns. */
		if (is_v4_mapped(e->daddr) && !s[0] && !s[1] && !s[2] && !s[3]) {
			s[2] = bpf_htonl(0xffff);
			s[3] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		}
	} else {
		s[0] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		d[0] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	}
}

/*
 * The destination the caller asked for, from its sockaddr (user memory at the syscall, the
 * kernel's copy in tcp_v*_connect). An AF_INET address on an AF_INET6 socket is shown mapped.
 */
static __always_inline void fill_dest(struct connect_event *e, __u64 uaddr, bool user)
{
	struct sa_in6 sa = {};
	__u32 *d = (__u32 *)e->daddr;
	long err;

	err = user ? bpf_probe_read_user(&sa, sizeof(struct sa_in), (void *)uaddr)
		   : bpf_probe_read_kernel(&sa, sizeof(struct sa_in), (void *)uaddr);
	if (err)
		return;
	if (sa.family == AF_INET) {
		struct sa_in *v4 = (struct sa_in *)&sa;

		e->dport = bpf_ntohs(v4->port);
		__builtin_memset(e->daddr, 0, sizeof(e->daddr));
		if (e->family == AF_INET6) {
			d[2] = bpf_htonl(0xffff);
			__builtin_memcpy(&d[3], v4->addr, 4);
		} else {
			__builtin_memcpy(&d[0], v4->addr, 4);
		}
	} else if (sa.family == AF_INET6 && e->family == AF_INET6) {
		err = user ? bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr)
			   : bpf_probe_read_kernel(&sa, sizeof(sa), (void *)uaddr);
		if (err)
			return;
		e->dport = bpf_ntohs(sa.port);
		__builtin_memcpy(e->daddr, sa.addr, 16);
	}
}

/*
 * A connect starts on socket sk, in the connecting task. `in_call`: the task is inside
 * connect() for it (its return is seen: fexit, kretprobe, or the syscall's exit).
 */
static __always_inline void on_start(struct sock *sk, bool in_call)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	__u64 key = (__u64)sk;
	struct call *call;
	struct conn c = {};

	call = bpf_map_lookup_elem(&calls, &tid);
	if (call && call->sk == key)
		call->seen = 1;
	if (task_filtered(pid_tgid >> 32, (__u32)bpf_get_current_uid_gid()))
		return;
	fill_task(&c.e, now_ns());
	fill_sk(&c.e, sk);
	c.in_call = in_call;
	if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY))
		count(STAT_INFLIGHT_FULL);
}

/*
 * tcp_v*_connect returned (fentry and kprobe strategies): a failure inside it is the record
 * (the error is its return value); else the connect is in flight, its addresses now complete.
 */
static __always_inline void on_return(void *ctx, struct sock *sk, __u64 uaddr, long ret)
{
	__u64 key = (__u64)sk;
	struct connect_event e;
	struct conn *c;

	c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return;
	if (ret >= 0) {
		c->in_call = 0;
		fill_sk(&c->e, sk);
		return;
	}
	e = c->e;
	bpf_map_delete_elem(&conns, &key);
	e.time_ns = now_ns();
	e.err = -ret;
	e.flags = CONNECT_F_SYNC;
	fill_sk(&e, sk);
	fill_dest(&e, uaddr, false);
	emit(ctx, &e);
}

/* ---- the outcome, every strategy: sock:inet_sock_set_state ---- */

/*
 * One state change of a TCP socket. Attached as a raw tracepoint (tp_btf, or raw_tp without
 * kernel BTF), not a perf-event tracepoint: the kernel skips a perf-event tracepoint or kprobe
 * program that fires while any other such program runs on that CPU (an outcome in softirq
 * interrupting some tracer's syscall program would be lost, silently), while a raw tracepoint
 * program is skipped only when it interrupts itself.
 */
static __always_inline int on_state(void *ctx, struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk;
	struct connect_event e;
	struct conn *c;
	__u16 sport;
	int err = 0;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) {
		if (start_on_tp) {
			__u32 tid = (__u32)bpf_get_current_pid_tgid();
			struct call *call = bpf_map_lookup_elem(&calls, &tid);

			on_start(sk, call && call->sk == key);
		}
		return 0;
	}
	if (oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV)
		return 0;
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return 0;
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return 0;
	/* Closing releases the local port (inet_num) before this tracepoint; inet_sport stays. */
	sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	if (newstate == TCP_CLOSE) {
		err = BPF_CORE_READ(sk, sk_err);
		if (!err) {
			if (c->in_call) {
				/* A failure inside connect() after SYN_SENT (e.g. no free local
				 * port): its return value is the error, seen at its exit. */
				c->closed = 1;
				fill_sk(&c->e, sk);
				if (sport)
					c->e.sport = sport;
				return 0;
			}
			err = ECONNABORTED; /* closed by its owner before any outcome */
		}
	}
	e = c->e;
	bpf_map_delete_elem(&conns, &key);
	e.time_ns = now_ns();
	e.err = err;
	fill_sk(&e, sk);
	if (sport)
		e.sport = sport;
	emit(ctx, &e);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, struct sock *sk, int oldstate, int newstate)
{
	return on_state(ctx, sk, oldstate, newstate);
}

/* The same as a raw tracepoint: attached by name, no kernel BTF needed. */
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(handle_set_state_raw, struct sock *sk, int oldstate, int newstate)
{
	return on_state(ctx, sk, oldstate, newstate);
}

/* ---- connect(2): synchronous failures, every strategy ---- */

/* The struct sock of an unconnected TCP socket at fd of the current task, or 0. */
static __always_inline __u64 tcp_sock_of_fd(long fd)
{
	struct file *f = fd_file((struct task_struct *)bpf_get_current_task(), fd);
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!f)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	/* A socket's file and socket point at each other; any other file's data does not. */
	if (!sock || BPF_CORE_READ(sock, file) != f)
		return 0;
	if (BPF_CORE_READ(sock, type) != SOCK_STREAM || BPF_CORE_READ(sock, state) != SS_UNCONNECTED)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return (__u64)sk;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct syscall_enter_ctx *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct call call = {};

	if (task_filtered(pid_tgid >> 32, (__u32)bpf_get_current_uid_gid()))
		return 0;
	call.sk = tcp_sock_of_fd((long)(int)ctx->args[0]);
	if (!call.sk)
		return 0;
	call.uaddr = ctx->args[1];
	call.start_ns = now_ns();
	if (bpf_map_update_elem(&calls, &tid, &call, BPF_ANY))
		count(STAT_CALLS_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct syscall_exit_ctx *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	long ret = ctx->ret;
	struct connect_event e = {};
	struct call *p, call;
	struct conn *c;

	p = bpf_map_lookup_elem(&calls, &tid);
	if (!p)
		return 0;
	call = *p;
	bpf_map_delete_elem(&calls, &tid);
	if (call.seen) {
		c = bpf_map_lookup_elem(&conns, &call.sk);
		if (!c)
			return 0; /* its outcome is already out */
		if (c->closed && ret < 0) {
			e = c->e;
			bpf_map_delete_elem(&conns, &call.sk);
			e.time_ns = now_ns();
			e.err = -ret;
			e.flags = CONNECT_F_SYNC;
			emit(ctx, &e);
			return 0;
		}
		/* In flight (EINPROGRESS, EINTR): the addresses are complete now. */
		c->in_call = 0;
		fill_sk(&c->e, (struct sock *)call.sk);
		return 0;
	}
	if (ret >= 0 || ret == -EINPROGRESS)
		return 0;
	/* Failed before any SYN: the destination from the caller's sockaddr. */
	fill_task(&e, call.start_ns);
	fill_sk(&e, (struct sock *)call.sk);
	fill_dest(&e, call.uaddr, true);
	e.time_ns = now_ns();
	e.err = -ret;
	e.flags = CONNECT_F_SYNC;
	emit(ctx, &e);
	return 0;
}

/* ---- fentry strategy ---- */

/* tcp_v6_connect calls tcp_v4_connect for a v4-mapped address: the v6 programs handle it. */
static __always_inline bool v6_socket(struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET6;
}

static __always_inline int fentry_start(struct sock *sk, struct sockaddr *uaddr)
{
	struct conn *c;
	__u64 key = (__u64)sk;

	on_start(sk, true);
	c = bpf_map_lookup_elem(&conns, &key);
	if (c)
		fill_dest(&c->e, (__u64)uaddr, false);
	return 0;
}

SEC("fentry/tcp_v4_connect")
int BPF_PROG(fentry_v4, struct sock *sk, struct sockaddr *uaddr, int addr_len)
{
	return v6_socket(sk) ? 0 : fentry_start(sk, uaddr);
}

SEC("fexit/tcp_v4_connect")
int BPF_PROG(fexit_v4, struct sock *sk, struct sockaddr *uaddr, int addr_len, int ret)
{
	if (!v6_socket(sk))
		on_return(ctx, sk, (__u64)uaddr, ret);
	return 0;
}

SEC("fentry/tcp_v6_connect")
int BPF_PROG(fentry_v6, struct sock *sk, struct sockaddr *uaddr, int addr_len)
{
	return fentry_start(sk, uaddr);
}

SEC("fexit/tcp_v6_connect")
int BPF_PROG(fexit_v6, struct sock *sk, struct sockaddr *uaddr, int addr_len, int ret)
{
	on_return(ctx, sk, (__u64)uaddr, ret);
	return 0;
}

/* ---- kprobe strategy ---- */

static __always_inline int kprobe_start(struct sock *sk, __u64 uaddr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct kargs a = { .sk = (__u64)sk, .uaddr = uaddr };

	if (bpf_map_update_elem(&kcalls, &tid, &a, BPF_ANY)) {
		count(STAT_CALLS_FULL);
		return 0;
	}
	return fentry_start(sk, (struct sockaddr *)uaddr);
}

static __always_inline int kprobe_return(void *ctx, long ret, bool v6)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct kargs *a, args;

	a = bpf_map_lookup_elem(&kcalls, &tid);
	if (!a)
		return 0;
	args = *a;
	/* tcp_v4_connect's return inside tcp_v6_connect: the v6 return handles it. */
	if (!v6 && v6_socket((struct sock *)args.sk))
		return 0;
	bpf_map_delete_elem(&kcalls, &tid);
	on_return(ctx, (struct sock *)args.sk, args.uaddr, ret);
	return 0;
}

/*
 * A kprobe'd function's first two arguments and its return value, from pt_regs in the running
 * kernel's layout (vmlinux_min.h): the x86-64 flavour where its `di` exists, else arm64's. The
 * relocated bpf_core_field_exists is a constant, so the verifier never walks the other
 * flavour's (poisoned) read. The reads are BPF_CORE_READs (bpf_probe_read_kernel) rather than
 * direct ctx loads: clang merges the two flavours' loads into one load at a computed offset,
 * which the verifier refuses for a ctx pointer.
 */
#define IS_X86_REGS(ctx) bpf_core_field_exists(((struct pt_regs___x86 *)(ctx))->di)
#define KPROBE_ARG1(ctx)                                                                      \
	(IS_X86_REGS(ctx) ? BPF_CORE_READ((struct pt_regs___x86 *)(ctx), di) :                 \
			    BPF_CORE_READ((struct pt_regs___arm64 *)(ctx), regs[0]))
#define KPROBE_ARG2(ctx)                                                                      \
	(IS_X86_REGS(ctx) ? BPF_CORE_READ((struct pt_regs___x86 *)(ctx), si) :                 \
			    BPF_CORE_READ((struct pt_regs___arm64 *)(ctx), regs[1]))
#define KPROBE_RET(ctx)                                                                       \
	(IS_X86_REGS(ctx) ? BPF_CORE_READ((struct pt_regs___x86 *)(ctx), ax) :                 \
			    BPF_CORE_READ((struct pt_regs___arm64 *)(ctx), regs[0]))

SEC("kprobe/tcp_v4_connect")
int kprobe_v4(void *ctx)
{
	struct sock *sk = (struct sock *)KPROBE_ARG1(ctx);

	return v6_socket(sk) ? 0 : kprobe_start(sk, KPROBE_ARG2(ctx));
}

SEC("kretprobe/tcp_v4_connect")
int kretprobe_v4(void *ctx)
{
	return kprobe_return(ctx, (long)(int)KPROBE_RET(ctx), false);
}

SEC("kprobe/tcp_v6_connect")
int kprobe_v6(void *ctx)
{
	return kprobe_start((struct sock *)KPROBE_ARG1(ctx), KPROBE_ARG2(ctx));
}

SEC("kretprobe/tcp_v6_connect")
int kretprobe_v6(void *ctx)
{
	return kprobe_return(ctx, (long)(int)KPROBE_RET(ctx), true);
}
