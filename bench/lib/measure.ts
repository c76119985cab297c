/**
 * Runs a command as a child process and measures it: wall time (here), and CPU seconds and peak RSS
 * from GNU time (`/usr/bin/time -f`), which reads them from wait4()'s rusage: exact, no polling.
 * Without GNU time, peak RSS is polled from /proc/<pid>/status (VmHWM) and CPU from /proc/<pid>/stat.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOCK_TICKS_PER_SECOND, machineBusySeconds } from './machine-cpu.js';

export interface Measured {
  command: string;
  exitCode: number;
  wallMs: number;
  /** user + system CPU seconds of the child (and its waited-for descendants). */
  cpuSeconds: number;
  /** Peak resident set size in MB (MiB). */
  peakRssMb: number;
  /** Busy CPU-seconds of the whole machine while the child ran (machine-cpu.ts), the child's included. */
  machineCpuSeconds: number;
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';
export const hasGnuTime = existsSync(GNU_TIME);

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the child after this long (a benchmark must end). */
  timeoutMs?: number;
}

export async function runMeasured(cmd: string, args: string[], options: RunOptions = {}): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), 'ms-bench-time-'));
  const timeFile = join(dir, 'time.txt');
  const argv = hasGnuTime ? [GNU_TIME, '-f', '%e %U %S %M', '-o', timeFile, cmd, ...args] : [cmd, ...args];
  const busy0 = machineBusySeconds();
  const started = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => { if (err.length < 2000) err.push(b); });
  let polledHwmKb = 0;
  let polledCpu = 0;
  const poll = hasGnuTime ? null : setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      polledHwmKb = Math.max(polledHwmKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      polledCpu = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    } catch { /* exited */ }
  }, 100);
  const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : null;
  const exitCode = await new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const wallMs = performance.now() - started;
  const machineCpuSeconds = machineBusySeconds() - busy0;
  if (poll) clearInterval(poll);
  if (timer) clearTimeout(timer);
  let cpuSeconds = polledCpu;
  let peakRssMb = polledHwmKb / 1024;
  if (hasGnuTime) {
    const text = (await readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n').pop() ?? '';
    const [, user, sys, maxKb] = text.split(' ').map(Number);
    if (Number.isFinite(user) && Number.isFinite(sys)) cpuSeconds = (user ?? 0) + (sys ?? 0);
    if (Number.isFinite(maxKb)) peakRssMb = (maxKb ?? 0) / 1024;
  }
  await rm(dir, { recursive: true, force: true });
  return {
    command: [cmd, ...args].join(' '),
    exitCode,
    wallMs,
    cpuSeconds,
    peakRssMb,
    machineCpuSeconds,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Load average and the busiest other processes, so a reader can judge the numbers. */
export function machineLoad(): { loadavg: number[]; cpus: number } {
  const parts = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  const cpus = (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) ?? []).length;
  return { loadavg: parts, cpus };
}
