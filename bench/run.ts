/**
 * `npm run bench`: mailshift against mbsync on the same corpus, on throw-away Dovecot servers.
 *
 *   --messages N        main-scenario corpus size (default 5000)
 *   --runs N            runs per tool in the main scenario; the median is reported (default 3)
 *   --rtt MS            a delay proxy adds MS/2 each way in front of both servers (default 0)
 *   --scenario S        main | batch | memory | all (default all)
 *   --transport T       tls (implicit TLS, default) | plain — the same for every tool
 *   --quick             a short smoke run (500 messages, 1 run, small batch and memory scenarios)
 *   --ref REF           benchmark the mailshift CLI of this git commit (exported to a temp dir) instead
 *                       of the working tree — for stable numbers while others edit the checkout, or
 *                       to compare commits
 *
 * Prints a markdown table and writes bench/results/<timestamp>.json and .md.
 * See docs/performance.md for what each number means.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fillMailbox, generateCorpus, startDovecot, type CorpusMessage, type DovecotServer, type TestbedUser } from '../src/testbed/index.js';
import { startDelayProxy, type DelayProxy } from './delay-proxy.js';
import { appendCeiling, countMessages, fetchCeiling, type Endpoint, type RateResult } from './lib/ceiling.js';
import { connectionCost } from './lib/connection-cost.js';
import { hasGnuTime, machineLoad, median, runMeasured, type Measured } from './lib/measure.js';
import { writeMbsyncConfig } from './lib/mbsync.js';
import { renderMarkdown } from './lib/report.js';
import type { BatchResult, BenchResults, MainResult, MemoryResult, ToolRun } from './lib/types.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The CLI under test: the working tree's, or a clean export of --ref (see resolveCli). */
let CLI = join(ROOT, 'bin', 'mailshift.js');
let CLI_ROOT = ROOT;
const PASSWORD = 'bench-pass-1';
const CHILD_TIMEOUT_MS = 30 * 60 * 1000;
/** Special folders the exchange-style target creates that the dovecot-style source lacks ('Archive' and 'Drafts' exist on both). */
const TARGET_ONLY_FOLDERS = ['Sent Items', 'Deleted Items', 'Junk Email'];

interface Options {
  messages: number;
  runs: number;
  rtt: number;
  scenario: 'main' | 'batch' | 'memory' | 'all';
  transport: 'tls' | 'plain';
  /** Where the test bed's Dovecots keep their mail: the disk (/tmp) or memory (/dev/shm). */
  mailStore: 'disk' | 'tmpfs';
  /** COMPRESS=DEFLATE offered by both servers: mbsync uses it when offered, mailshift when told to. */
  compress: boolean;
  /** Bandwidth of each server's link (both directions), through the delay proxy; 0 = unlimited. */
  mbit: number;
  quick: boolean;
  ref: string | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { messages: 5000, runs: 3, rtt: 0, scenario: 'all', transport: 'tls', mailStore: 'disk', compress: false, mbit: 0, quick: false, ref: null };
  let messagesSet = false;
  let runsSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (min: number): number => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < min) throw new Error(`${a} must be an integer >= ${min}`);
      return v;
    };
    switch (a) {
      case '--messages': o.messages = int(1); messagesSet = true; break;
      case '--runs': o.runs = int(1); runsSet = true; break;
      case '--rtt': o.rtt = int(0); break;
      case '--scenario': {
        const v = value();
        if (!['main', 'batch', 'memory', 'all'].includes(v)) throw new Error('--scenario must be main, batch, memory or all');
        o.scenario = v as Options['scenario'];
        break;
      }
      case '--transport': {
        const v = value();
        if (v !== 'tls' && v !== 'plain') throw new Error('--transport must be tls or plain');
        o.transport = v;
        break;
      }
      case '--mail-store': {
        const v = value();
        if (v !== 'disk' && v !== 'tmpfs') throw new Error('--mail-store must be disk or tmpfs');
        o.mailStore = v;
        break;
      }
      case '--compress': o.compress = true; break;
      case '--mbit': o.mbit = int(1); break;
      case '--quick': o.quick = true; break;
      case '--ref': o.ref = value(); break;
      case '-h': case '--help':
        process.stdout.write('npm run bench -- [--messages N] [--runs N] [--rtt MS] [--scenario main|batch|memory|all] [--transport tls|plain] [--mail-store disk|tmpfs] [--compress] [--mbit N] [--quick] [--ref GIT-REF]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (o.quick) {
    if (!messagesSet) o.messages = 500;
    if (!runsSet) o.runs = 1;
  }
  return o;
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---------------------------------------------------------------- servers and endpoints

interface Pair {
  source: DovecotServer;
  target: DovecotServer;
  /** Ports the tools connect to (through the delay proxy when --rtt > 0). */
  sourcePort: number;
  targetPort: number;
  proxies: DelayProxy[];
  stop(): Promise<void>;
}

async function startPair(name: string, sourceUsers: TestbedUser[], targetUsers: TestbedUser[], o: Options): Promise<Pair> {
  const dataRoot = o.mailStore === 'tmpfs' ? '/dev/shm' : '/tmp';
  const [source, target] = await Promise.all([
    startDovecot({ name: `${name}-src`, folderStyle: 'dovecot', users: sourceUsers, dataRoot, compress: o.compress }),
    startDovecot({ name: `${name}-dst`, folderStyle: 'exchange', users: targetUsers, dataRoot, compress: o.compress }),
  ]);
  const port = (s: DovecotServer): number => (o.transport === 'tls' ? s.imapsPort : s.imapPort);
  const proxies: DelayProxy[] = [];
  let sourcePort = port(source);
  let targetPort = port(target);
  if (o.rtt > 0 || o.mbit > 0) {
    const link = o.mbit > 0 ? { mbitPerSecond: o.mbit } : {};
    const [ps, pt] = await Promise.all([startDelayProxy(sourcePort, o.rtt / 2, link), startDelayProxy(targetPort, o.rtt / 2, link)]);
    proxies.push(ps, pt);
    sourcePort = ps.port;
    targetPort = pt.port;
  }
  return {
    source, target, sourcePort, targetPort, proxies,
    stop: async () => {
      await Promise.all(proxies.map((p) => p.close()));
      await Promise.all([source.stop(), target.stop()]);
    },
  };
}

function endpoint(server: DovecotServer, port: number, user: string, o: Options): Endpoint {
  return { host: '127.0.0.1', port, tls: o.transport === 'tls', caPem: server.caPem, user, password: PASSWORD };
}

function connArgs(side: 'source' | 'target', server: DovecotServer, port: number, o: Options, user?: string): string[] {
  return [
    `--${side}-host`, '127.0.0.1', `--${side}-port`, String(port),
    `--${side}-security`, o.transport === 'tls' ? 'ssl' : 'none',
    ...(o.transport === 'tls' ? [`--${side}-ca`, server.caFile] : []),
    ...(user ? [`--${side}-user`, user] : []),
    ...(o.compress ? [`--${side}-compress`] : []),
  ];
}

/**
 * The environment mailshift runs in. Without NODE_EXTRA_CA_CERTS: some sandboxes (this project's
 * among them) point it at the system bundle, and node then parses ~140 certificates before any of
 * our code runs (~0.08 s CPU, more on a busy machine), which an admin's machine does not do. The
 * test bed's CA is passed with --source-ca/--target-ca, so nothing here needs it.
 */
const { NODE_EXTRA_CA_CERTS: _extraCa, ...baseEnv } = process.env;
const cliEnv = { ...baseEnv, MAILSHIFT_SOURCE_PASSWORD: PASSWORD, MAILSHIFT_TARGET_PASSWORD: PASSWORD };

function toolRun(tool: ToolRun['tool'], m: Measured, messages: number, bytes: number, extra: Partial<ToolRun> = {}): ToolRun {
  const s = m.wallMs / 1000;
  return {
    tool, exitCode: m.exitCode, wallSeconds: s, messages, bytes, msgsPerSec: messages / s, mbPerSec: bytes / 1e6 / s,
    peakRssMb: m.peakRssMb, cpuSeconds: m.cpuSeconds, machineCpuSeconds: m.machineCpuSeconds, verified: null, ...extra,
  };
}

interface MigrateJson {
  status?: string;
  totals?: { transferred: number; bytes: number; skipped: number };
  mailboxes?: Array<{ status: string; totals?: { transferred: number; bytes: number } }>;
}

function parseJson(m: Measured): MigrateJson {
  try {
    return JSON.parse(m.stdout) as MigrateJson;
  } catch {
    throw new Error(`mailshift printed no JSON (exit ${m.exitCode}): ${m.stderr.slice(0, 2000)}`);
  }
}

/** `mailshift verify --deep` on the direct ports (correctness, not speed: never through the delay proxy). */
async function verifyDeep(pair: Pair, o: Options, sourceUser: string, targetUser: string, extra: string[] = []): Promise<{ ok: boolean; seconds: number; detail: string }> {
  const m = await runMeasured(process.execPath, [CLI, 'verify',
    ...connArgs('source', pair.source, o.transport === 'tls' ? pair.source.imapsPort : pair.source.imapPort, o, sourceUser),
    ...connArgs('target', pair.target, o.transport === 'tls' ? pair.target.imapsPort : pair.target.imapPort, o, targetUser),
    '--deep', '--json', ...extra], { env: cliEnv, cwd: CLI_ROOT, timeoutMs: CHILD_TIMEOUT_MS });
  let detail = '';
  try {
    const v = JSON.parse(m.stdout) as { consistent?: boolean; expected?: number; missing?: number; duplicated?: number; flagMismatches?: number; dateMismatches?: number };
    detail = `expected ${v.expected}, missing ${v.missing}, duplicated ${v.duplicated}, flag mismatches ${v.flagMismatches}, date mismatches ${v.dateMismatches}`;
  } catch {
    detail = m.stderr.trim().split('\n').slice(-3).join(' ');
  }
  return { ok: m.exitCode === 0, seconds: m.wallMs / 1000, detail };
}

function corpusBytes(corpus: readonly CorpusMessage[]): number {
  return corpus.reduce((n, m) => n + m.raw.length, 0);
}

// ---------------------------------------------------------------- main scenario

async function mainScenario(o: Options): Promise<MainResult> {
  const corpus = generateCorpus({ messages: o.messages, seed: 5, sizeMix: 'realistic' });
  const bytes = corpusBytes(corpus);
  const folders = new Set(corpus.map((m) => m.folder)).size;
  log(`main: corpus ${corpus.length} messages, ${(bytes / 1e6).toFixed(1)} MB, ${folders} folders`);
  const runUsers = Array.from({ length: o.runs }, (_, i) => [`ms-${i + 1}`, `mb-${i + 1}`]).flat();
  const targetUsers = [...runUsers, 'ceil-multiappend', 'ceil-literal-plus'].map((user) => ({ user, password: PASSWORD }));
  const pair = await startPair('bench-main', [{ user: 'alice', password: PASSWORD }], targetUsers, o);
  const work = await mkdtemp(join(tmpdir(), 'ms-bench-main-'));
  try {
    const fill = await fillMailbox(pair.source, { user: 'alice', password: PASSWORD }, corpus, { connections: 4 });
    log(`main: source filled in ${(fill.elapsedMs / 1000).toFixed(1)} s`);

    log('main: ceilings (raw FETCH, raw APPEND)');
    const ceilings: MainResult['ceilings'] = {
      fetch: await fetchCeiling(endpoint(pair.source, pair.sourcePort, 'alice', o)),
      appendMultiappend: await appendCeiling(endpoint(pair.target, pair.targetPort, 'ceil-multiappend', o), corpus, 'multiappend'),
      appendLiteralPlus: await appendCeiling(endpoint(pair.target, pair.targetPort, 'ceil-literal-plus', o), corpus, 'literal-plus'),
    };
    for (const [k, v] of Object.entries(ceilings)) log(`main: ceiling ${k}: ${v.msgsPerSec.toFixed(0)} msg/s, ${v.mbPerSec.toFixed(1)} MB/s`);
    const connection = await connectionCost(endpoint(pair.source, pair.sourcePort, 'alice', o));
    log(`main: one connection: ${connection.wallMsEach.toFixed(0)} ms, machine CPU ${connection.machineCpuMsEach.toFixed(0)} ms (mailshift ${connection.ownCpuMsEach.toFixed(0)} ms)`);

    const mailshiftRuns: ToolRun[] = [];
    const mbsyncRuns: ToolRun[] = [];
    const runMailshift = async (r: number): Promise<void> => {
      const user = `ms-${r}`;
      const m = await runMeasured(process.execPath, [CLI, 'migrate',
        ...connArgs('source', pair.source, pair.sourcePort, o, 'alice'),
        ...connArgs('target', pair.target, pair.targetPort, o, user),
        '--state', join(work, `state-${r}.sqlite`), '--no-verify', '--json'], { env: cliEnv, cwd: CLI_ROOT, timeoutMs: CHILD_TIMEOUT_MS });
      const json = parseJson(m);
      const run = toolRun('mailshift', m, json.totals?.transferred ?? 0, json.totals?.bytes ?? 0, { status: json.status ?? 'unknown' });
      const v = await verifyDeep(pair, o, 'alice', user);
      run.verified = v.ok;
      run.verifyDetail = v.detail;
      log(`main run ${r}: mailshift ${run.wallSeconds.toFixed(1)} s, ${run.msgsPerSec.toFixed(0)} msg/s, RSS ${run.peakRssMb.toFixed(0)} MB, CPU ${run.cpuSeconds.toFixed(1)} s (machine ${run.machineCpuSeconds.toFixed(1)} s), ${json.status}; verify --deep ${v.ok ? 'passed' : 'FAILED'} (${v.detail})`);
      mailshiftRuns.push(run);
    };
    const runMbsync = async (r: number): Promise<void> => {
      const user = `mb-${r}`;
      const dir = join(work, `mbsync-${r}`);
      // mbsync 1.4 matches the certificate by DNS name only (not IP SANs): 'localhost' is in the test
      // bed's certificate and resolves to 127.0.0.1 here.
      const host = o.transport === 'tls' ? 'localhost' : '127.0.0.1';
      const config = await writeMbsyncConfig(dir,
        { host, port: pair.sourcePort, user: 'alice', password: PASSWORD, tls: o.transport === 'tls', caFile: pair.source.caFile },
        { host, port: pair.targetPort, user, password: PASSWORD, tls: o.transport === 'tls', caFile: pair.target.caFile },
        TARGET_ONLY_FOLDERS);
      const m = await runMeasured('mbsync', ['-c', config, '-a', '-q'], { cwd: dir, timeoutMs: CHILD_TIMEOUT_MS });
      const direct = o.transport === 'tls' ? pair.target.imapsPort : pair.target.imapPort;
      // A count that cannot be taken (server gone) marks the run failed instead of aborting the bench.
      const copied = await countMessages(endpoint(pair.target, direct, user, o)).catch((err: unknown) => {
        log(`main run ${r}: could not count mbsync's messages: ${err instanceof Error ? err.message : String(err)}`);
        return 0;
      });
      const run = toolRun('mbsync', m, copied, copied === corpus.length ? bytes : Number.NaN);
      run.verified = m.exitCode === 0 && copied === corpus.length;
      run.verifyDetail = `message count on the target ${copied} of ${corpus.length}${m.exitCode ? `; exit ${m.exitCode}: ${m.stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`;
      log(`main run ${r}: mbsync ${run.wallSeconds.toFixed(1)} s, ${run.msgsPerSec.toFixed(0)} msg/s, RSS ${run.peakRssMb.toFixed(0)} MB, CPU ${run.cpuSeconds.toFixed(1)} s (machine ${run.machineCpuSeconds.toFixed(1)} s); ${run.verifyDetail}`);
      mbsyncRuns.push(run);
    };
    for (let r = 1; r <= o.runs; r++) {
      // Alternate who goes first, so neither tool always gets the warmer (or busier) machine.
      if (r % 2 === 1) { await runMailshift(r); await runMbsync(r); } else { await runMbsync(r); await runMailshift(r); }
    }
    return {
      corpus: { messages: corpus.length, bytes, folders },
      fillSeconds: fill.elapsedMs / 1000,
      ceilings,
      connection,
      mailshift: mailshiftRuns,
      mbsync: mbsyncRuns,
      medians: {
        mailshift: medianRun(mailshiftRuns),
        mbsync: medianRun(mbsyncRuns),
      },
    };
  } finally {
    await pair.stop();
    await rm(work, { recursive: true, force: true });
  }
}

function medianRun(runs: ToolRun[]): MainResult['medians']['mailshift'] {
  return {
    wallSeconds: median(runs.map((r) => r.wallSeconds)),
    msgsPerSec: median(runs.map((r) => r.msgsPerSec)),
    mbPerSec: median(runs.map((r) => r.mbPerSec)),
    peakRssMb: median(runs.map((r) => r.peakRssMb)),
    cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
    machineCpuSeconds: median(runs.map((r) => r.machineCpuSeconds)),
    allVerified: runs.every((r) => r.verified === true),
  };
}

// ---------------------------------------------------------------- batch scenario

async function batchScenario(o: Options): Promise<BatchResult> {
  const mailboxes = o.quick ? 10 : 50;
  const perMailbox = o.quick ? 50 : 200;
  const levels = o.quick ? [1, 5] : [1, 5, 20];
  const name = (i: number): string => `b${String(i + 1).padStart(3, '0')}`;
  const sourceUsers = Array.from({ length: mailboxes }, (_, i) => ({ user: name(i), password: PASSWORD }));
  const targetUsers = levels.flatMap((c) => sourceUsers.map((u) => ({ user: `c${c}-${u.user}`, password: PASSWORD })));
  const pair = await startPair('bench-batch', sourceUsers, targetUsers, o);
  const work = await mkdtemp(join(tmpdir(), 'ms-bench-batch-'));
  try {
    let totalMessages = 0;
    let totalBytes = 0;
    const queue = sourceUsers.map((u, i) => ({ u, i }));
    await Promise.all(Array.from({ length: 5 }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const corpus = generateCorpus({ messages: perMailbox, seed: 1000 + next.i, sizeMix: 'realistic' });
        totalMessages += corpus.length;
        totalBytes += corpusBytes(corpus);
        await fillMailbox(pair.source, next.u, corpus, { connections: 2 });
      }
    }));
    log(`batch: ${mailboxes} source mailboxes, ${totalMessages} messages, ${(totalBytes / 1e6).toFixed(1)} MB`);
    const results: BatchResult['levels'] = [];
    for (const c of levels) {
      const csv = join(work, `users-c${c}.csv`);
      await writeFile(csv, ['EmailAddress,UserName,Password,TargetUserName,TargetPassword',
        ...sourceUsers.map((u) => `${u.user}@bench.test,${u.user},${PASSWORD},c${c}-${u.user},${PASSWORD}`)].join('\r\n') + '\r\n');
      const m = await runMeasured(process.execPath, [CLI, 'migrate', '--users', csv, '--concurrency', String(c),
        ...connArgs('source', pair.source, pair.sourcePort, o), ...connArgs('target', pair.target, pair.targetPort, o),
        '--state', join(work, `state-c${c}.sqlite`), '--no-verify', '--json'], { env: cliEnv, cwd: CLI_ROOT, timeoutMs: CHILD_TIMEOUT_MS });
      const json = parseJson(m);
      const boxes = json.mailboxes ?? (json.totals ? [json as { status: string; totals: { transferred: number; bytes: number } }] : []);
      const transferred = boxes.reduce((n, b) => n + (b.totals?.transferred ?? 0), 0);
      const bytes = boxes.reduce((n, b) => n + (b.totals?.bytes ?? 0), 0);
      const completed = boxes.filter((b) => b.status === 'completed').length;
      // Deep verification of a sample (first, middle, last mailbox).
      const sample = [...new Set([0, Math.floor(mailboxes / 2), mailboxes - 1])];
      const checks = await Promise.all(sample.map((i) => verifyDeep(pair, o, name(i), `c${c}-${name(i)}`)));
      const s = m.wallMs / 1000;
      const level = {
        concurrency: c, exitCode: m.exitCode, wallSeconds: s, mailboxes, completed, messages: transferred, bytes,
        msgsPerSec: transferred / s, mbPerSec: bytes / 1e6 / s, peakRssMb: m.peakRssMb, cpuSeconds: m.cpuSeconds,
        verifiedSample: `${checks.filter((x) => x.ok).length}/${checks.length}`,
        verified: checks.every((x) => x.ok) && transferred === totalMessages && completed === mailboxes,
      };
      log(`batch c=${c}: ${s.toFixed(1)} s, ${level.msgsPerSec.toFixed(0)} msg/s, RSS ${m.peakRssMb.toFixed(0)} MB, CPU ${m.cpuSeconds.toFixed(1)} s, ${completed}/${mailboxes} completed, ${transferred}/${totalMessages} messages, deep-verified sample ${level.verifiedSample}`);
      results.push(level);
    }
    return { mailboxes, messagesPerMailbox: perMailbox, totalMessages, totalBytes, levels: results };
  } finally {
    await pair.stop();
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- memory scenario

async function memoryScenario(o: Options): Promise<MemoryResult> {
  const big = 30 * 1024 * 1024;
  const singleCorpus = generateCorpus({ messages: o.quick ? 52 : 205, seed: 77, sizeMix: 'realistic', largeMessages: { count: o.quick ? 2 : 5, bytes: big } });
  const multiCount = o.quick ? 5 : 20;
  const multiCorpus = generateCorpus({ messages: 50, seed: 78, sizeMix: 'small', largeMessages: { count: 2, bytes: big } });
  const multiUsers = Array.from({ length: multiCount }, (_, i) => `m${String(i + 1).padStart(2, '0')}`);
  const pair = await startPair('bench-mem',
    [{ user: 'big', password: PASSWORD }, ...multiUsers.map((user) => ({ user, password: PASSWORD }))],
    [{ user: 'big-ms', password: PASSWORD }, ...multiUsers.map((user) => ({ user: `t-${user}`, password: PASSWORD }))], o);
  const work = await mkdtemp(join(tmpdir(), 'ms-bench-mem-'));
  try {
    await fillMailbox(pair.source, { user: 'big', password: PASSWORD }, singleCorpus, { connections: 4 });
    const queue = [...multiUsers];
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let u = queue.shift(); u; u = queue.shift()) await fillMailbox(pair.source, { user: u, password: PASSWORD }, multiCorpus, { connections: 2 });
    }));
    log(`memory: source filled (single: ${singleCorpus.length} messages, ${(corpusBytes(singleCorpus) / 1e6).toFixed(0)} MB; ${multiCount} × ${multiCorpus.length} messages, ${(corpusBytes(multiCorpus) / 1e6).toFixed(0)} MB each)`);

    const single = await runMeasured(process.execPath, [CLI, 'migrate',
      ...connArgs('source', pair.source, pair.sourcePort, o, 'big'), ...connArgs('target', pair.target, pair.targetPort, o, 'big-ms'),
      '--max-message-size', '35MB', '--state', join(work, 'state-single.sqlite'), '--no-verify', '--json'], { env: cliEnv, cwd: CLI_ROOT, timeoutMs: CHILD_TIMEOUT_MS });
    const sj = parseJson(single);
    const sv = await verifyDeep(pair, o, 'big', 'big-ms', ['--max-message-size', '35MB']);
    const singleRun = toolRun('mailshift', single, sj.totals?.transferred ?? 0, sj.totals?.bytes ?? 0, { status: sj.status ?? 'unknown', verified: sv.ok, verifyDetail: sv.detail });
    log(`memory single: ${singleRun.wallSeconds.toFixed(1)} s, peak RSS ${single.peakRssMb.toFixed(0)} MB, ${sj.totals?.transferred} messages; verify --deep ${sv.ok ? 'passed' : 'FAILED'}`);

    const csv = join(work, 'users.csv');
    await writeFile(csv, ['EmailAddress,UserName,Password,TargetUserName,TargetPassword',
      ...multiUsers.map((u) => `${u}@bench.test,${u},${PASSWORD},t-${u},${PASSWORD}`)].join('\r\n') + '\r\n');
    const multi = await runMeasured(process.execPath, [CLI, 'migrate', '--users', csv, '--concurrency', String(multiCount),
      ...connArgs('source', pair.source, pair.sourcePort, o), ...connArgs('target', pair.target, pair.targetPort, o),
      '--max-message-size', '35MB', '--state', join(work, 'state-multi.sqlite'), '--no-verify', '--json'], { env: cliEnv, cwd: CLI_ROOT, timeoutMs: CHILD_TIMEOUT_MS });
    const mj = parseJson(multi);
    const boxes = mj.mailboxes ?? [];
    const transferred = boxes.reduce((n, b) => n + (b.totals?.transferred ?? 0), 0);
    const bytes = boxes.reduce((n, b) => n + (b.totals?.bytes ?? 0), 0);
    const mv = await verifyDeep(pair, o, multiUsers[0]!, `t-${multiUsers[0]!}`, ['--max-message-size', '35MB']);
    const multiRun = toolRun('mailshift', multi, transferred, bytes, {
      status: `${boxes.filter((b) => b.status === 'completed').length}/${multiCount} completed`,
      verified: mv.ok && transferred === multiCount * multiCorpus.length, verifyDetail: `sample ${multiUsers[0]}: ${mv.detail}`,
    });
    log(`memory ${multiCount} concurrent: ${multiRun.wallSeconds.toFixed(1)} s, peak RSS ${multi.peakRssMb.toFixed(0)} MB, ${transferred} messages; ${multiRun.status}`);
    return {
      single: { messages: singleCorpus.length, largeMessages: o.quick ? 2 : 5, largeBytes: big, bytes: corpusBytes(singleCorpus), run: singleRun },
      concurrent: { mailboxes: multiCount, messagesPerMailbox: multiCorpus.length, largeMessagesPerMailbox: 2, bytesPerMailbox: corpusBytes(multiCorpus), run: multiRun },
    };
  } finally {
    await pair.stop();
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- entry point

function otherLoad(): string {
  try {
    return execFileSync('ps', ['-eo', 'pcpu,rss,comm', '--sort=-pcpu'], { encoding: 'utf8' }).split('\n').slice(0, 8).join('\n');
  } catch {
    return '';
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const code = await resolveCli(o.ref);
  log(`mailshift under test: ${code.describe}`);
  if (!hasGnuTime) log('GNU time not found: peak RSS and CPU are polled from /proc (less exact)');
  const startedAt = new Date();
  const results: BenchResults = {
    startedAt: startedAt.toISOString(), finishedAt: '', options: o,
    machine: { ...machineLoad(), node: process.version, mbsync: mbsyncVersion(), loadBefore: otherLoad() },
    startup: await cliStartup(),
    code: code.describe,
  };
  const want = (s: Options['scenario']): boolean => o.scenario === 'all' || o.scenario === s;
  if (want('main')) results.main = await mainScenario(o);
  if (want('batch')) results.batch = await batchScenario(o);
  if (want('memory')) results.memory = await memoryScenario(o);
  results.finishedAt = new Date().toISOString();
  results.machine.loadavgAfter = machineLoad().loadavg;
  const md = renderMarkdown(results);
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  await writeFile(join(dir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  await writeFile(join(dir, `${stamp}.md`), md);
  process.stdout.write(`\n${md}\nWritten: bench/results/${stamp}.json and .md\n`);
}

/**
 * With --ref, `git archive` the commit into a temp dir that shares this checkout's node_modules.
 * Without, the working tree is used and the description says whether src/ has uncommitted changes.
 */
async function resolveCli(ref: string | null): Promise<{ describe: string }> {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  if (ref === null) {
    let describe = 'working tree';
    try {
      const dirty = git('status', '--porcelain', '--', 'src', 'bin').length > 0;
      describe = `working tree at ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes in src/' : ''}`;
    } catch { /* not a git checkout */ }
    return { describe };
  }
  const sha = git('rev-parse', '--verify', `${ref}^{commit}`);
  const dir = join(tmpdir(), `ms-bench-code-${sha.slice(0, 12)}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  execFileSync('bash', ['-c', 'git archive "$1" | tar -x -C "$2"', 'archive', sha, dir], { cwd: ROOT });
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  CLI_ROOT = dir;
  CLI = join(dir, 'bin', 'mailshift.js');
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return { describe: `commit ${sha.slice(0, 12)} (${git('log', '-1', '--format=%s', sha).slice(0, 80)})` };
}

function mbsyncVersion(): string {
  try {
    return execFileSync('mbsync', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'not installed';
  }
}

/** What starting `mailshift migrate` costs (node + loading its bundle), included in every mailshift number. */
async function cliStartup(): Promise<{ wallSeconds: number; cpuSeconds: number; peakRssMb: number }> {
  // The first start of a fresh checkout (--ref) builds the bundles; that is not start-up.
  await runMeasured(process.execPath, [CLI, 'migrate', '--help'], { env: baseEnv, cwd: CLI_ROOT });
  const m = await runMeasured(process.execPath, [CLI, 'migrate', '--help'], { env: baseEnv, cwd: CLI_ROOT });
  return { wallSeconds: m.wallMs / 1000, cpuSeconds: m.cpuSeconds, peakRssMb: m.peakRssMb };
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});

export type { RateResult };
