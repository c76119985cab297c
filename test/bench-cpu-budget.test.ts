import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBudget } from '../bench/lib/cpu-budget.js';

test('cpu budget: what 1.5× mbsync leaves mailshift when the machine is the limit', () => {
  // A loopback run of 2026-11-24 (medians): 2 CPUs, mailshift 2.69 s / 1.82 CPU-s with the machine
  // busy for 4.67 CPU-s, mbsync 3.48 s.
  const b = cpuBudget({ wallSeconds: 2.69, cpuSeconds: 1.82, machineCpuSeconds: 4.67 }, { wallSeconds: 3.48, cpuSeconds: 0.81, machineCpuSeconds: 5.27 }, 2, 1.5);
  assert.ok(Math.abs(b.restCpuSeconds - 2.85) < 1e-9);
  assert.ok(Math.abs(b.busyShare - 4.67 / 5.38) < 1e-9);
  assert.ok(Math.abs(b.wallSecondsAtRatio - 2.32) < 1e-9);
  // 2.32 s × 2 CPUs × 86.8 % − 2.85 s
  assert.ok(Math.abs(b.cpuSecondsAtRatio - (2.32 * 2 * (4.67 / 5.38) - 2.85)) < 1e-9);
  assert.equal(b.cpuSecondsAtRatio.toFixed(2), '1.18');
  assert.equal(b.freeCopierRatio.toFixed(2), '2.12');
});

test('cpu budget: a ratio beyond a free copier leaves a negative budget; noise never yields negative rest', () => {
  const run = { wallSeconds: 2, cpuSeconds: 1, machineCpuSeconds: 3.6 };
  const b = cpuBudget(run, { wallSeconds: 3, cpuSeconds: 1, machineCpuSeconds: 4 }, 2, 3);
  // Free copier: 2.6 CPU-s of the rest over 1.8 CPUs = 1.44 s → 2.08×; 3× needs 1 s, less than that.
  assert.equal(b.freeCopierRatio.toFixed(2), '2.08');
  assert.ok(b.cpuSecondsAtRatio < 0);
  const quiet = cpuBudget({ wallSeconds: 1, cpuSeconds: 1.2, machineCpuSeconds: 1.1 }, run, 2, 1.5);
  assert.equal(quiet.restCpuSeconds, 0);
  assert.equal(quiet.freeCopierRatio, Number.POSITIVE_INFINITY);
  // A machine counted busier than its CPUs (sampling) is taken as fully busy.
  assert.equal(cpuBudget({ wallSeconds: 1, cpuSeconds: 1, machineCpuSeconds: 2.5 }, run, 2, 1.5).busyShare, 1);
});
