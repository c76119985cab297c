/** The bench's markdown: what it says about unsteady runs and the CPU budget. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMarkdown } from '../bench/lib/report.js';
import type { BenchResults, MainResult, ToolRun } from '../bench/lib/types.js';

function run(tool: ToolRun['tool'], msgsPerSec: number, cpuSeconds: number, machineCpuSeconds: number): ToolRun {
  const wallSeconds = 5000 / msgsPerSec;
  return {
    tool, exitCode: 0, wallSeconds, messages: 5000, bytes: 167.6e6, msgsPerSec, mbPerSec: 167.6 / wallSeconds,
    peakRssMb: 100, cpuSeconds, machineCpuSeconds, verified: true,
  };
}

function results(mailshift: ToolRun[], mbsync: ToolRun[], rtt = 0): BenchResults {
  const median = (runs: ToolRun[]): MainResult['medians']['mailshift'] => {
    const mid = [...runs].sort((a, b) => a.msgsPerSec - b.msgsPerSec)[Math.floor(runs.length / 2)]!;
    return { ...mid, allVerified: true };
  };
  const rate = { msgsPerSec: 1, mbPerSec: 1, wallMs: 1 } as MainResult['ceilings']['fetch'];
  return {
    startedAt: 'now', finishedAt: 'now',
    options: { messages: 5000, runs: mailshift.length, rtt, scenario: 'main', transport: 'tls', mailStore: 'disk', quick: false, ref: null },
    machine: { loadavg: [0, 0, 0], cpus: 2, node: 'v20', mbsync: 'isync 1.4.4', loadBefore: '' },
    code: 'test',
    startup: { wallSeconds: 0.1, cpuSeconds: 0.1, peakRssMb: 53 },
    main: {
      corpus: { messages: 5000, bytes: 167.6e6, folders: 16 }, fillSeconds: 1,
      ceilings: { fetch: rate, appendMultiappend: rate, appendLiteralPlus: rate },
      connection: { connections: 24, wallMsEach: 13, machineCpuMsEach: 22, ownCpuMsEach: 5 },
      mailshift, mbsync, medians: { mailshift: median(mailshift), mbsync: median(mbsync) },
    },
  };
}

test('bench report: runs of one tool that spread widely are called unsteady', () => {
  // The full bench of 2026-11-24 on disk: ext4 slowed two of mbsync's three runs.
  const md = renderMarkdown(results(
    [run('mailshift', 1247, 1.82, 7.5), run('mailshift', 1894, 1.78, 4.8), run('mailshift', 1908, 1.78, 4.7)],
    [run('mbsync', 441, 0.93, 13.4), run('mbsync', 521, 0.9, 11.8), run('mbsync', 1346, 0.83, 5.6)],
  ));
  assert.match(md, /\*\*mailshift \/ mbsync msg\/s: 3\.6\d×\*\* \(target ≥ 1\.5×: not judged: the runs are unsteady, below\)/);
  assert.match(md, /\*\*Unsteady:\*\* mailshift's runs ranged from 1247 to 1908 msg\/s \(1\.5×\)/);
  assert.match(md, /\*\*Unsteady:\*\* mbsync's runs ranged from 441 to 1346 msg\/s \(3\.1×\)/);
});

test('bench report: steady runs get no warning, and loopback gets the CPU budget', () => {
  const md = renderMarkdown(results(
    [run('mailshift', 1876, 1.86, 4.7), run('mailshift', 1952, 1.82, 4.6), run('mailshift', 1794, 1.94, 4.9)],
    [run('mbsync', 1396, 0.85, 5.3), run('mbsync', 1417, 0.79, 5.3), run('mbsync', 1385, 0.85, 5.4)],
  ));
  assert.doesNotMatch(md, /Unsteady/);
  assert.match(md, /msg\/s: 1\.34×\*\* \(target ≥ 1\.5×: not met\)/);
  assert.match(md, /leaves mailshift \*\*1\.\d\d CPU-s\*\*; it used 1\.86 \(mbsync 0\.85\)/);
  // Behind a delay proxy the servers are not what limits the copy: no budget.
  const wan = renderMarkdown(results([run('mailshift', 1030, 1.78, 5.6)], [run('mbsync', 565, 0.75, 6.6)], 40));
  assert.doesNotMatch(wan, /leaves mailshift/);
});
