/**
 * Kill -9 the migrating process at exact points (through the test-only MAILSHIFT_CRASH_AT hook) and
 * at random moments, on real Dovecot servers; every resume must end with the target equal to the
 * source: every message once, identical bytes, flags and INTERNALDATEs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fillMailbox, generateCorpus, readMailbox, startDovecot } from '../src/testbed/index.js';
import type { DovecotServer } from '../src/testbed/index.js';
import { connectionArgs, runCli } from './support/cli.js';
import { byFolder, toExchange } from './support/mailbox-compare.js';

const PASS = { source: 'src-pass', target: 'dst-pass' };
const env = { MAILSHIFT_SOURCE_PASSWORD: PASS.source, MAILSHIFT_TARGET_PASSWORD: PASS.target };
const work = mkdtempSync(join(tmpdir(), 'ms-crash-'));
const CRASH_POINTS = [
  'createFolder:1:before', 'createFolder:4:after',
  'upsert:3:after',
  'append:1:during', 'append:4:during', 'append:7:after',
  'commit:2:before', 'commit:5:before',
  'fetchMessages:3:during',
];
const BIG = 'random@example.com';
let source: DovecotServer;
let target: DovecotServer;

before(async () => {
  const users = [...CRASH_POINTS.map((_, i) => `crash${i}@example.com`), BIG];
  [source, target] = await Promise.all([
    startDovecot({ name: 'crash-src', folderStyle: 'dovecot', users: users.map((user) => ({ user, password: PASS.source })) }),
    startDovecot({ name: 'crash-dst', folderStyle: 'exchange', users: users.map((user) => ({ user, password: PASS.target })) }),
  ]);
});

after(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});

async function assertSameMailboxes(user: string, label: string): Promise<void> {
  const src = await readMailbox(source, { user, password: PASS.source });
  const dst = await readMailbox(target, { user, password: PASS.target });
  const nonEmpty = (m: Map<string, string[]>): Map<string, string[]> => new Map([...m].filter(([, l]) => l.length > 0));
  assert.equal(dst.length, src.length, `${label}: ${dst.length} messages on the target, ${src.length} on the source`);
  assert.deepEqual(nonEmpty(byFolder(dst)), nonEmpty(byFolder(src, toExchange)), `${label}: target differs from source`);
}

test('SIGKILL at exact points (folder creation, mid-APPEND pipeline, between APPEND and commit), then resume', async () => {
  for (const [i, point] of CRASH_POINTS.entries()) {
    const user = `crash${i}@example.com`;
    await fillMailbox(source, { user, password: PASS.source }, generateCorpus({ messages: 400, seed: 100 + i }));
    const state = join(work, `crash${i}.sqlite`);
    const args = ['migrate', ...connectionArgs(source, user, target, user), '--state', state, '--json'];
    const crashed = await runCli(args, { ...env, MAILSHIFT_CRASH_AT: point });
    assert.equal(crashed.signal, 'SIGKILL', `${point}: expected the process to die, got exit ${crashed.code}: ${crashed.stderr}`);
    const resumed = await runCli(args, env);
    assert.equal(resumed.code, 0, `${point}: resume failed: ${resumed.stdout}${resumed.stderr}`);
    const report = JSON.parse(resumed.stdout) as { verification: { consistent: boolean } };
    assert.equal(report.verification.consistent, true, point);
    await assertSameMailboxes(user, point);
    const again = await runCli(args, env);
    assert.equal((JSON.parse(again.stdout) as { totals: { transferred: number } }).totals.transferred, 0, `${point}: re-run copied again`);
  }
});

test('a 5,000-message mailbox, killed at random moments and re-run, ends complete with no duplicates', async () => {
  await fillMailbox(source, { user: BIG, password: PASS.source }, generateCorpus({ messages: 5000, seed: 42 }));
  const state = join(work, 'random.sqlite');
  const args = ['migrate', ...connectionArgs(source, BIG, target, BIG), '--state', state, '--json'];
  // A fixed pseudo-random sequence keeps failures reproducible.
  let seed = 12345;
  const next = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  // Killed once a random number of further messages is committed, not after a fixed time: how long a
  // run takes depends on the machine and on the code's speed, how far it got does not.
  const copied = (): number => {
    try {
      const db = new BetterSqlite3(state, { readonly: true, fileMustExist: true });
      try {
        return (db.prepare("SELECT count(*) AS n FROM message_ledger WHERE status = 'copied'").get() as { n: number }).n;
      } finally {
        db.close();
      }
    } catch {
      return 0; // not created yet, or locked for a moment
    }
  };
  let kills = 0;
  const killedAt: number[] = [];
  for (let round = 0; round < 6; round++) {
    const before = copied();
    const threshold = Math.min(4500, before + 200 + Math.floor(next() * 1000));
    const result = await runCli(args, env, { killWhen: () => copied() >= threshold });
    if (result.signal === 'SIGKILL') {
      kills++;
      killedAt.push(copied());
    } else { assert.equal(result.code, 0, result.stderr); break; }
  }
  assert.ok(kills >= 2, `killed ${kills} times`);
  assert.ok(killedAt.every((n) => n > 0 && n < 5000), `killed mid-way, with ${killedAt.join(', ')} of 5,000 committed`);
  const final = await runCli(args, env);
  assert.equal(final.code, 0, final.stdout + final.stderr);
  const report = JSON.parse(final.stdout) as { totals: { sourceMessages: number }; verification: { consistent: boolean; expected: number } };
  assert.equal(report.verification.consistent, true);
  assert.equal(report.verification.expected, 5000);
  await assertSameMailboxes(BIG, 'random kills');
  const again = await runCli(args, env);
  assert.equal((JSON.parse(again.stdout) as { totals: { transferred: number } }).totals.transferred, 0);
});
