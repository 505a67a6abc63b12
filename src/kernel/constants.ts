// Kernel ABI numbers from include/uapi/linux/bpf.h and perf_event.h. Pure data.

/** enum bpf_cmd */
export const BpfCmd = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_ATTACH: 8,
  PROG_DETACH: 9,
  PROG_TEST_RUN: 10,
  PROG_GET_NEXT_ID: 11,
  MAP_GET_NEXT_ID: 12,
  PROG_GET_FD_BY_ID: 13,
  MAP_GET_FD_BY_ID: 14,
  OBJ_GET_INFO_BY_FD: 15,
  PROG_QUERY: 16,
  RAW_TRACEPOINT_OPEN: 17,
  BTF_LOAD: 18,
  BTF_GET_FD_BY_ID: 19,
  TASK_FD_QUERY: 20,
  MAP_LOOKUP_AND_DELETE_ELEM: 21,
  MAP_FREEZE: 22,
  BTF_GET_NEXT_ID: 23,
  LINK_CREATE: 28,
  LINK_UPDATE: 29,
  LINK_GET_FD_BY_ID: 30,
  LINK_GET_NEXT_ID: 31,
  ENABLE_STATS: 32,
  ITER_CREATE: 33,
  LINK_DETACH: 34,
} as const;

/** Names of bpf commands, for error messages ("BPF_MAP_CREATE of map events"). */
export function bpfCmdName(cmd: number): string {
  for (const [name, value] of Object.entries(BpfCmd)) if (value === cmd) return `BPF_${name}`;
  return `bpf command ${cmd}`;
}

/** enum bpf_map_type */
export const MapType = {
  UNSPEC: 0,
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  CGROUP_ARRAY: 8,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  SOCKMAP: 15,
  CPUMAP: 16,
  XSKMAP: 17,
  SOCKHASH: 18,
  CGROUP_STORAGE: 19,
  REUSEPORT_SOCKARRAY: 20,
  PERCPU_CGROUP_STORAGE: 21,
  QUEUE: 22,
  STACK: 23,
  SK_STORAGE: 24,
  DEVMAP_HASH: 25,
  STRUCT_OPS: 26,
  RINGBUF: 27,
  INODE_STORAGE: 28,
  TASK_STORAGE: 29,
  BLOOM_FILTER: 30,
  USER_RINGBUF: 31,
  CGRP_STORAGE: 32,
} as const;

/** enum bpf_prog_type */
export const ProgType = {
  UNSPEC: 0,
  SOCKET_FILTER: 1,
  KPROBE: 2,
  SCHED_CLS: 3,
  SCHED_ACT: 4,
  TRACEPOINT: 5,
  XDP: 6,
  PERF_EVENT: 7,
  CGROUP_SKB: 8,
  CGROUP_SOCK: 9,
  LWT_IN: 10,
  LWT_OUT: 11,
  LWT_XMIT: 12,
  SOCK_OPS: 13,
  SK_SKB: 14,
  CGROUP_DEVICE: 15,
  SK_MSG: 16,
  RAW_TRACEPOINT: 17,
  CGROUP_SOCK_ADDR: 18,
  LWT_SEG6LOCAL: 19,
  LIRC_MODE2: 20,
  SK_REUSEPORT: 21,
  FLOW_DISSECTOR: 22,
  CGROUP_SYSCTL: 23,
  RAW_TRACEPOINT_WRITABLE: 24,
  CGROUP_SOCKOPT: 25,
  TRACING: 26,
  STRUCT_OPS: 27,
  EXT: 28,
  LSM: 29,
  SK_LOOKUP: 30,
  SYSCALL: 31,
  NETFILTER: 32,
} as const;

/** enum bpf_attach_type (the ones a tracer uses). */
export const AttachType = {
  NONE: 0,
  TRACE_RAW_TP: 23,
  TRACE_FENTRY: 24,
  TRACE_FEXIT: 25,
  MODIFY_RETURN: 26,
  LSM_MAC: 27,
  TRACE_ITER: 28,
  PERF_EVENT: 41,
  TRACE_KPROBE_MULTI: 42,
  LSM_CGROUP: 43,
  TRACE_UPROBE_MULTI: 48,
} as const;

/** enum bpf_link_type */
export const LinkType = {
  UNSPEC: 0,
  RAW_TRACEPOINT: 1,
  TRACING: 2,
  CGROUP: 3,
  ITER: 4,
  NETNS: 5,
  XDP: 6,
  PERF_EVENT: 7,
  KPROBE_MULTI: 8,
  STRUCT_OPS: 9,
} as const;

/** Map creation flags. */
export const MapFlags = {
  NO_PREALLOC: 1 << 0,
  NO_COMMON_LRU: 1 << 1,
  NUMA_NODE: 1 << 2,
  RDONLY: 1 << 3,
  WRONLY: 1 << 4,
  RDONLY_PROG: 1 << 7,
  WRONLY_PROG: 1 << 8,
  MMAPABLE: 1 << 10,
} as const;

/** BPF_MAP_UPDATE_ELEM flags. */
export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2, F_LOCK: 4 } as const;

/** BPF_PROG_LOAD prog_flags. */
export const ProgFlags = { STRICT_ALIGNMENT: 1, ANY_ALIGNMENT: 2, SLEEPABLE: 1 << 4 } as const;

/** Helper function ids used by hand-written programs (probes, tests). */
export const Helper = {
  map_lookup_elem: 1,
  map_update_elem: 2,
  ktime_get_ns: 5,
  ktime_get_boot_ns: 125,
  trace_printk: 6,
  get_current_pid_tgid: 14,
  perf_event_output: 25,
  probe_read_kernel: 113,
  ringbuf_output: 130,
  ringbuf_reserve: 131,
  ringbuf_submit: 132,
  ringbuf_discard: 133,
  ringbuf_query: 134,
  loop: 181,
} as const;

/** Ring buffer record header bits and bpf_ringbuf_* flags. */
export const Ringbuf = {
  BUSY_BIT: 1 << 31,
  DISCARD_BIT: 1 << 30,
  HDR_SZ: 8,
  NO_WAKEUP: 1,
  FORCE_WAKEUP: 2,
} as const;

/** Object name length in bpf_attr (including the NUL). */
export const BPF_OBJ_NAME_LEN = 16;

// perf_event_open(2)

export const PerfType = {
  HARDWARE: 0,
  SOFTWARE: 1,
  TRACEPOINT: 2,
  HW_CACHE: 3,
  RAW: 4,
  BREAKPOINT: 5,
} as const;

export const PerfSwConfig = { CPU_CLOCK: 0, TASK_CLOCK: 1, DUMMY: 9, BPF_OUTPUT: 10 } as const;

export const PERF_SAMPLE_RAW = 1 << 10;
export const PERF_FLAG_FD_CLOEXEC = 1 << 3;

/** Bits of perf_event_attr's flag word (offset 40). */
export const PerfAttrFlag = {
  disabled: 1n << 0n,
  inherit: 1n << 1n,
  exclude_user: 1n << 4n,
  exclude_kernel: 1n << 5n,
  exclude_hv: 1n << 6n,
  freq: 1n << 10n,
  watermark: 1n << 14n,
} as const;

export const PerfIoctl = {
  ENABLE: 0x2400,
  DISABLE: 0x2401,
  /** _IOW('$', 8, __u32) */
  SET_BPF: 0x40042408,
} as const;

// mmap(2)
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;
export const MAP_ANONYMOUS = 0x20;
