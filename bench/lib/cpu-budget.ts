/**
 * What a msg/s ratio against mbsync asks of mailshift's own CPU when the machine is the limit: on
 * loopback both Dovecots, their TLS proxies and the kernel's loopback path share the cores with
 * the copier. Taken from the medians of the main scenario, assuming the servers' share of
 * mailshift's run stays what it was and the machine stays as busy: then
 *
 *   ratio × (mailshift wall) ≤ mbsync wall  ⇔  mailshift CPU ≤ (mbsync wall / ratio) × CPUs × busy − rest
 *
 * Both tools copy the same messages, so their msg/s ratio is the inverse of their wall times'.
 */

export interface RunCpu {
  wallSeconds: number;
  /** The tool's own CPU-seconds. */
  cpuSeconds: number;
  /** The whole machine's busy CPU-seconds during the run, the tool's included. */
  machineCpuSeconds: number;
}

export interface CpuBudget {
  /** Everything but mailshift during its run: servers, TLS proxies, kernel, anything else. */
  restCpuSeconds: number;
  /** Share of the machine's CPUs busy during mailshift's run, 0..1. */
  busyShare: number;
  /** mailshift's wall time at exactly `ratio`. */
  wallSecondsAtRatio: number;
  /** The CPU mailshift may use for `ratio`; negative when even a free copier would not reach it. */
  cpuSecondsAtRatio: number;
  /** The ratio of a copier that costs no CPU at all, everything else unchanged. */
  freeCopierRatio: number;
}

export function cpuBudget(mailshift: RunCpu, mbsync: RunCpu, cpus: number, ratio: number): CpuBudget {
  const restCpuSeconds = Math.max(0, mailshift.machineCpuSeconds - mailshift.cpuSeconds);
  const busyShare = Math.min(1, mailshift.machineCpuSeconds / (mailshift.wallSeconds * cpus));
  const capacity = cpus * busyShare;
  const wallSecondsAtRatio = mbsync.wallSeconds / ratio;
  return {
    restCpuSeconds,
    busyShare,
    wallSecondsAtRatio,
    cpuSecondsAtRatio: wallSecondsAtRatio * capacity - restCpuSeconds,
    freeCopierRatio: restCpuSeconds > 0 ? mbsync.wallSeconds / (restCpuSeconds / capacity) : Number.POSITIVE_INFINITY,
  };
}
