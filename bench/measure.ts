/** CPU windows around a measured phase: relay, generator workers, the bench itself, the machine. */
import { cpuOf, machineCpu, type CpuSample } from './proc.js';

export interface Snap {
  ns: number;
  relay: CpuSample;
  gen: number;
  bench: number;
  machine: { busyS: number; totalS: number };
}

export interface Window {
  wallS: number;
  /** Relay CPU seconds (schedstat when available, else utime+stime). */
  relayCpuS: number;
  /** The same from utime+stime in /proc/PID/stat (10 ms ticks), for cross-checking. */
  relayCpuStatS: number;
  /** All generator worker processes together. */
  genCpuS: number;
  /** The orchestrating bench process (IPC, polling). */
  benchCpuS: number;
  /** Everything busy on the machine, in cores (other engineers' work included). */
  machineBusyCores: number;
  /** Machine busy minus relay, generator and bench: load we did not cause, in cores. */
  otherCores: number;
}

const best = (c: CpuSample): number => (Number.isFinite(c.schedS) ? c.schedS : c.statS);

export function snap(relayPid: number, genPids: number[]): Snap {
  const bench = process.cpuUsage();
  return {
    ns: Number(process.hrtime.bigint()),
    relay: cpuOf(relayPid),
    gen: genPids.reduce((sum, pid) => sum + best(cpuOf(pid)), 0),
    bench: (bench.user + bench.system) / 1e6,
    machine: machineCpu(),
  };
}

export function windowOf(a: Snap, b: Snap): Window {
  const wallS = (b.ns - a.ns) / 1e9;
  const relayCpuS = best(b.relay) - best(a.relay);
  const genCpuS = b.gen - a.gen;
  const benchCpuS = b.bench - a.bench;
  const cores = (b.machine.busyS - a.machine.busyS) / Math.max(wallS, 1e-9);
  return {
    wallS,
    relayCpuS,
    relayCpuStatS: b.relay.statS - a.relay.statS,
    genCpuS,
    benchCpuS,
    machineBusyCores: cores,
    otherCores: Math.max(0, cores - (relayCpuS + genCpuS + benchCpuS) / wallS),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until the relay is idle (< 2% of a core over 100 ms), at most maxMs: the previous phase is over. */
export async function waitQuiet(pid: number, maxMs = 5000): Promise<void> {
  const t0 = Date.now();
  let last = best(cpuOf(pid));
  while (Date.now() - t0 < maxMs) {
    await sleep(100);
    const now = best(cpuOf(pid));
    if (now - last < 0.002) return;
    last = now;
  }
}
