/** The markdown rendering of a bench run (printed, and written next to the JSON). */
import { cpuBudget } from './cpu-budget.js';
import type { BenchResults, MedianRun, ToolRun } from './types.js';

const f0 = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
const yesNo = (v: boolean | null): string => (v === null ? '–' : v ? 'pass' : '**FAIL**');

export const TARGETS = {
  ratio: 1.5,
  rssOneMailboxMb: 150,
  rssTwentyConcurrentMb: 400,
};

// Result files written before the machine's CPU was measured have none.
const machine = (n: number | undefined): string => f1(n ?? Number.NaN);

function medianRow(tool: string, m: MedianRun): string {
  return `| ${tool} | ${f1(m.wallSeconds)} | ${f0(m.msgsPerSec)} | ${f1(m.mbPerSec)} | ${f0(m.peakRssMb)} | ${f2(m.cpuSeconds)} | ${machine(m.machineCpuSeconds)} | ${m.allVerified ? 'all pass' : '**not all**'} |`;
}

function runRow(r: ToolRun, i: number): string {
  return `| ${r.tool} #${i + 1} | ${f1(r.wallSeconds)} | ${f0(r.msgsPerSec)} | ${f1(r.mbPerSec)} | ${f0(r.peakRssMb)} | ${f2(r.cpuSeconds)} | ${machine(r.machineCpuSeconds)} | ${yesNo(r.verified)} | ${r.verifyDetail ?? ''} |`;
}

/** A tool whose fastest run is this much faster than its slowest is not steady enough to rank by median. */
export const UNSTEADY_SPREAD = 1.5;

/**
 * Flags a tool whose runs spread widely: on disk ext4 can slow one tool's runs several-fold
 * (docs/performance.md), and the median ratio then measures the filesystem, not the code.
 */
export function unsteadyLines(runs: { mailshift: readonly ToolRun[]; mbsync: readonly ToolRun[] }): string[] {
  const lines: string[] = [];
  for (const [tool, list] of [['mailshift', runs.mailshift], ['mbsync', runs.mbsync]] as const) {
    const rates = list.map((x) => x.msgsPerSec).filter((x) => Number.isFinite(x) && x > 0);
    if (rates.length < 2) continue;
    const lo = Math.min(...rates);
    const hi = Math.max(...rates);
    if (hi / lo > UNSTEADY_SPREAD) {
      lines.push(`**Unsteady:** ${tool}'s runs ranged from ${f0(lo)} to ${f0(hi)} msg/s (${f1(hi / lo)}×), so the median ratio says more about the machine than about the code. On disk this is usually ext4's inode allocator; \`--mail-store tmpfs\` avoids it.`);
    }
  }
  return lines.length > 0 ? [...lines, ''] : [];
}

/** Where the machine is the limit (loopback), what the target ratio leaves mailshift's own CPU. */
function budgetLines(r: BenchResults, ms: MedianRun, mb: MedianRun): string[] {
  if (!Number.isFinite(ms.machineCpuSeconds) || !Number.isFinite(mb.wallSeconds) || r.options.rtt > 0 || r.options.mbit) return [];
  const b = cpuBudget(ms, mb, r.machine.cpus, TARGETS.ratio);
  return [
    `Machine CPU during mailshift's runs (medians): the ${r.machine.cpus} CPUs were ${f0(b.busyShare * 100)} % busy, and everything but mailshift — both Dovecots, their TLS proxies, the kernel — took ${f2(b.restCpuSeconds)} CPU-s. With that unchanged, ${TARGETS.ratio}× mbsync (${f2(b.wallSecondsAtRatio)} s) leaves mailshift **${f2(b.cpuSecondsAtRatio)} CPU-s**; it used ${f2(ms.cpuSeconds)} (mbsync ${f2(mb.cpuSeconds)}). A copier using no CPU at all would reach ${f2(b.freeCopierRatio)}×.`,
    '',
  ];
}

export function renderMarkdown(r: BenchResults): string {
  const o = r.options;
  const out: string[] = [];
  out.push(`# mailshift bench — ${r.startedAt}`);
  out.push('');
  out.push(`Options: messages ${o.messages}, runs ${o.runs}, RTT ${o.rtt} ms${o.rtt || o.mbit ? ' (delay proxy in front of both servers)' : ' (loopback)'}${o.mbit ? `, each server behind a ${o.mbit} Mbit/s link` : ''}, transport ${o.transport === 'tls' ? 'implicit TLS (IMAPS) for every tool' : 'plain IMAP on loopback for every tool'}, mail stores of both servers ${o.mailStore === 'tmpfs' ? 'in memory (/dev/shm)' : 'on disk (/tmp)'}${o.compress ? ', COMPRESS=DEFLATE offered by both servers (mbsync uses it when offered, mailshift with --source-compress/--target-compress)' : ''}, scenario ${o.scenario}${o.quick ? ', QUICK' : ''}.`);
  out.push(`Machine: ${r.machine.cpus} CPUs, load average before ${r.machine.loadavg.join(' ')}${r.machine.loadavgAfter ? `, after ${r.machine.loadavgAfter.join(' ')}` : ''}; Node ${r.machine.node}; ${r.machine.mbsync}.`);
  out.push(`mailshift under test: ${r.code}.`);
  out.push(`mailshift CLI start-up (node + the migrate bundle, \`migrate --help\`): ${f2(r.startup.wallSeconds)} s wall, ${f2(r.startup.cpuSeconds)} s CPU, ${f0(r.startup.peakRssMb)} MB — included in every mailshift number.`);
  out.push('');
  if (r.main) {
    const m = r.main;
    // A peer run that did not copy everything has no meaningful rate.
    const ratio = m.medians.mbsync.allVerified ? m.medians.mailshift.msgsPerSec / m.medians.mbsync.msgsPerSec : Number.NaN;
    out.push(`## Main: one mailbox, ${m.corpus.messages} messages, ${f1(m.corpus.bytes / 1e6)} MB, ${m.corpus.folders} folders (median of ${o.runs})`);
    out.push('');
    out.push('| Tool | Wall s | msg/s | MB/s | Peak RSS MB | CPU s | Machine CPU s | Verified |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---|');
    out.push(medianRow('mailshift', m.medians.mailshift));
    out.push(medianRow('mbsync', m.medians.mbsync));
    out.push('');
    const unsteady = unsteadyLines(m);
    const verdict = Number.isNaN(ratio) ? 'unknown: the mbsync runs did not all copy every message'
      : unsteady.length > 0 ? 'not judged: the runs are unsteady, below'
        : ratio >= TARGETS.ratio ? 'met' : 'not met';
    out.push(`**mailshift / mbsync msg/s: ${f2(ratio)}×** (target ≥ ${TARGETS.ratio}×: ${verdict}). Peak RSS ${f0(m.medians.mailshift.peakRssMb)} MB (target ≤ ${TARGETS.rssOneMailboxMb} MB: ${m.medians.mailshift.peakRssMb <= TARGETS.rssOneMailboxMb ? 'met' : 'not met'}).`);
    out.push('');
    out.push(...unsteady);
    out.push(...budgetLines(r, m.medians.mailshift, m.medians.mbsync));
    out.push('Ceilings (one connection, same transport and RTT):');
    out.push('');
    out.push('| Ceiling | msg/s | MB/s | s |');
    out.push('|---|---:|---:|---:|');
    out.push(`| source raw FETCH (imapflow streaming, BODY.PEEK[]) | ${f0(m.ceilings.fetch.msgsPerSec)} | ${f1(m.ceilings.fetch.mbPerSec)} | ${f1(m.ceilings.fetch.wallMs / 1000)} |`);
    out.push(`| target raw APPEND, MULTIAPPEND (AppendWriter) | ${f0(m.ceilings.appendMultiappend.msgsPerSec)} | ${f1(m.ceilings.appendMultiappend.mbPerSec)} | ${f1(m.ceilings.appendMultiappend.wallMs / 1000)} |`);
    out.push(`| target raw APPEND, LITERAL+ pipelined (AppendWriter) | ${f0(m.ceilings.appendLiteralPlus.msgsPerSec)} | ${f1(m.ceilings.appendLiteralPlus.mbPerSec)} | ${f1(m.ceilings.appendLiteralPlus.wallMs / 1000)} |`);
    out.push('');
    out.push(`One connection (TLS, LOGIN, LOGOUT through mailshift's store; ${m.connection.connections} of them, 4 at a time): ${f0(m.connection.wallMsEach)} ms, machine CPU ${f0(m.connection.machineCpuMsEach)} ms, of which mailshift ${f0(m.connection.ownCpuMsEach)} ms. A migration with 3 folder workers opens 12 connections, mbsync 2.`);
    out.push('');
    out.push('<details><summary>Every run</summary>');
    out.push('');
    out.push('| Run | Wall s | msg/s | MB/s | Peak RSS MB | CPU s | Machine CPU s | Verified | Detail |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---|---|');
    m.mailshift.forEach((x, i) => out.push(runRow(x, i)));
    m.mbsync.forEach((x, i) => out.push(runRow(x, i)));
    out.push('');
    out.push('</details>');
    out.push('');
  }
  if (r.batch) {
    const b = r.batch;
    out.push(`## Batch: ${b.mailboxes} mailboxes × ${b.messagesPerMailbox} messages (${b.totalMessages} messages, ${f1(b.totalBytes / 1e6)} MB) through \`--users\``);
    out.push('');
    out.push('| Concurrency | Wall s | msg/s | MB/s | Peak RSS MB | CPU s | Completed | Deep-verified sample | All copied |');
    out.push('|---:|---:|---:|---:|---:|---:|---:|---|---|');
    for (const l of b.levels) {
      out.push(`| ${l.concurrency} | ${f1(l.wallSeconds)} | ${f0(l.msgsPerSec)} | ${f1(l.mbPerSec)} | ${f0(l.peakRssMb)} | ${f1(l.cpuSeconds)} | ${l.completed}/${l.mailboxes} | ${l.verifiedSample} | ${l.verified ? 'yes' : '**no**'} |`);
    }
    out.push('');
  }
  if (r.memory) {
    const s = r.memory.single;
    const c = r.memory.concurrent;
    out.push('## Memory: 30 MB messages, `--max-message-size 35MB`');
    out.push('');
    out.push('| Case | Messages | MB | Wall s | Peak RSS MB | Target | Verified |');
    out.push('|---|---:|---:|---:|---:|---|---|');
    out.push(`| one mailbox, ${s.largeMessages} × 30 MB + small | ${s.run.messages}/${s.messages} | ${f0(s.bytes / 1e6)} | ${f1(s.run.wallSeconds)} | ${f0(s.run.peakRssMb)} | ≤ ${TARGETS.rssOneMailboxMb}: ${s.run.peakRssMb <= TARGETS.rssOneMailboxMb ? 'met' : '**not met**'} | ${yesNo(s.run.verified)} |`);
    out.push(`| ${c.mailboxes} mailboxes at once, each ${c.largeMessagesPerMailbox} × 30 MB + small | ${c.run.messages}/${c.mailboxes * c.messagesPerMailbox} | ${f0((c.mailboxes * c.bytesPerMailbox) / 1e6)} | ${f1(c.run.wallSeconds)} | ${f0(c.run.peakRssMb)} | ≤ ${TARGETS.rssTwentyConcurrentMb}${c.mailboxes === 20 ? '' : ' (for 20)'}: ${c.run.peakRssMb <= TARGETS.rssTwentyConcurrentMb ? 'met' : '**not met**'} | ${yesNo(c.run.verified)} (${c.run.status}) |`);
    out.push('');
  }
  return out.join('\n');
}
