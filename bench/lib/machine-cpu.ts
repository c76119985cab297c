/**
 * CPU time the whole machine spent busy (every process and the kernel), from /proc/stat. Around a
 * run it counts what the tool made both Dovecots, their TLS proxies and the loopback path do, which
 * the tool's own rusage does not; on a quiet machine that is almost all of the rest.
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/stat and /proc/<pid>/stat count CPU time in 1/100 s on Linux. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** Busy CPU-seconds since boot, summed over all CPUs (user, nice, system, irq, softirq). */
export function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / CLOCK_TICKS_PER_SECOND;
}
