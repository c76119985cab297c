/**
 * The byte budget bounds the message bodies a process holds, not only the ones it has asked for:
 * a folder worker waiting for its next batch must not keep the batch it already copied alive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { migrateMailbox } from '../src/engine/mailbox-migration.js';
import { ByteBudget } from '../src/engine/byte-budget.js';
import { DEFAULT_SYNC_OPTIONS } from '../src/engine/sync-options.js';
import type { MailStore } from '../src/engine/ports.js';
import type { FetchedMessage } from '../src/domain/mail-types.js';
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
