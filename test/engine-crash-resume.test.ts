/**
 * The isync test style on the engine: for every step k of a migration, crash after step k, resume,
 * and check the target holds every source message exactly once with the right flags and dates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrateMailbox } from '../src/engine/mailbox-migration.js';
import type { MigrationOptions } from '../src/engine/mailbox-migration.js';
import { DEFAULT_SYNC_OPTIONS } from '../src/engine/sync-options.js';
import type { Clock } from '../src/engine/ports.js';
import { MemoryMailServer, StepFaults } from './support/memory-mail-server.js';
import { MailshiftError } from '../src/domain/errors.js';
import { MemoryState } from './support/memory-state.js';

const clock: Clock = { now: () => 1_700_000_000_000, sleep: async () => undefined };

function message(id: string, subject: string, body = 'Hello\r\n'): Buffer {
  return Buffer.from(`Message-ID: <${id}@example.com>\r\nSubject: ${subject}\r\nFrom: a@example.com\r\n\r\n${body}`);
}

function makeSource(capabilities?: Set<string>): MemoryMailServer {
  const s = new MemoryMailServer(capabilities);
  s.addFolder('Sent', '\\Sent');
  s.addFolder('Work/Projects');
  s.addFolder('Émoji 🎉');
  let date = Date.UTC(2020, 0, 1);
  for (let i = 0; i < 12; i++) s.add('INBOX', message(`m${i}`, `Message ${i}`), i % 3 === 0 ? ['\\Seen'] : ['$Label1'], (date += 86_400_000));
  s.add('INBOX', message('dup', 'Identical'), [], date);
  s.add('INBOX', message('dup', 'Identical'), ['\\Flagged'], date);
  s.add('INBOX', message('same-id', 'First with repeated id', 'one\r\n'), [], date);
  s.add('INBOX', message('same-id', 'Second with repeated id', 'two\r\n'), [], date);
  s.add('INBOX', Buffer.from('Subject: header only\r\nFrom: b@example.com\r\n'), ['\\Answered'], date);
  for (let i = 0; i < 5; i++) s.add('Sent', message(`s${i}`, `Sent ${i}`), ['\\Seen'], (date += 3600_000));
  for (let i = 0; i < 4; i++) s.add('Work/Projects', message(`w${i}`, `Work ${i}`), ['Work'], (date += 3600_000));
  s.add('Émoji 🎉', message('e0', 'Party'), [], date);
  return s;
}

function makeTarget(capabilities?: Set<string>): MemoryMailServer {
  const t = new MemoryMailServer(capabilities);
  t.addFolder('Sent Items', '\\Sent');
  return t;
}

const options: MigrationOptions = {
  ...DEFAULT_SYNC_OPTIONS, batchMessages: 4, rules: {}, dryRun: false, verify: true, maxRetries: 3, folderConcurrency: 1,
  sourceLabel: 'source', targetLabel: 'target',
};

async function run(source: MemoryMailServer, target: MemoryMailServer, state: MemoryState, crashAt: number | null, folderConcurrency = 1) {
  const controller = new AbortController();
  const faults = new StepFaults(crashAt, controller);
  state.faults = faults;
  const report = await migrateMailbox({
    openSource: async () => source.store(faults), openTarget: async () => target.store(faults), state, clock, signal: controller.signal,
  }, { ...options, folderConcurrency });
  return { report, steps: faults.count };
}

/** Folder → sorted list of "raw|flags|date" strings: equal snapshots mean equal mailboxes. */
function snapshot(server: MemoryMailServer): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of server.folders.values()) {
    out.set(f.path, [...f.messages.values()].map((m) => `${m.raw.toString('base64')}|${[...m.flags].sort().join(',')}|${m.internalDate}`).sort());
  }
  return out;
}

test('a clean run copies every message once, maps Sent to Sent Items, and verifies', async () => {
  const source = makeSource();
  const target = makeTarget();
  const { report } = await run(source, target, new MemoryState(), null);
  assert.equal(report.status, 'completed');
  assert.equal(report.totals.transferred, 27);
  assert.equal(report.verification?.consistent, true);
  assert.equal(target.folders.get('Sent Items')!.messages.size, 5);
  assert.equal(target.folders.get('INBOX')!.messages.size, 17);
  assert.equal(target.folders.get('Work/Projects')!.messages.size, 4);
  assert.equal(target.folders.get('Émoji 🎉')!.messages.size, 1);
  assert.equal(target.folders.has('Sent'), false);
});

test('crash after every step k, then resume: complete, no duplicates, same flags and dates', async () => {
  const baselineTarget = makeTarget();
  const { steps } = await run(makeSource(), baselineTarget, new MemoryState(), null);
  const expected = snapshot(baselineTarget);
  assert.ok(steps > 40, `expected many steps, got ${steps}`);
  for (let k = 1; k <= steps; k++) {
    const source = makeSource();
    const target = makeTarget();
    const state = new MemoryState();
    const crashed = await run(source, target, state, k);
    assert.equal(crashed.report.status, 'failed', `step ${k} should have crashed`);
    const resumed = await run(source, target, state, null);
    assert.equal(resumed.report.status, 'completed', `resume after crash at ${k}: ${JSON.stringify(resumed.report.errors)}`);
    assert.deepEqual(snapshot(target), expected, `target differs after crash at step ${k}`);
    const again = await run(source, target, state, null);
    assert.equal(again.report.totals.transferred, 0, `re-run after crash at ${k} transferred again`);
  }
});

test('two crashes in a row at different points still converge', async () => {
  const baselineTarget = makeTarget();
  const { steps } = await run(makeSource(), baselineTarget, new MemoryState(), null);
  const expected = snapshot(baselineTarget);
  for (let k = 5; k < steps; k += 7) {
    const source = makeSource();
    const target = makeTarget();
    const state = new MemoryState();
    await run(source, target, state, k);
    await run(source, target, state, 9);
    await run(source, target, state, null);
    assert.deepEqual(snapshot(target), expected, `after crashes at ${k} and 9`);
  }
});

test('without UIDPLUS and CONDSTORE the crash loop still converges', async () => {
  const caps = new Set(['IMAP4REV1', 'SPECIAL-USE']);
  const baselineTarget = makeTarget(caps);
  const { steps } = await run(makeSource(caps), baselineTarget, new MemoryState(), null);
  const expected = snapshot(baselineTarget);
  for (let k = 1; k <= steps; k += 3) {
    const source = makeSource(caps);
    const target = makeTarget(caps);
    const state = new MemoryState();
    await run(source, target, state, k);
    const resumed = await run(source, target, state, null);
    assert.equal(resumed.report.status, 'completed');
    assert.deepEqual(snapshot(target), expected, `no-UIDPLUS target differs after crash at ${k}`);
  }
});

for (const condstore of [true, false]) {
  test(`incremental pass copies only new mail and mirrors flag changes (CONDSTORE ${condstore ? 'on' : 'off'})`, async () => {
    const caps = condstore ? undefined : new Set(['IMAP4REV1', 'UIDPLUS', 'SPECIAL-USE']);
    const source = makeSource(caps);
    const target = makeTarget(caps);
    const state = new MemoryState();
    await run(source, target, state, null);
    const second = await run(source, target, state, null);
    assert.equal(second.report.totals.transferred, 0);
    assert.equal(second.report.totals.alreadyPresent, 27);

    const inbox = source.folders.get('INBOX')!;
    const first = inbox.messages.get(2)!;
    first.flags.add('\\Seen');
    first.flags.delete('$Label1');
    first.modseq = source.nextModseq();
    source.add('INBOX', message('new1', 'New one'), ['\\Flagged'], Date.UTC(2025, 0, 1));
    const third = await run(source, target, state, null);
    assert.equal(third.report.totals.transferred, 1);
    assert.equal(third.report.totals.flagsUpdated, 1);
    assert.equal(third.report.verification?.consistent, true);
    const copied = [...target.folders.get('INBOX')!.messages.values()].find((m) => m.raw.equals(first.raw))!;
    assert.deepEqual([...copied.flags].sort(), ['\\Seen']);
  });
}

test('UIDVALIDITY changes on either side re-index by content and copy nothing twice', async () => {
  const source = makeSource();
  const target = makeTarget();
  const state = new MemoryState();
  await run(source, target, state, null);
  source.renumber('INBOX');
  target.renumber('Sent Items');
  const again = await run(source, target, state, null);
  assert.equal(again.report.totals.transferred, 0);
  assert.equal(again.report.verification?.consistent, true);
  assert.equal(target.folders.get('INBOX')!.messages.size, 17);
  assert.equal(target.folders.get('Sent Items')!.messages.size, 5);
});

test('messages already on the target (another tool, lost state) are adopted, not copied again', async () => {
  const source = makeSource();
  const target = makeTarget();
  await run(source, target, new MemoryState(), null);
  source.add('INBOX', message('late', 'Late arrival'), [], Date.UTC(2026, 0, 1));
  const fresh = await run(source, target, new MemoryState(), null);
  assert.equal(fresh.report.totals.transferred, 1);
  assert.equal(fresh.report.totals.adopted, 27);
  assert.equal(fresh.report.verification?.consistent, true);
});

test('filters: --since, max message size, item limit, exclusions', async () => {
  const source = makeSource();
  source.add('INBOX', Buffer.concat([message('big', 'Big one'), Buffer.alloc(5000, 65)]), [], Date.UTC(2026, 1, 1));
  const target = makeTarget();
  const report = await migrateMailbox({
    openSource: async () => source.store(), openTarget: async () => target.store(), state: new MemoryState(), clock,
  }, { ...options, since: Date.UTC(2020, 0, 6), maxMessageSize: 4000, maxItems: 15, rules: { exclude: ['work'] } });
  assert.equal(report.totals.skippedByReason['too-large'], 1);
  assert.ok((report.totals.skippedByReason['before-start-date'] ?? 0) >= 4);
  assert.equal(report.totals.transferred, 15);
  assert.ok((report.totals.skippedByReason['item-limit'] ?? 0) > 0);
  assert.equal(target.folders.has('Work/Projects'), false);
  assert.deepEqual(report.excludedFolders.map((e) => e.sourcePath), ['Work/Projects']);
  const skipped = report.skippedItems.find((i) => i.reason === 'too-large')!;
  assert.equal(skipped.subject, 'Big one');
});

test('transient failures (connection reset) at any step reconnect, back off and finish in the same run', async () => {
  const baselineTarget = makeTarget();
  const { steps } = await run(makeSource(), baselineTarget, new MemoryState(), null);
  const expected = snapshot(baselineTarget);
  for (let k = 1; k <= steps; k += 2) {
    const source = makeSource();
    const target = makeTarget();
    const state = new MemoryState();
    const faults = new StepFaults(null);
    faults.transientAt = new Set([k, k + 5]);
    state.faults = faults;
    const sleeps: number[] = [];
    const report = await migrateMailbox({
      openSource: async () => source.store(faults), openTarget: async () => target.store(faults), state,
      clock: { now: () => 0, sleep: async (ms) => { sleeps.push(ms); } },
    }, options);
    assert.equal(report.status, 'completed', `transient failure at ${k}: ${JSON.stringify(report.errors)}`);
    assert.ok(report.totals.retries >= 1 && sleeps.length === report.totals.retries, `step ${k}: retries ${report.totals.retries}`);
    assert.equal(sleeps[0], 1000, 'first back-off is one second');
    assert.deepEqual(snapshot(target), expected, `target differs after transient failure at ${k}`);
    // Everything was copied by this run, across its attempts: none of it was "already there".
    assert.equal(report.totals.transferred, 27, `step ${k}: ${JSON.stringify(report.totals)}`);
    assert.equal(report.totals.alreadyPresent, 0, `step ${k}: ${JSON.stringify(report.totals)}`);
  }
});

test('a target folder deleted on the target is recreated and refilled exactly once, also mid-run (TRYCREATE)', async () => {
  const source = makeSource();
  const target = makeTarget();
  const state = new MemoryState();
  await run(source, target, state, null);
  // Deleted between runs: the new folder has a new UIDVALIDITY, so its content is re-found by key.
  target.folders.delete('Work/Projects');
  source.add('Work/Projects', message('w-new', 'Work new'), [], Date.UTC(2026, 0, 1));
  const { report } = await run(source, target, state, null);
  assert.equal(report.status, 'completed', JSON.stringify(report.errors));
  assert.equal(target.folders.get('Work/Projects')!.messages.size, 5);

  // Deleted while the run appends into it: the APPEND answers TRYCREATE.
  const fresh = makeTarget();
  const store = fresh.store();
  let deleted = false;
  const flaky = new Proxy(store, {
    get(obj, prop, receiver) {
      if (prop === 'append') {
        return async (path: string, items: Parameters<typeof store.append>[1]) => {
          if (path === 'INBOX' && !deleted) { deleted = true; fresh.folders.delete('INBOX'); }
          return obj.append(path, items);
        };
      }
      const value = Reflect.get(obj, prop, receiver) as unknown;
      return typeof value === 'function' ? value.bind(obj) : value;
    },
  });
  const mid = await migrateMailbox({ openSource: async () => source.store(), openTarget: async () => flaky, state: new MemoryState(), clock }, options);
  assert.equal(mid.status, 'completed', JSON.stringify(mid.errors));
  assert.ok(deleted);
  assert.equal(fresh.folders.get('INBOX')!.messages.size, source.folders.get('INBOX')!.messages.size);
  assert.equal(mid.verification?.consistent, true);
});

test('an unrecoverable failure is reported with the catalog\'s wording, not thrown', async () => {
  const source = makeSource();
  const report = await migrateMailbox({
    openSource: async () => { throw new MailshiftError('AUTH_FAILED', { user: 'alice', host: 'imap.example.com' }); },
    openTarget: async () => makeTarget().store(), state: new MemoryState(), clock,
  }, options);
  assert.equal(report.status, 'failed');
  assert.equal(report.errors[0]!.code, 'AUTH_FAILED');
  assert.match(report.errors[0]!.message, /We had trouble signing in to this account/);
  assert.match(report.errors[0]!.remediation, /alice on imap\.example\.com/);
  void source;
});

test('keywords the target does not accept are dropped, counted and reported, never silently', async () => {
  const source = makeSource();
  const target = new MemoryMailServer(undefined, ['\\Seen', '\\Answered', '\\Flagged', '\\Draft', '\\Deleted']);
  target.addFolder('Sent Items', '\\Sent');
  const { report } = await run(source, target, new MemoryState(), null);
  assert.equal(report.status, 'completed', JSON.stringify(report.errors));
  assert.equal(report.totals.keywordsDropped, 2);
  assert.ok(report.warnings.some((w) => /does not accept the keyword\(s\) \$Label1/.test(w)), report.warnings.join('\n'));
  assert.ok(report.warnings.some((w) => /"Work\/Projects" does not accept the keyword\(s\) Work/.test(w)), report.warnings.join('\n'));
  const inbox = [...target.folders.get('INBOX')!.messages.values()];
  assert.ok(inbox.every((m) => ![...m.flags].includes('$Label1')));
  assert.ok(inbox.some((m) => m.flags.has('\\Seen')));
});

test('with three folders copied in parallel, a crash after any step still converges', async () => {
  const baselineTarget = makeTarget();
  const { steps, report } = await run(makeSource(), baselineTarget, new MemoryState(), null, 3);
  assert.equal(report.status, 'completed');
  const expected = snapshot(baselineTarget);
  for (let k = 1; k <= steps; k++) {
    const source = makeSource();
    const target = makeTarget();
    const state = new MemoryState();
    await run(source, target, state, k, 3);
    const resumed = await run(source, target, state, null, 3);
    assert.equal(resumed.report.status, 'completed', `parallel resume after crash at ${k}: ${JSON.stringify(resumed.report.errors)}`);
    assert.deepEqual(snapshot(target), expected, `parallel: target differs after crash at step ${k}`);
  }
});

test('with LIST-STATUS the largest folders are copied first, and the progress total comes from the listing', async () => {
  const migrate = async (capabilities: Set<string>, wantTotal: boolean) => {
    const source = makeSource(capabilities);
    for (let i = 0; i < 20; i++) source.add('Work/Projects', message(`wx${i}`, `More work ${i}`), [], Date.UTC(2021, 0, 1));
    const order: string[] = [];
    let total = -1;
    const report = await migrateMailbox({
      openSource: async () => source.store(), openTarget: async () => makeTarget().store(), state: new MemoryState(), clock,
      observer: { onFolderStart: (f) => order.push(f.sourcePath), ...(wantTotal ? { onSourceTotal: (n: number) => { total = n; } } : {}) },
    }, options);
    assert.equal(report.status, 'completed', JSON.stringify(report.errors));
    return { order, total };
  };
  // Work/Projects 24, INBOX 17, Sent 5, Émoji 1.
  const bySize = ['Work/Projects', 'INBOX', 'Sent', 'Émoji 🎉'];
  assert.deepEqual((await migrate(new Set(['UIDPLUS', 'CONDSTORE', 'LIST-STATUS']), false)).order, bySize, 'LIST-STATUS alone gives the counts');
  const withTotal = await migrate(new Set(['UIDPLUS', 'CONDSTORE', 'LIST-STATUS']), true);
  assert.deepEqual(withTotal.order, bySize);
  assert.equal(withTotal.total, 47);
  // Without LIST-STATUS and without a progress total, no STATUS round trips: plan order.
  assert.notDeepEqual((await migrate(new Set(['UIDPLUS', 'CONDSTORE']), false)).order, bySize);
});

test('a folder the target refuses to create is reported and skipped with its subtree; the others are created and copied', async () => {
  const source = makeSource();
  source.add('Work/Projects/Deep', message('deep', 'Deep'), [], Date.UTC(2021, 0, 1));
  const target = makeTarget();
  const refuse = new Set(['Émoji 🎉', 'Work/Projects']);
  const store = (): ReturnType<typeof target.store> => {
    const inner = target.store();
    return new Proxy(inner, {
      get(obj, prop, receiver) {
        if (prop === 'createFolder') {
          return async (path: string) => {
            if (refuse.has(path)) throw new MailshiftError('IMAP_PROTOCOL', { host: 'memory', detail: `NO [CANNOT] refusing ${path}` });
            return obj.createFolder(path);
          };
        }
        const value = Reflect.get(obj, prop, receiver) as unknown;
        return typeof value === 'function' ? value.bind(obj) : value;
      },
    });
  };
  const report = await migrateMailbox({ openSource: async () => source.store(), openTarget: async () => store(), state: new MemoryState(), clock }, { ...options, folderConcurrency: 2 });
  assert.equal(report.status, 'completed-with-errors');
  const failed = report.errors.filter((e) => e.code === 'TARGET_FOLDER_CREATE_FAILED').map((e) => e.folder).sort();
  assert.deepEqual(failed, ['Work/Projects', 'Émoji 🎉']);
  // Work/Projects is a parent (created first, serially): its subfolder is not attempted.
  assert.equal(target.folders.has('Work/Projects/Deep'), false);
  assert.equal(target.folders.get('INBOX')!.messages.size, source.folders.get('INBOX')!.messages.size);
  assert.equal(target.folders.get('Sent Items')!.messages.size, 5);
  assert.equal(report.totals.foldersCreated, 1, 'the parent Work');
  assert.ok(target.folders.has('Work'));
});
