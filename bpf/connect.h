/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record bpf/connect.bpf.c sends: one per active TCP connect, when its outcome is known.
 * The tracer decodes it from the object's own BTF (field names and offsets), so these names
 * are the contract. The in-flight map holds the same struct, so connects still pending when
 * the tracer stops are decoded the same way.
 */
#ifndef TRACER_CONNECT_H
#define TRACER_CONNECT_H

/* connect_event.flags */
#define CONNECT_F_SYNC 1 /* failed inside connect() before any SYN left (no socket state change) */

/*
 * time_ns: CLOCK_BOOTTIME of the outcome; start_ns: of the connect call (SYN sent), so the
 * latency is time_ns - start_ns. err: 0 (established) or the positive errno. Addresses are
 * network-order bytes: the first 4 of saddr/daddr for family AF_INET (2), all 16 for
 * AF_INET6 (10); ports in host order.
 */
struct connect_event {
	__u64 time_ns;
	__u64 start_ns;
	__u64 cgroup_id;
	__u64 mntns_id;
	__u64 netns_id;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 err;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u16 flags;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[16];
};

/* Indexes of the per-CPU `stats` array (__u64 counters). */
enum connect_stat {
	CONNECT_STAT_LOST = 0,    /* records dropped: ring or perf buffer full (STAT_LOST) */
	STAT_INFLIGHT_FULL = 1,   /* connects not followed: the in-flight map was full */
	STAT_CALLS_FULL = 2,      /* connect() calls not followed: the calls map was full */
	STAT_TRACED_FULL = 3,     /* -- CMD: processes not followed (follow.h) */
	CONNECT_STAT_COUNT = 4,
};

#endif
