/** The shape of bench/results/<timestamp>.json. */
import type { RateResult } from './ceiling.js';
import type { ConnectionCost } from './connection-cost.js';

export interface ToolRun {
  tool: 'mailshift' | 'mbsync';
  exitCode: number;
  wallSeconds: number;
  messages: number;
  bytes: number;
  msgsPerSec: number;
  mbPerSec: number;
  peakRssMb: number;
  cpuSeconds: number;
  /** The whole machine's busy CPU-seconds during the run (bench/lib/machine-cpu.ts). */
  machineCpuSeconds: number;
  /** mailshift: `verify --deep` exit 0; mbsync: exit 0 and every message on the target. */
  verified: boolean | null;
  verifyDetail?: string;
  status?: string;
}

export interface MedianRun {
  wallSeconds: number;
  msgsPerSec: number;
  mbPerSec: number;
  peakRssMb: number;
  cpuSeconds: number;
  machineCpuSeconds: number;
  allVerified: boolean;
}

export interface MainResult {
  corpus: { messages: number; bytes: number; folders: number };
  fillSeconds: number;
  ceilings: { fetch: RateResult; appendMultiappend: RateResult; appendLiteralPlus: RateResult };
  connection: ConnectionCost;
  mailshift: ToolRun[];
  mbsync: ToolRun[];
  medians: { mailshift: MedianRun; mbsync: MedianRun };
}

export interface BatchLevel {
  concurrency: number;
  exitCode: number;
  wallSeconds: number;
  mailboxes: number;
  completed: number;
  messages: number;
  bytes: number;
  msgsPerSec: number;
  mbPerSec: number;
  peakRssMb: number;
  cpuSeconds: number;
  verifiedSample: string;
  verified: boolean;
}

export interface BatchResult {
  mailboxes: number;
  messagesPerMailbox: number;
  totalMessages: number;
  totalBytes: number;
  levels: BatchLevel[];
}

export interface MemoryResult {
  single: { messages: number; largeMessages: number; largeBytes: number; bytes: number; run: ToolRun };
  concurrent: { mailboxes: number; messagesPerMailbox: number; largeMessagesPerMailbox: number; bytesPerMailbox: number; run: ToolRun };
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  options: { messages: number; runs: number; rtt: number; scenario: string; transport: string; mailStore?: string; compress?: boolean; mbit?: number; quick: boolean; ref: string | null };
  machine: { loadavg: number[]; cpus: number; node: string; mbsync: string; loadBefore: string; loadavgAfter?: number[] };
  /** Which mailshift was measured (commit, or the working tree). */
  code: string;
  startup: { wallSeconds: number; cpuSeconds: number; peakRssMb: number };
  main?: MainResult;
  batch?: BatchResult;
  memory?: MemoryResult;
}
