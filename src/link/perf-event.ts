// perf_event programs: sampling on every CPU (a software cpu-clock event at a frequency, as
// libbpf-tools' profile falls back to without hardware counters), one perf event per online
// CPU, each attached with BPF_LINK_CREATE (or PERF_EVENT_IOC_SET_BPF before 5.15).

import { SysError } from "../errors.ts";
import type { Platform } from "../platform/types.ts";
import { linkCreate } from "../kernel/bpf.ts";
import { AttachType, PerfAttrFlag, PerfSwConfig, PerfType } from "../kernel/constants.ts";
import { type PerfEvent, perfEventOpen } from "../kernel/perf.ts";
import { closeAll, type Link } from "./link.ts";
import { AttachError } from "./tracepoint.ts";

const ENODEV = 19;
const EINVAL = 22;

/** Attaches `progFd` to a cpu-clock sampling event at `freqHz` on every online CPU. */
export function attachPerfEvent(
  p: Platform,
  progFd: number,
  progName: string,
  freqHz: number,
): Link {
  const handles: { close(): void }[] = [];
  let method: "bpf_link" | "ioctl" = "bpf_link";
  let id = 0;
  let cpus = 0;
  try {
    for (let cpu = 0; cpu < p.possibleCpus(); cpu++) {
      let event: PerfEvent;
      try {
        event = perfEventOpen(p, {
          type: PerfType.SOFTWARE,
          config: BigInt(PerfSwConfig.CPU_CLOCK),
          samplePeriod: BigInt(freqHz), // sample_freq, with the freq flag
          flags: PerfAttrFlag.freq,
        }, { pid: -1, cpu, what: `perf_event cpu-clock at ${freqHz} Hz on CPU ${cpu}` });
      } catch (e) {
        if (e instanceof SysError && e.errno === ENODEV) continue; // an offline CPU
        throw e;
      }
      handles.push(event);
      cpus++;
      if (method === "bpf_link") {
        try {
          const link = linkCreate(p, progFd, event.fd, AttachType.PERF_EVENT, {
            what: `program ${progName} to perf_event on CPU ${cpu}`,
          });
          handles.push(link);
          id ||= link.info().id;
          continue;
        } catch (e) {
          if (!(e instanceof SysError) || e.errno !== EINVAL || cpu > 0) throw e;
          method = "ioctl"; // kernels before 5.15 have no perf-event links
        }
      }
      event.setBpf(progFd);
      event.enable();
    }
    if (cpus === 0) throw new AttachError(`program ${progName}: no CPU could be sampled`);
  } catch (e) {
    closeAll(handles.reverse());
    throw e;
  }
  return {
    kind: "perf_event",
    target: `cpu-clock ${freqHz} Hz, ${cpus} CPUs`,
    method,
    id,
    close: () => closeAll(handles.reverse()),
  };
}
