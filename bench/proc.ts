/**
 * CPU and memory of processes from /proc (Linux only). Two CPU sources for the same kernel
 * quantity: utime+stime from /proc/PID/stat (what the issue names; 10 ms ticks) and the sum of
 * /proc/PID/task/TID/schedstat (ns; the sum_exec_runtime utime+stime are derived from).
 * Windows of a second at light load use ~20 ms of relay CPU, where one tick is a 50% error,
 * so figures use schedstat when the kernel provides it and keep the tick figure beside it.
 */
import { readFileSync, readdirSync } from 'node:fs';

const TICK_S = 0.01; // USER_HZ is 100 on every Linux ABI

export interface CpuSample {
  /** utime+stime from /proc/PID/stat, seconds (10 ms resolution). */
  statS: number;
  /** Sum over threads of schedstat on-CPU time, seconds; NaN where unavailable. */
  schedS: number;
}

export function cpuOf(pid: number): CpuSample {
  return { statS: statCpuS(pid), schedS: schedCpuS(pid) };
}

function statCpuS(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may contain spaces: count fields from the closing paren.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) * TICK_S;
}

let schedAvailable: boolean | undefined;

function schedCpuS(pid: number): number {
  if (schedAvailable === false) return NaN;
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // a thread that ended between readdir and read: its time is lost to this source (rare)
      }
    }
    schedAvailable = true;
    return ns / 1e9;
  } catch {
    schedAvailable = false;
    return NaN;
  }
}

/** VmRSS of a process, bytes. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Machine-wide busy and total CPU seconds since boot, from /proc/stat (all cores summed). */
export function machineCpu(): { busyS: number; totalS: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already inside user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = v[3] + v[4];
  return { busyS: (total - idle) * TICK_S, totalS: total * TICK_S };
}

export function isAlive(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}
