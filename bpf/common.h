/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every tracer object shares: the events buffer (a ring buffer, or a perf event array
 * when use_perf_buffer is set), the per-CPU stats counters, and sending one record with the
 * reader woken only past wakeup_bytes of backlog. Include once per object, after defining
 * STAT_COUNT (the number of counters; counter 0 is always "lost").
 */
#ifndef TRACER_COMMON_H
#define TRACER_COMMON_H

#define STAT_LOST 0 /* records dropped: ring or perf buffer full */

const volatile __u64 wakeup_bytes = 0; /* wake the reader past this fill; 0 = every event */
/*
 * Send records through a perf buffer: `events` is then created as a BPF_MAP_TYPE_PERF_EVENT_ARRAY
 * (for kernels before 5.8, which have no ring buffer). The verifier knows this constant, so the
 * branch not taken, with its helper calls on the other map type, is never checked.
 */
const volatile bool use_perf_buffer = false;

/*
 * Records are stamped with CLOCK_BOOTTIME: bpf_ktime_get_boot_ns (5.8+), or where the kernel
 * lacks it bpf_ktime_get_ns (CLOCK_MONOTONIC) plus boot_minus_monotonic_ns, the boot clock's
 * lead measured by the tracer at start (the same values unless the machine suspends while
 * tracing). Known to the verifier: the other helper is never checked.
 */
const volatile bool use_monotonic_clock = false;
const volatile __u64 boot_minus_monotonic_ns = 0;

static __always_inline __u64 now_ns(void)
{
	if (use_monotonic_clock)
		return bpf_ktime_get_ns() + boot_minus_monotonic_ns;
	return bpf_ktime_get_boot_ns();
}

/* A ring buffer, or a perf event array when use_perf_buffer is set (the tracer changes its type). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);
	if (v)
		*v += 1;
}

/*
 * Sends the first `size` bytes of `record` (the caller bounds size for the verifier). Ring
 * buffer: wakes the reader only past wakeup_bytes of backlog. Perf buffer: this CPU's buffer.
 * Every failure is counted as lost.
 */
static __always_inline void send(void *ctx, void *record, __u64 size)
{
	__u64 flags = 0;

	if (use_perf_buffer) {
		if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, record, size))
			count(STAT_LOST);
		return;
	}
	if (wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + size >= wakeup_bytes
				? BPF_RB_FORCE_WAKEUP
				: BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, record, size, flags))
		count(STAT_LOST);
}

#endif
