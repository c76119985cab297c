/**
 * What the engine holds while it copies. Memory: the byte budget bounds the message bodies a process
 * holds, not only the ones it has asked for (a folder worker waiting for its next batch must not
 * keep the batch it already copied alive). Connections: which are open when, and how many workers
 * the work gets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { migrateMailbox } from '../src/engine/mailbox-migration.js';
import { ByteBudget } from '../src/engine/byte-budget.js';
import { ConnectionBudget } from '../src/engine/connection-budget.js';
import { DEFAULT_SYNC_OPTIONS } from '../src/engine/sync-options.js';
import type { MailStore } from '../src/engine/ports.js';
import type { AppendItem, AppendOutcome, FetchedMessage } from '../src/domain/mail-types.js';
import { MailshiftError } from '../src/domain/errors.js';
import type { MigrationReport } from '../src/engine/migration-report.js';
import { allocateMessageBytes, LARGE_MESSAGE_BYTES, releaseMessageBytes } from '../src/domain/message-bytes.js';
import { MemoryMailServer } from './support/memory-mail-server.js';
import { MemoryState } from './support/memory-state.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const BODY = 200_000;

function message(folder: string, i: number): Buffer {
  const head = `Message-ID: <${folder}-${i}@example.com>\r\nSubject: ${folder} ${i}\r\nFrom: a@example.com\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), Buffer.alloc(BODY, 0x41 + i)]);
}

test('a folder worker waiting for byte budget holds no batch it has already copied', async () => {
  const source = new MemoryMailServer();
  const target = new MemoryMailServer();
  for (const folder of ['Alpha', 'Beta', 'Gamma']) for (let i = 0; i < 6; i++) source.add(folder, message(folder, i));
  const size = message('Alpha', 0).length;
  // Room for two one-message batches: one being copied, the next one fetched.
  const budget = new ByteBudget(2 * size + 1000);

  // Every body the engine receives is a fresh copy, so the source keeps none of them alive.
  const fetched: Array<WeakRef<Buffer>> = [];
  let worst = 0;
  let checks = 0;
  const measure = (): void => {
    gc();
    const alive = fetched.filter((ref) => ref.deref() !== undefined).length;
    worst = Math.max(worst, alive);
    checks++;
  };
  const wrapSource = (store: MailStore): MailStore => Object.assign(Object.create(store) as MailStore, {
    async *fetchMessages(this: MailStore, uids: readonly number[]): AsyncIterable<FetchedMessage> {
      for await (const m of store.fetchMessages.call(this, uids)) {
        const raw = Buffer.from(m.raw);
        fetched.push(new WeakRef(raw));
        yield { ...m, raw };
      }
    },
  });
  // Object.create: the wrapper is the store (its open folder is state on `this`) with one method replaced.
  // The target keeps copies (not the engine's buffers) and answers slowly, so workers queue on the
  // budget while what is alive is measured every millisecond.
  const wrapTarget = (store: MailStore): MailStore => Object.assign(Object.create(store) as MailStore, {
    async append(this: MailStore, folder: string, items: Parameters<MailStore['append']>[1]) {
      const copies = items.map((item) => ({ ...item, raw: Buffer.from(item.raw) }));
      await sleep(5);
      return store.append.call(this, folder, copies);
    },
  });

  const timer = setInterval(measure, 1);
  const report = await migrateMailbox({
    openSource: async () => wrapSource(source.store()), openTarget: async () => wrapTarget(target.store()),
    state: new MemoryState(), clock: { now: () => Date.now(), sleep: async () => undefined }, byteBudget: budget,
  }, {
    ...DEFAULT_SYNC_OPTIONS, batchMessages: 1, batchBytes: size, rules: {}, dryRun: false, verify: false, maxRetries: 0,
    folderConcurrency: 3, sourceLabel: 'source', targetLabel: 'target',
  });

  clearInterval(timer);
  assert.equal(report.status, 'completed', JSON.stringify(report.errors));
  assert.equal(report.totals.transferred, 18);
  assert.ok(checks >= 10, `measured ${checks} times`);
  // Two messages fit in the budget; a third alive is one held past its release.
  assert.ok(worst <= 2, `${worst} fetched messages alive at once with budget for 2`);
});

test('message bytes: large ones get their own releasable mapping; small ones, slices and foreign buffers are left alone', () => {
  const large = allocateMessageBytes(LARGE_MESSAGE_BYTES + 5);
  large.fill(7);
  const small = allocateMessageBytes(1000);
  small.fill(7);
  const foreign = Buffer.alloc(LARGE_MESSAGE_BYTES * 2, 7);
  const slice = allocateMessageBytes(LARGE_MESSAGE_BYTES * 2).subarray(10, 20);
  for (const b of [small, foreign, slice]) releaseMessageBytes(b);
  assert.equal(small.length, 1000);
  assert.equal(foreign.length, LARGE_MESSAGE_BYTES * 2);
  assert.equal(slice.length, 10);
  assert.equal(large.length, LARGE_MESSAGE_BYTES + 5);
  releaseMessageBytes(large);
  assert.equal(large.length, 0);
});

test('a large message is released only after its append was answered and committed, and the target has every byte', async () => {
  const source = new MemoryMailServer();
  const target = new MemoryMailServer();
  const body = (i: number): Buffer => Buffer.concat([
    Buffer.from(`Message-ID: <big-${i}@example.com>\r\nSubject: big ${i}\r\n\r\n`), Buffer.alloc(LARGE_MESSAGE_BYTES + i * 1000, 0x61 + i)]);
  for (let i = 0; i < 4; i++) source.add('INBOX', body(i));
  source.add('INBOX', Buffer.from('Message-ID: <small@example.com>\r\nSubject: small\r\n\r\nhi\r\n'));
  // As the raw fetch hands them out: each body in a buffer of its own from allocateMessageBytes.
  const handedOut: Buffer[] = [];
  const wrapSource = (store: MailStore): MailStore => Object.assign(Object.create(store) as MailStore, {
    async *fetchMessages(this: MailStore, uids: readonly number[]): AsyncIterable<FetchedMessage> {
      for await (const m of store.fetchMessages.call(this, uids)) {
        const raw = allocateMessageBytes(m.raw.length);
        m.raw.copy(raw);
        handedOut.push(raw);
        yield { ...m, raw };
      }
    },
  });
  let appended = 0;
  const wrapTarget = (store: MailStore): MailStore => Object.assign(Object.create(store) as MailStore, {
    async append(this: MailStore, folder: string, items: Parameters<MailStore['append']>[1]) {
      const lengths = items.map((item) => item.raw.length);
      // The server is still receiving: nothing may have been released yet.
      await sleep(20);
      assert.deepEqual(items.map((item) => item.raw.length), lengths, 'released while the append was under way');
      appended += items.length;
      return store.append.call(this, folder, items);
    },
  });
  const report = await migrateMailbox({
    openSource: async () => wrapSource(source.store()), openTarget: async () => wrapTarget(target.store()),
    state: new MemoryState(), clock: { now: () => Date.now(), sleep: async () => undefined }, byteBudget: new ByteBudget(64 * 1024 * 1024),
  }, {
    ...DEFAULT_SYNC_OPTIONS, batchMessages: 2, rules: {}, dryRun: false, verify: false, maxRetries: 0,
    folderConcurrency: 1, sourceLabel: 'source', targetLabel: 'target',
  });
  assert.equal(report.status, 'completed', JSON.stringify(report.errors));
  assert.equal(appended, 5);
  assert.equal(handedOut.length, 5);
  // The four large ones were given back, the small one is the GC's.
  assert.equal(handedOut.filter((b) => b.length === 0).length, 4);
  const onTarget = [...target.folders.get('INBOX')!.messages.values()].map((m) => m.raw.toString('latin1')).sort();
  const expected = [...source.folders.get('INBOX')!.messages.values()].map((m) => m.raw.toString('latin1')).sort();
  assert.deepEqual(onTarget, expected);
});

test('the other folder workers\' connections are closed before the verification, which uses the first pair', async () => {
  const source = new MemoryMailServer();
  const target = new MemoryMailServer();
  for (const folder of ['Alpha', 'Beta', 'Gamma', 'Delta']) for (let i = 0; i < 3; i++) source.add(folder, message(folder, i));
  const open = new Set<MailStore>();
  let openDuringVerify: number | null = null;
  const track = (store: MailStore, side: 'source' | 'target'): MailStore => {
    const wrapped: MailStore = Object.assign(Object.create(store) as MailStore, {
      async close(this: MailStore) {
        open.delete(wrapped);
        return store.close.call(this);
      },
      fetchMeta(this: MailStore, uids: readonly number[] | 'all', options?: { changedSince?: bigint }) {
        // Only the verification lists a target folder's messages.
        if (side === 'target' && openDuringVerify === null) openDuringVerify = open.size;
        return store.fetchMeta.call(this, uids, options);
      },
    });
    open.add(wrapped);
    return wrapped;
  };
  const report = await migrateMailbox({
    openSource: async () => track(source.store(), 'source'), openTarget: async () => track(target.store(), 'target'),
    state: new MemoryState(), clock: { now: () => Date.now(), sleep: async () => undefined }, byteBudget: new ByteBudget(64 * 1024 * 1024),
  }, {
    ...DEFAULT_SYNC_OPTIONS, rules: {}, dryRun: false, verify: true, maxRetries: 0,
    folderConcurrency: 3, sourceLabel: 'source', targetLabel: 'target',
  });
  assert.equal(report.status, 'completed', JSON.stringify(report.errors));
  assert.equal(report.verification?.consistent, true);
  assert.equal(openDuringVerify, 2, 'only the first source/target pair is open while verifying');
  assert.equal(open.size, 0, 'everything is closed at the end');
});

test('connections are prepared ahead: every source store\'s fetch as it is opened, and a target\'s append only for folders with new messages', async () => {
  const source = new MemoryMailServer();
  const target = new MemoryMailServer();
  for (const folder of ['Alpha', 'Beta', 'Gamma', 'Delta']) for (let i = 0; i < 3; i++) source.add(folder, message(folder, i));
  const state = new MemoryState();
  let prepared: string[] = [];
  let sourceStores = 0;
  const track = (store: MailStore, side: 'source' | 'target'): MailStore => {
    let folder = '';
    return Object.assign(Object.create(store) as MailStore, {
      openFolder(this: MailStore, path: string, options: { readOnly: boolean }) {
        folder = path;
        return store.openFolder.call(this, path, options);
      },
      prepare(use: 'fetch' | 'append') {
        prepared.push(side === 'source' ? `source ${use}` : `target ${use} ${folder}`);
      },
    });
  };
  const run = () => migrateMailbox({
    // The fetch connection is asked for when the store is opened (the adapter opens both at once).
    openSource: async (options) => {
      sourceStores++;
      for (const use of options?.prepare ?? []) prepared.push(`source ${use}`);
      return track(source.store(), 'source');
    },
    openTarget: async () => track(target.store(), 'target'),
    state, clock: { now: () => Date.now(), sleep: async () => undefined }, byteBudget: new ByteBudget(64 * 1024 * 1024),
  }, {
    ...DEFAULT_SYNC_OPTIONS, rules: {}, dryRun: false, verify: false, maxRetries: 0,
    folderConcurrency: 3, sourceLabel: 'source', targetLabel: 'target',
  });

  assert.equal((await run()).status, 'completed');
  assert.equal(prepared.filter((p) => p === 'source fetch').length, sourceStores, 'each source store, once');
  assert.ok(sourceStores > 1, 'extra folder workers too');
  assert.deepEqual(prepared.filter((p) => p.startsWith('target')).sort(),
    ['target append Alpha', 'target append Beta', 'target append Delta', 'target append Gamma'], 'not for the empty INBOX');

  // Nothing new: no APPEND connection is opened for nothing. One new message in Beta: only there.
  prepared = [];
  assert.equal((await run()).status, 'completed');
  assert.deepEqual(prepared.filter((p) => p.startsWith('target')), []);
  source.add('Beta', message('Beta', 9));
  prepared = [];
  const report = await run();
  assert.equal(report.totals.transferred, 1);
  assert.deepEqual(prepared.filter((p) => p.startsWith('target')), ['target append Beta']);
});

test('folder workers follow the work: one for a small mailbox, more for many new messages, one for a re-run with little new', async () => {
  const caps = new Set(['IMAP4REV1', 'UIDPLUS', 'CONDSTORE', 'SPECIAL-USE', 'LITERAL+', 'MULTIAPPEND', 'LIST-STATUS']);
  const source = new MemoryMailServer(caps);
  const target = new MemoryMailServer(caps);
  for (const folder of ['Alpha', 'Beta', 'Gamma', 'Delta']) for (let i = 0; i < 3; i++) source.add(folder, message(folder, i));
  const state = new MemoryState();
  let opened = 0;
  const run = (messagesPerFolderWorker?: number) => {
    opened = 0;
    return migrateMailbox({
      openSource: async () => {
        opened++;
        return source.store();
      },
      openTarget: async () => target.store(),
      state, clock: { now: () => Date.now(), sleep: async () => undefined }, byteBudget: new ByteBudget(64 * 1024 * 1024),
    }, {
      ...DEFAULT_SYNC_OPTIONS, rules: {}, dryRun: false, verify: false, maxRetries: 0,
      folderConcurrency: 3, ...(messagesPerFolderWorker ? { messagesPerFolderWorker } : {}), sourceLabel: 'source', targetLabel: 'target',
    });
  };

  // 12 new messages, 500 per worker by default: one worker copies all four folders.
  let report = await run();
  assert.equal(report.totals.transferred, 12);
  assert.equal(opened, 1, 'one source connection pair');
  // Nothing new, even at 2 messages per worker: one.
  report = await run(2);
  assert.equal(report.totals.transferred, 0);
  assert.equal(opened, 1);
  // 6 new messages at 2 per worker: three, the cap.
  for (const folder of ['Alpha', 'Beta', 'Gamma']) for (let i = 3; i < 5; i++) source.add(folder, message(folder, i));
  report = await run(2);
  assert.equal(report.totals.transferred, 6);
  assert.equal(opened, 3);
  // 3 new messages at 2 per worker: two.
  for (const folder of ['Alpha', 'Beta', 'Delta']) source.add(folder, message(folder, 7));
  report = await run(2);
  assert.equal(report.totals.transferred, 3);
  assert.equal(opened, 2);
  // Counts unknown (no LIST-STATUS): --folder-concurrency, as before.
  caps.delete('LIST-STATUS');
  source.add('Alpha', message('Alpha', 8));
  report = await run();
  assert.equal(report.totals.transferred, 1);
  assert.equal(opened, 3);
});

test('mailboxes copied at once share --max-connections per server: every mailbox gets its first worker, extra workers only while connections are left on both its servers', async () => {
  const caps = new Set(['IMAP4REV1', 'UIDPLUS', 'CONDSTORE', 'SPECIAL-USE', 'LITERAL+', 'MULTIAPPEND', 'LIST-STATUS']);
  const mailbox = (budget: ConnectionBudget, sourceServer = 'src:993', targetServer = 'dst:993') => {
    const source = new MemoryMailServer(caps);
    const target = new MemoryMailServer(caps);
    for (const folder of ['Alpha', 'Beta', 'Gamma', 'Delta']) for (let i = 0; i < 3; i++) source.add(folder, message(folder, i));
    let opened = 0;
    let peak = 0;
    const run = () => migrateMailbox({
      openSource: async () => {
        opened++;
        peak = Math.max(peak, budget.inUse(sourceServer), budget.inUse(targetServer));
        return source.store();
      },
      openTarget: async () => target.store(),
      state: new MemoryState(), clock: { now: () => Date.now(), sleep: async () => undefined }, byteBudget: new ByteBudget(64 * 1024 * 1024),
      connectionBudget: budget.between(sourceServer, targetServer),
    }, {
      ...DEFAULT_SYNC_OPTIONS, rules: {}, dryRun: false, verify: true, maxRetries: 0,
      folderConcurrency: 3, messagesPerFolderWorker: 2, sourceLabel: 'source', targetLabel: 'target',
    });
    return { target, run, opened: () => opened, peak: () => peak };
  };
  // Three mailboxes of 12 new messages each want 3 workers each (6 connections per server): 8 allow
  // 4 workers in all, and the third mailbox still runs, on its first worker.
  const shared = new ConnectionBudget(8);
  const boxes = [mailbox(shared), mailbox(shared), mailbox(shared)];
  const reports = await Promise.all(boxes.map((b) => b.run()));
  for (const [i, report] of reports.entries()) assertEachCopiedOnce(report, boxes[i]!.target);
  assert.equal(boxes.reduce((n, b) => n + b.opened(), 0), 5, 'three first workers, and the two extra ones that 8 connections allow');
  assert.ok(boxes.every((b) => b.peak() <= 8 + 2 * 2), 'over the budget only by first workers');
  assert.deepEqual([shared.inUse('src:993'), shared.inUse('dst:993')], [0, 0], 'every connection counted is given back');
  // Mailboxes of other servers do not count against these; one that shares the target does.
  const other = new ConnectionBudget(8);
  const apart = [mailbox(other, 'a:993', 'b:993'), mailbox(other, 'c:993', 'd:993'), mailbox(other, 'e:993', 'b:993')];
  await Promise.all(apart.map((b) => b.run()));
  assert.equal(apart[1]!.opened(), 3, 'alone on its servers: all three workers');
  assert.equal(apart[0]!.opened() + apart[2]!.opened(), 4, 'the two that share server b: 8 connections there');
  // Alone, a mailbox gets the workers the budget has room for: 4 connections, 2 workers; 2 when
  // both sides are accounts of one server (4 connections per worker there).
  const alone = mailbox(new ConnectionBudget(4));
  assertEachCopiedOnce(await alone.run(), alone.target);
  assert.equal(alone.opened(), 2);
  const oneServer = mailbox(new ConnectionBudget(8), 'same:993', 'same:993');
  assertEachCopiedOnce(await oneServer.run(), oneServer.target);
  assert.equal(oneServer.opened(), 2);
});

/** Four folders of three messages each, copied in one attempt, each message once, verified. */
function assertEachCopiedOnce(report: MigrationReport, target: MemoryMailServer): void {
  assert.equal(report.status, 'completed', JSON.stringify(report.errors));
  assert.equal(report.totals.transferred, 12);
  assert.equal(report.totals.retries, 0);
  assert.equal(report.verification?.consistent, true);
  for (const folder of ['Alpha', 'Beta', 'Gamma', 'Delta']) assert.equal(target.folders.get(folder)?.messages.size, 3, `${folder}: every message once`);
}

test('a server that refuses more connections for the account: the workers it accepted copy every folder once, with a warning', async () => {
  const caps = new Set(['IMAP4REV1', 'UIDPLUS', 'CONDSTORE', 'SPECIAL-USE', 'LITERAL+', 'MULTIAPPEND', 'LIST-STATUS']);
  const source = new MemoryMailServer(caps);
  const target = new MemoryMailServer(caps);
  for (const folder of ['Alpha', 'Beta', 'Gamma', 'Delta']) for (let i = 0; i < 3; i++) source.add(folder, message(folder, i));
  const refusal = () => new MailshiftError('CONN_TOO_MANY', { host: 'imap.example.com', detail: '[LIMIT] Maximum number of connections from user+IP exceeded' });
  let sources = 0;
  let targets = 0;
  let refusedAppends = 0;
  const report = await migrateMailbox({
    // The third pair cannot log in on the source side.
    openSource: async () => {
      if (++sources === 3) throw refusal();
      return source.store();
    },
    // The second pair's target refuses its APPEND connection when first used, mid-folder, and only
    // after the first worker has copied every other folder and found the queue empty.
    openTarget: async () => {
      const store = target.store();
      if (++targets !== 2) return store;
      return Object.assign(Object.create(store) as MailStore, {
        async append(): Promise<never> {
          refusedAppends++;
          await sleep(100);
          throw refusal();
        },
      });
    },
    state: new MemoryState(), clock: { now: () => Date.now(), sleep: async () => undefined }, byteBudget: new ByteBudget(64 * 1024 * 1024),
  }, {
    ...DEFAULT_SYNC_OPTIONS, rules: {}, dryRun: false, verify: true, maxRetries: 0,
    folderConcurrency: 3, messagesPerFolderWorker: 2, sourceLabel: 'source', targetLabel: 'target',
  });
  assert.equal(sources, 3, 'three workers were wanted');
  assert.equal(refusedAppends, 1, 'the second worker stopped at its first refusal');
  assertEachCopiedOnce(report, target);
  assert.deepEqual(report.warnings.filter((w) => w.includes('refused more connections')), [
    'The server imap.example.com refused more connections for this account ([LIMIT] Maximum number of connections from user+IP exceeded); the migration went on with 1 folder worker(s) instead of 3.',
  ]);
});

test('the last worker refused while another gave its connections up tries again once they are closed', async () => {
  const caps = new Set(['IMAP4REV1', 'UIDPLUS', 'CONDSTORE', 'SPECIAL-USE', 'LITERAL+', 'MULTIAPPEND', 'LIST-STATUS']);
  const source = new MemoryMailServer(caps);
  const target = new MemoryMailServer(caps);
  for (const folder of ['Alpha', 'Beta', 'Gamma', 'Delta']) for (let i = 0; i < 3; i++) source.add(folder, message(folder, i));
  // A target that gives the account one APPEND connection: an append refused while two stores are open.
  let open = 0;
  let refusals = 0;
  const report = await migrateMailbox({
    openSource: async () => source.store(),
    openTarget: async () => {
      const store = target.store();
      open++;
      return Object.assign(Object.create(store) as MailStore, {
        async append(this: MailStore, path: string, items: readonly AppendItem[]): Promise<AppendOutcome[]> {
          const crowded = open > 1;
          // Both workers ask before either is answered.
          await sleep(20);
          if (crowded) {
            refusals++;
            throw new MailshiftError('CONN_TOO_MANY', { host: 'imap.example.com', detail: '[LIMIT] Maximum number of connections from user+IP exceeded' });
          }
          return store.append.call(this, path, items);
        },
        async close(this: MailStore): Promise<void> {
          open--;
          await store.close.call(this);
        },
      });
    },
    state: new MemoryState(), clock: { now: () => Date.now(), sleep: async () => undefined }, byteBudget: new ByteBudget(64 * 1024 * 1024),
  }, {
    ...DEFAULT_SYNC_OPTIONS, rules: {}, dryRun: false, verify: true, maxRetries: 0,
    folderConcurrency: 2, messagesPerFolderWorker: 2, sourceLabel: 'source', targetLabel: 'target',
  });
  assert.equal(refusals, 2, 'both workers were refused once');
  assertEachCopiedOnce(report, target);
  assert.ok(report.warnings.some((w) => w.endsWith('went on with 1 folder worker(s) instead of 2.')), report.warnings.join('\n'));
});
