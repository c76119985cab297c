/** MailStore over imapflow against a real Dovecot (src/testbed). */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { dovecotAvailable, startDovecot, type DovecotServer } from '../src/testbed/dovecot-server.js';
import { fillMailbox, generateCorpus, readMailbox } from '../src/testbed/index.js';
import { openMailStore } from '../src/imap/imapflow-mail-store.js';
import { systemStore } from '../src/imap/connect-options.js';
import { AppendWriter } from '../src/imap/append-writer.js';
import { createTestCertificates } from './support/certificates.js';
import { MailshiftError } from '../src/domain/errors.js';
import type { MailStore } from '../src/engine/ports.js';
import type { MessageMeta } from '../src/domain/mail-types.js';
import { collect, makeItems, rejectsWith, settingsFor, sortedFlags } from './imap-support.js';

const PASSWORD = 'Pa55"w\\ord';



describe('imapflow MailStore against Dovecot', { skip: !dovecotAvailable() && 'needs root and dovecot' }, () => {
  let server: DovecotServer;
  let store: MailStore;

  before(async () => {
    server = await startDovecot({ name: 'imap-store', folderStyle: 'dovecot', users: [{ user: 'alice', password: PASSWORD }] });
    store = await openMailStore(settingsFor(server, 'alice', PASSWORD, 'starttls'), { side: 'source' });
  });
  after(async () => {
    await store?.close();
    await server?.stop();
  });

  test('STARTTLS with the CA: capabilities, delimiter and namespace', () => {
    assert.ok(store.capabilities.has('IMAP4REV1'));
    assert.ok(store.capabilities.has('CONDSTORE'));
    assert.ok(store.capabilities.has('LITERAL+'));
    assert.ok([...store.capabilities].every((c) => c === c.toUpperCase()));
    assert.equal(store.delimiter, '/');
    assert.equal(store.namespacePrefix, '');
  });

  test('implicit TLS with the CA', async () => {
    const s = await openMailStore(settingsFor(server, 'alice', PASSWORD, 'ssl'), { side: 'source' });
    assert.ok((await s.listFolders()).some((f) => f.path === 'INBOX'));
    await s.close();
  });

  test('a self-signed server without the CA is TLS_UNTRUSTED (ssl and starttls)', async () => {
    const { ca: _ca, ...ssl } = settingsFor(server, 'alice', PASSWORD, 'ssl');
    await rejectsWith(openMailStore(ssl, { side: 'source' }), 'TLS_UNTRUSTED', [PASSWORD]);
    const { ca: _ca2, ...starttls } = settingsFor(server, 'alice', PASSWORD, 'starttls');
    const err = await rejectsWith(openMailStore(starttls, { side: 'target' }), 'TLS_UNTRUSTED', [PASSWORD]);
    assert.equal(err.params.side, 'target');
  });

  test('wrong password is AUTH_FAILED and the message never contains a password', async () => {
    const err = await rejectsWith(openMailStore({ ...settingsFor(server, 'alice', 'wrong-password'), password: 'wrong-password' }, { side: 'source' }), 'AUTH_FAILED', [PASSWORD]);
    assert.equal(err.params.user, 'alice');
    assert.ok(!err.message.includes('wrong-password'));
  });

  test('nothing listening is CONN_REFUSED', async () => {
    await rejectsWith(openMailStore({ ...settingsFor(server, 'alice', PASSWORD, 'none'), port: 1 }, { side: 'source' }), 'CONN_REFUSED', [PASSWORD]);
  });

  test('createFolder is idempotent; unicode names round-trip; special-use and \\Noselect parents are reported', async () => {
    const name = 'Entwürfe/Ünïcödé 📧 & more';
    await store.createFolder('Entwürfe');
    await store.createFolder(name);
    await store.createFolder(name);
    await store.createFolder('Ghost/Child');
    const folders = await store.listFolders();
    const byPath = new Map(folders.map((f) => [f.path, f]));
    assert.ok(byPath.has(name), [...byPath.keys()].join(', '));
    assert.equal(byPath.get(name)?.delimiter, '/');
    assert.equal(byPath.get(name)?.selectable, true);
    assert.equal(byPath.get('Sent')?.specialUse, '\\Sent');
    assert.equal(byPath.get('Trash')?.specialUse, '\\Trash');
    assert.equal(byPath.get('INBOX')?.specialUse, null);
    const ghost = byPath.get('Ghost');
    if (ghost) assert.equal(ghost.selectable, ghost.flags.some((f) => /^\\(noselect|nonexistent)$/i.test(f)) ? false : true);
    const status = await store.openFolder(name, { readOnly: false });
    assert.equal(status.messages, 0);
  });

  test('open, list, fetch meta/headers/messages; never sets \\Seen; flags and keywords; changedSince', async () => {
    const folder = 'Fetch/Test ✓';
    await store.createFolder(folder);
    const items = makeItems(40, 3000);
    const outcomes = await store.append(folder, items);
    assert.equal(outcomes.length, 40);

    const status = await store.openFolder(folder, { readOnly: false });
    assert.equal(status.messages, 40);
    assert.equal(typeof status.uidValidity, 'bigint');
    assert.equal(status.uidNext, 41);
    assert.equal(typeof status.highestModseq, 'bigint');
    assert.ok(status.permanentFlags.includes('\\*'));
    assert.deepEqual(outcomes.map((o) => o.uidValidity), outcomes.map(() => status.uidValidity));

    const uids = await store.listUids();
    assert.deepEqual(uids, Array.from({ length: 40 }, (_, i) => i + 1));
    assert.deepEqual(outcomes.map((o) => o.uid), uids);

    const meta = await collect(store.fetchMeta(uids));
    assert.equal(meta.length, 40);
    meta.forEach((m, i) => {
      const item = items[i]!;
      assert.equal(m.uid, i + 1);
      assert.deepEqual(sortedFlags(m.flags), sortedFlags(item.flags), `flags of ${m.uid}`);
      assert.equal(m.internalDate, item.internalDate);
      assert.equal(m.size, item.raw.length);
      assert.equal(typeof m.modseq, 'bigint');
    });
    assert.equal((await collect(store.fetchMeta('all'))).length, 40);

    const unseen = meta.filter((m) => !m.flags.includes('\\Seen')).map((m) => m.uid);
    assert.ok(unseen.length > 5);
    const headers = await collect(store.fetchHeaders(unseen));
    for (const h of headers) {
      const raw = items[h.uid - 1]!.raw;
      const end = raw.indexOf('\r\n\r\n') + 4;
      assert.ok(h.header.equals(raw.subarray(0, end)), `header bytes of ${h.uid}`);
      assert.equal(h.size, raw.length);
    }
    const messages = await collect(store.fetchMessages(unseen));
    assert.equal(messages.length, unseen.length);
    for (const m of messages) {
      const raw = items[m.uid - 1]!.raw;
      assert.ok(m.raw.equals(raw), `raw bytes of ${m.uid}`);
      assert.ok(m.header.equals(raw.subarray(0, raw.indexOf('\r\n\r\n') + 4)));
      assert.equal(m.internalDate, items[m.uid - 1]!.internalDate);
      assert.ok(!m.flags.includes('\\Seen'));
    }
    const after: MessageMeta[] = await collect(store.fetchMeta(unseen));
    assert.ok(after.every((m) => !m.flags.includes('\\Seen')), 'BODY.PEEK must not set \\Seen');

    // Stopping early leaves the connection usable (each chunk is fully read before yielding).
    for await (const m of store.fetchMessages(uids)) {
      assert.equal(m.uid, 1);
      break;
    }
    assert.equal((await store.listUids()).length, 40);

    // changedSince: only what changed after the snapshot comes back.
    const snapshot = (await store.openFolder(folder, { readOnly: false })).highestModseq!;
    await store.updateFlags(3, ['\\Flagged', 'Custom9'], []);
    await store.updateFlags(5, [], items[4]!.flags.filter((f) => f !== '\\Recent'));
    const changed = await collect(store.fetchMeta('all', { changedSince: snapshot }));
    assert.deepEqual(changed.map((m) => m.uid).sort((a, b) => a - b), [3, 5]);
    const three = changed.find((m) => m.uid === 3)!;
    assert.ok(three.flags.includes('\\Flagged') && three.flags.includes('Custom9'));
    assert.deepEqual(changed.find((m) => m.uid === 5)!.flags, []);
    assert.ok(three.modseq! > snapshot);
  });

  test('EXAMINE (readOnly) fetches do not set \\Seen either', async () => {
    const folder = 'ReadOnly';
    await store.createFolder(folder);
    await store.append(folder, makeItems(3, 500));
    await store.openFolder(folder, { readOnly: true });
    await collect(store.fetchMessages(await store.listUids()));
    await store.openFolder(folder, { readOnly: false });
    const meta = await collect(store.fetchMeta('all'));
    assert.deepEqual(meta.map((m) => m.flags.includes('\\Seen')), [false, true, true]);
  });

  test('opening a missing folder is SOURCE_FOLDER_VANISHED; the store stays usable', async () => {
    const err = await rejectsWith(store.openFolder('Does/Not/Exist', { readOnly: true }), 'SOURCE_FOLDER_VANISHED', [PASSWORD]);
    assert.equal(err.params.folder, 'Does/Not/Exist');
    assert.ok((await store.listFolders()).length > 0);
  });

  test('large sparse UID lists are chunked into short commands', async () => {
    await store.openFolder('Fetch/Test ✓', { readOnly: true });
    const many = Array.from({ length: 3000 }, (_, i) => i * 3 + 1).concat([2, 4]);
    const meta = await collect(store.fetchMeta(many));
    assert.deepEqual(meta.map((m) => m.uid).sort((a, b) => a - b), [1, 2, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34, 37, 40]);
  });

  test('close tolerates a dead connection and is idempotent', async () => {
    const s = await openMailStore(settingsFor(server, 'alice', PASSWORD, 'none'), { side: 'source' });
    await s.close();
    await s.close();
    await rejectsWith(s.listFolders(), 'CONN_LOST', [PASSWORD]);
  });

  test('prepare opens the fetch connection ahead; a refused one is silent and reported by the call that needs it', async () => {
    // Two connections per user and IP: the control connection and one more.
    const limited = await startDovecot({ name: 'imap-store-limit', folderStyle: 'dovecot', maxUserIpConnections: 2, users: [{ user: 'bob', password: PASSWORD }] });
    const logins = async (): Promise<number> => (await readFile(limited.logFile, 'utf8')).split('\n').filter((l) => l.includes('Login: user=<bob>')).length;
    const s = await openMailStore(settingsFor(limited, 'bob', PASSWORD, 'ssl'), { side: 'target' });
    try {
      assert.equal(await logins(), 1);
      s.prepare?.('fetch');
      // Logged in before any call needs it.
      for (let waited = 0; (await logins()) < 2; waited += 20) {
        assert.ok(waited < 10_000, 'the fetch connection was not opened ahead');
        await sleep(20);
      }
      await s.createFolder('Box');
      await s.openFolder('Box', { readOnly: false });
      assert.deepEqual(await collect(s.fetchMeta('all')), [], 'the prepared connection reads');
      assert.equal(await logins(), 2, 'and no other was opened for it');
      // A third connection is refused: not by prepare (no unhandled rejection), but by the append.
      s.prepare?.('append');
      await sleep(200);
      await rejectsWith(s.append('Box', makeItems(1)), 'CONN_TOO_MANY', [PASSWORD]);
    } finally {
      await s.close();
      s.prepare?.('append');
      await limited.stop();
    }
  });

  test("appendOver 'control': one APPEND per message on the control connection, APPENDUIDs, flags and dates; TRYCREATE as the writer reports it", async () => {
    const logins = async (): Promise<number> => (await readFile(server.logFile, 'utf8')).split('\n').filter((l) => l.includes('Login: user=<alice>')).length;
    const before = await logins();
    const s = await openMailStore(settingsFor(server, 'alice', PASSWORD, 'ssl'), { side: 'target' }, { appendOver: 'control' });
    try {
      await s.createFolder('Control');
      await s.openFolder('Control', { readOnly: false });
      s.prepare?.('append');
      const items = makeItems(4);
      const out = await s.append('Control', items);
      assert.equal(out.length, 4);
      assert.ok(out.every((o, i) => o.uid === i + 1 && o.uidValidity !== null), JSON.stringify(out, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
      const stored = await collect(s.fetchMessages(out.map((o) => o.uid as number)));
      assert.deepEqual(stored.map((m) => m.raw.toString('latin1')), items.map((m) => m.raw.toString('latin1')));
      assert.deepEqual(stored.map((m) => sortedFlags(m.flags)), items.map((m) => sortedFlags(m.flags)));
      assert.deepEqual(stored.map((m) => m.internalDate), items.map((m) => m.internalDate));
      const missing = await rejectsWith(s.append('Nowhere', makeItems(1)), 'IMAP_PROTOCOL', [PASSWORD]);
      assert.equal(missing.params.responseCode, 'TRYCREATE');
      // The reads above used the fetch connection; the APPENDs opened none.
      assert.equal(await logins() - before, 2);
    } finally {
      await s.close();
    }
  });

  test('a server that allows the account one connection: reads go through the control connection, same bytes', async () => {
    const single = await startDovecot({ name: 'imap-store-single', folderStyle: 'dovecot', maxUserIpConnections: 1, users: [{ user: 'dora', password: PASSWORD }] });
    const failedLogins = async (): Promise<number> => (await readFile(single.logFile, 'utf8')).split('\n').filter((l) => l.includes('Maximum number of connections')).length;
    const messages = generateCorpus({ messages: 40, seed: 5, largeMessages: { count: 1, bytes: 300_000 } });
    await fillMailbox(single, { user: 'dora', password: PASSWORD }, messages, { connections: 1 });
    const expected = (await readMailbox(single, { user: 'dora', password: PASSWORD })).filter((m) => m.folder === 'INBOX');
    assert.ok(expected.length > 5);
    const s = await openMailStore(settingsFor(single, 'dora', PASSWORD, 'ssl'), { side: 'source' }, {}, ['fetch']);
    try {
      const status = await s.openFolder('INBOX', { readOnly: true });
      assert.equal(s.readRefusal ?? null, null, 'nothing read yet');
      const metas = await collect(s.fetchMeta('all'));
      assert.equal(metas.length, expected.length);
      assert.ok(await failedLogins() >= 1, 'the fetch connection was refused');
      assert.match(s.readRefusal?.detail ?? '', /mail_max_userip_connections=1/, 'what the server said, for the report');
      const uids = metas.map((m) => m.uid);
      const headers = await collect(s.fetchHeaders(uids));
      const bodies = await collect(s.fetchMessages(uids));
      assert.deepEqual(bodies.map((m) => m.raw.toString('latin1')), expected.map((m) => m.raw.toString('latin1')));
      assert.deepEqual(bodies.map((m) => sortedFlags(m.flags)), expected.map((m) => sortedFlags(m.flags)));
      assert.deepEqual(bodies.map((m) => m.internalDate), expected.map((m) => m.internalDate));
      assert.deepEqual(headers.map((h) => h.header.toString('latin1')), bodies.map((m) => m.header.toString('latin1')));
      assert.equal(status.messages, expected.length);
    } finally {
      await s.close();
      await single.stop();
    }
  });

  test('connections asked for at open start alongside the control connection, not after it', async () => {
    // A TCP relay that counts the connections it accepted.
    let accepted = 0;
    const sockets: Socket[] = [];
    const relay = createServer((client) => {
      accepted++;
      const upstream = connect(server.imapsPort, server.host);
      sockets.push(client, upstream);
      client.pipe(upstream).pipe(client);
      const drop = (): void => { client.destroy(); upstream.destroy(); };
      client.on('error', drop);
      upstream.on('error', drop);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const settings = { ...settingsFor(server, 'alice', PASSWORD, 'ssl'), port: (relay.address() as AddressInfo).port };
    const stores: MailStore[] = [];
    try {
      const plain = await openMailStore(settings, { side: 'source' });
      stores.push(plain);
      assert.equal(accepted, 1, 'without: only the control connection');
      await plain.close();
      accepted = 0;
      // Each TCP connect was issued before the control connection's TLS and LOGIN even began.
      const ahead = await openMailStore(settings, { side: 'source' }, {}, ['fetch', 'append']);
      stores.push(ahead);
      assert.equal(accepted, 3, 'with: the fetch and APPEND connections were already accepted');
      await ahead.createFolder('Ahead');
      await ahead.openFolder('Ahead', { readOnly: true });
      assert.deepEqual(await collect(ahead.fetchMeta('all')), []);
      assert.equal((await ahead.append('Ahead', makeItems(1))).length, 1);
      assert.equal(accepted, 3, 'and they are the ones used');
      // A wrong password fails the connections opened ahead too, often before the control one:
      // the open reports AUTH_FAILED, and nothing is left as an unhandled rejection (which would
      // end the process).
      const failedLogins = async (): Promise<number> => (await readFile(server.logFile, 'utf8')).split('\n').filter((l) => /auth failed/i.test(l)).length;
      const failedBefore = await failedLogins();
      await rejectsWith(openMailStore({ ...settings, password: 'Wrong-Ahead-1' }, { side: 'source' }, {}, ['fetch', 'append']), 'AUTH_FAILED', ['Wrong-Ahead-1']);
      await sleep(500);
      // And they wait for the control connection's login: one failed login, not three.
      assert.equal(await failedLogins() - failedBefore, 1, (await readFile(server.logFile, 'utf8')).split('\n').slice(-8).join('\n'));
    } finally {
      await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  test('a CA given for a server is tried alone first; the system store is added only when the server does not verify against it', async () => {
    // Served by a leaf of a private root CA (through an intermediate), not the test bed's own certificate.
    const certs = createTestCertificates();
    const other = await startDovecot({ name: 'imap-store-ca', folderStyle: 'dovecot', tls: certs.good, users: [{ user: 'carol', password: PASSWORD }] });
    const original = systemStore.certificates;
    let loads = 0;
    try {
      // The right CA: verified against it alone, the system store is never loaded.
      systemStore.certificates = () => { loads++; return original(); };
      const direct = await openMailStore({ ...settingsFor(other, 'carol', PASSWORD, 'ssl'), ca: certs.rootCaPem }, { side: 'source' });
      await direct.createFolder('Direct');
      await direct.openFolder('Direct', { readOnly: true });
      assert.deepEqual(await collect(direct.fetchMeta('all')), []);
      await direct.close();
      assert.equal(loads, 0);
      // Neither the CA given nor the system store signed it: refused as untrusted, as before.
      const wrongCa = { ...settingsFor(other, 'carol', PASSWORD, 'ssl'), ca: server.caPem };
      await assert.rejects(openMailStore(wrongCa, { side: 'source' }), (err: unknown) => err instanceof MailshiftError && err.code === 'TLS_UNTRUSTED');
      assert.equal(loads, 1, 'tried again with the system store');
      // The same CA that did not sign it, while the system store holds the root that did (as a
      // public CA would): both kinds of connection open, through the system store.
      systemStore.certificates = () => { loads++; return [...original(), certs.rootCaPem]; };
      const viaSystem = await openMailStore({ ...wrongCa, ca: `${server.caPem}\n` }, { side: 'source' });
      await viaSystem.openFolder('Direct', { readOnly: true });
      assert.deepEqual(await collect(viaSystem.fetchMeta('all')), [], 'the raw fetch connection opened too');
      assert.equal((await viaSystem.append('Direct', makeItems(1))).length, 1, 'and the APPEND connection');
      await viaSystem.close();
      assert.equal(loads, 2, 'the system store is loaded once for that CA');
      // A raw connection (APPEND, FETCH) opened first falls back the same way.
      const writer = await AppendWriter.open({ ...wrongCa, ca: `${server.caPem}\n\n` }, { side: 'target' });
      await writer.close();
      assert.equal(loads, 3);
      // Connections opened at the same time each fall back for themselves: the first to fail does
      // not leave the others failing.
      const together = await openMailStore({ ...wrongCa, ca: `${server.caPem}\n\n\n` }, { side: 'source' }, {}, ['fetch', 'append']);
      await together.openFolder('Direct', { readOnly: true });
      assert.equal((await collect(together.fetchMeta('all'))).length, 1);
      assert.equal((await together.append('Direct', makeItems(1))).length, 1);
      await together.close();
    } finally {
      systemStore.certificates = original;
      await other.stop();
    }
  });
});
