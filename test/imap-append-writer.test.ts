/** The pipelined APPEND writer against a real Dovecot (src/testbed), in every mode. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotAvailable, startDovecot, type DovecotServer } from '../src/testbed/dovecot-server.js';
import { AppendBatchError, AppendWriter, type ResolvedAppendMode } from '../src/imap/append-writer.js';
import { openMailStore } from '../src/imap/imapflow-mail-store.js';
import { MailshiftError } from '../src/domain/errors.js';
import type { MailStore } from '../src/engine/ports.js';
import type { FetchedMessage } from '../src/domain/mail-types.js';
import { collect, makeItems, rejectsWith, settingsFor, sortedFlags } from './imap-support.js';
import { startDelayProxy } from '../bench/delay-proxy.js';

const PASSWORD = 'writer-Pa55';



describe('pipelined APPEND writer against Dovecot', { skip: !dovecotAvailable() && 'needs root and dovecot' }, () => {
  let server: DovecotServer;
  let reader: MailStore;

  before(async () => {
    server = await startDovecot({
      name: 'imap-append',
      folderStyle: 'dovecot',
      users: [
        { user: 'bob', password: PASSWORD },
        ...['multiappend', 'literal-plus', 'sync'].map((mode) => ({ user: `tiny-${mode}`, password: PASSWORD, quotaBytes: 60_000 })),
      ],
      masterUser: { user: 'mailadmin', password: 'admin-Pa55' },
    });
    reader = await openMailStore(settingsFor(server, 'bob', PASSWORD), { side: 'target' });
  });
  after(async () => {
    await reader?.close();
    await server?.stop();
  });

  for (const mode of ['multiappend', 'literal-plus', 'sync'] as const satisfies readonly ResolvedAppendMode[]) {
    test(`${mode}: 300 messages with flags and dates read back byte-identical with the APPENDUID uids`, async () => {
      const folder = `Mode ${mode} ✉`;
      await reader.createFolder(folder);
      // Sizes straddle LITERAL-'s 4096-octet limit; maxBatchCount 64 forces several MULTIAPPENDs.
      const items = makeItems(300, 3000);
      const writer = await AppendWriter.open(settingsFor(server, 'bob', PASSWORD), { side: 'target' }, { mode, maxBatchCount: 64 });
      assert.equal(writer.mode, mode);
      const outcomes = await writer.appendOrThrow(folder, items);
      const stats = writer.stats();
      await writer.close();
      assert.equal(stats.messages, 300);
      assert.equal(stats.commands, mode === 'multiappend' ? 5 : 300);
      assert.equal(stats.syncLiterals, mode === 'sync' ? 300 : 0);

      const status = await reader.openFolder(folder, { readOnly: true });
      assert.equal(status.messages, 300);
      assert.ok(outcomes.every((o) => o.uidValidity === status.uidValidity));
      const uids = await reader.listUids();
      assert.deepEqual(outcomes.map((o) => o.uid), uids);
      const messages: FetchedMessage[] = await collect(reader.fetchMessages(uids));
      assert.equal(messages.length, 300);
      messages.forEach((m, i) => {
        const item = items[i]!;
        assert.equal(m.uid, outcomes[i]!.uid);
        assert.ok(m.raw.equals(item.raw), `bytes of message ${i}`);
        assert.deepEqual(sortedFlags(m.flags), sortedFlags(item.flags), `flags of message ${i}`);
        assert.equal(m.internalDate, item.internalDate, `date of message ${i}`);
      });
    });
  }

  test('auto picks MULTIAPPEND on Dovecot; the store delegates append() to the writer', async () => {
    const writer = await AppendWriter.open(settingsFor(server, 'bob', PASSWORD, 'ssl'), { side: 'target' });
    assert.equal(writer.mode, 'multiappend');
    await writer.close();
    const store = await openMailStore(settingsFor(server, 'bob', PASSWORD, 'ssl'), { side: 'target' });
    await store.createFolder('Via Store');
    const first = await store.append('Via Store', makeItems(3, 800));
    const second = await store.append('Via Store', makeItems(2, 800, 3));
    assert.deepEqual([...first, ...second].map((o) => o.uid), [1, 2, 3, 4, 5]);
    await store.close();
  });

  test('pipelined calls: a second append() is written while the first waits for its answer, and both land in call order', async () => {
    // 150 ms each way: the first call's answer cannot be back before the second call is written.
    const proxy = await startDelayProxy(server.imapPort, 150);
    try {
      const store = await openMailStore(settingsFor(server, 'bob', PASSWORD), { side: 'target' });
      await store.createFolder('Pipelined');
      await store.close();
      const writer = await AppendWriter.open({ ...settingsFor(server, 'bob', PASSWORD), port: proxy.port }, { side: 'target' }, { mode: 'multiappend' });
      const calls = [writer.append('Pipelined', makeItems(20, 2000)), writer.append('Pipelined', makeItems(20, 2000, 20)), writer.append('Pipelined', makeItems(5, 2000, 40))];
      const results = await Promise.all(calls);
      const uids = results.flat().map((r) => (r.status === 'stored' ? r.uid : null));
      assert.deepEqual(uids, Array.from({ length: 45 }, (_, i) => i + 1), 'every message stored, UIDs in call order');
      assert.equal(writer.stats().commands, 3);
      assert.equal(writer.stats().maxCommandsInFlight, 3, 'all three commands were written before the first answer');
      await writer.close();
      await reader.openFolder('Pipelined', { readOnly: true });
      const back = await collect(reader.fetchMessages(uids as number[]));
      assert.equal(back.length, 45);
    } finally {
      await proxy.close();
    }
  });

  test('a missing folder is IMAP_PROTOCOL with responseCode TRYCREATE; nothing is stored', async () => {
    for (const mode of ['multiappend', 'literal-plus', 'sync'] as const) {
      const writer = await AppendWriter.open(settingsFor(server, 'bob', PASSWORD), { side: 'target' }, { mode });
      const results = await writer.append('No Such Folder', makeItems(5, 6000));
      assert.ok(results.every((r) => r.status === 'rejected' || r.status === 'not-sent'), mode);
      const err = await rejectsWith(writer.appendOrThrow('No Such Folder', makeItems(2, 100)), 'IMAP_PROTOCOL', [PASSWORD]);
      assert.equal(err.params.responseCode, 'TRYCREATE');
      assert.equal(err.params.folder, 'No Such Folder');
      // The connection stays in step after the refused literals.
      await reader.createFolder(`After TRYCREATE ${mode}`);
      assert.equal((await writer.appendOrThrow(`After TRYCREATE ${mode}`, makeItems(2, 5000))).length, 2);
      await writer.close();
    }
  });

  test('over quota: TARGET_OVERQUOTA, and exactly the items reported stored are on the server', async () => {
    for (const mode of ['multiappend', 'literal-plus', 'sync'] as const) {
      const folder = `Quota ${mode}`;
      const user = `tiny-${mode}`;
      const admin = await openMailStore(settingsFor(server, user, PASSWORD), { side: 'target' });
      await admin.createFolder(folder);
      const writer = await AppendWriter.open(settingsFor(server, user, PASSWORD), { side: 'target' }, { mode, maxBatchCount: 4 });
      let caught: unknown;
      try {
        await writer.appendOrThrow(folder, makeItems(20, 5000));
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof AppendBatchError, `expected AppendBatchError (${mode}), got ${String(caught)}`);
      assert.equal(caught.code, 'TARGET_OVERQUOTA');
      assert.equal(caught.params.user, user);
      const stored = caught.results.filter((r) => r.status === 'stored');
      assert.ok(stored.length > 0 && stored.length < 20, `${mode}: ${stored.length} stored`);
      assert.ok(caught.results.every((r) => r.status !== 'unknown'));
      const status = await admin.openFolder(folder, { readOnly: true });
      assert.equal(status.messages, stored.length, `${mode}: server count vs reported`);
      await writer.close();
      await admin.close();
    }
  });

  test('wrong password is AUTH_FAILED; LOGIN as master user with SASL PLAIN authzid works', async () => {
    await rejectsWith(AppendWriter.open({ ...settingsFor(server, 'bob', PASSWORD), password: 'nope' }, { side: 'target' }), 'AUTH_FAILED', [PASSWORD]);
    const writer = await AppendWriter.open({ ...settingsFor(server, 'mailadmin', 'admin-Pa55'), authzid: 'bob' }, { side: 'target' });
    await reader.createFolder('Impersonated');
    const [outcome] = await writer.appendOrThrow('Impersonated', makeItems(1, 500));
    assert.equal(outcome?.uid, 1);
    await writer.close();
    await reader.openFolder('Impersonated', { readOnly: true });
    assert.deepEqual(await reader.listUids(), [1]);
  });

  test('implicit TLS works with the CA; without it the writer fails with TLS_UNTRUSTED', async () => {
    const ok = await AppendWriter.open(settingsFor(server, 'bob', PASSWORD, 'ssl'), { side: 'target' });
    await ok.close();
    const { ca: _ca, ...noCa } = settingsFor(server, 'bob', PASSWORD, 'ssl');
    await rejectsWith(AppendWriter.open(noCa, { side: 'target' }), 'TLS_UNTRUSTED', [PASSWORD]);
    const { ca: _ca2, ...noCaStarttls } = settingsFor(server, 'bob', PASSWORD, 'starttls');
    await rejectsWith(AppendWriter.open(noCaStarttls, { side: 'target' }), 'TLS_UNTRUSTED', [PASSWORD]);
  });

  test('invalid keywords are dropped, not sent; an empty batch is a no-op', async () => {
    await reader.createFolder('Keywords');
    const writer = await AppendWriter.open(settingsFor(server, 'bob', PASSWORD), { side: 'target' });
    assert.deepEqual(await writer.append('Keywords', []), []);
    const [item] = makeItems(1, 500);
    await writer.appendOrThrow('Keywords', [{ ...item!, flags: ['\\Seen', 'bad keyword', '\\Recent', 'Good_1'] }]);
    assert.equal(writer.stats().droppedFlags, 2);
    await writer.close();
    await reader.openFolder('Keywords', { readOnly: true });
    const [meta] = await collect(reader.fetchMeta('all'));
    assert.deepEqual(sortedFlags(meta!.flags), sortedFlags(['\\Seen', 'Good_1']));
  });
});

describe('APPENDLIMIT and LOGINDISABLED', { skip: !dovecotAvailable() && 'needs root and dovecot' }, () => {
  let server: DovecotServer;
  before(async () => {
    server = await startDovecot({
      name: 'imap-limits',
      folderStyle: 'dovecot',
      users: [{ user: 'carol', password: PASSWORD }],
      disablePlaintextAuth: true,
      // Dovecot 2.3 does not announce a server-wide APPENDLIMIT (RFC 7889) by itself; make it.
      extraConfig: 'imap_capability = +APPENDLIMIT=10240\n',
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('cleartext login where the server says LOGINDISABLED is AUTH_LOGIN_DISABLED', async () => {
    await rejectsWith(AppendWriter.open(settingsFor(server, 'carol', PASSWORD, 'none'), { side: 'target' }), 'AUTH_LOGIN_DISABLED', [PASSWORD]);
    await rejectsWith(openMailStore(settingsFor(server, 'carol', PASSWORD, 'none'), { side: 'target' }), 'AUTH_LOGIN_DISABLED', [PASSWORD]);
  });

  test('items above APPENDLIMIT are rejected locally with their index; the others are stored', async () => {
    const writer = await AppendWriter.open(settingsFor(server, 'carol', PASSWORD, 'starttls'), { side: 'target' });
    assert.ok(writer.capabilities.has('APPENDLIMIT=10240'), [...writer.capabilities].join(' '));
    const items = makeItems(3, 1000);
    items[1] = { ...items[1]!, raw: Buffer.concat([items[1]!.raw, Buffer.alloc(20_000, 0x61)]) };
    const results = await writer.append('INBOX', items);
    assert.deepEqual(results.map((r) => r.status), ['stored', 'rejected', 'stored']);
    const rejected = results[1]!;
    assert.ok(rejected.status === 'rejected');
    assert.equal(rejected.error.code, 'TARGET_APPEND_REJECTED');
    assert.equal(rejected.error.params.index, 1);
    await writer.close();
  });
});
