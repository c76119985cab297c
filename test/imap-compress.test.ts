/**
 * COMPRESS=DEFLATE (RFC 4978), asked for per endpoint (`--source-compress`, `--target-compress`):
 * against Dovecot with its imap_zlib plugin, every connection kind — the raw fetch connection, the
 * pipelined APPEND connection and imapflow's control connection — reads and writes the same as
 * without it, and a whole migration over compressed connections copies every byte.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapWire } from '../src/imap/imap-wire.js';
import { openMailStore } from '../src/imap/imapflow-mail-store.js';
import type { ConnectionSettings } from '../src/domain/mail-types.js';
import type { MailStore } from '../src/engine/ports.js';
import { dovecotAvailable, startDovecot, type DovecotServer } from '../src/testbed/dovecot-server.js';
import { fillMailbox, readMailbox } from '../src/testbed/fill-mailbox.js';
import { generateCorpus } from '../src/testbed/corpus.js';
import { collect, settingsFor } from './imap-support.js';
import { connectionArgs, runCli } from './support/cli.js';
import { byFolder, toExchange } from './support/mailbox-compare.js';

const PASSWORD = 'compress-pass';
const USERS = ['alice@example.com', 'bob@example.com'];

describe('COMPRESS=DEFLATE', { skip: !dovecotAvailable() && 'needs root and dovecot' }, () => {
  let source: DovecotServer;
  let target: DovecotServer;
  let plain: DovecotServer;

  before(async () => {
    [source, target, plain] = await Promise.all([
      startDovecot({ name: 'cz-src', folderStyle: 'dovecot', compress: true, users: USERS.map((user) => ({ user, password: PASSWORD })) }),
      startDovecot({ name: 'cz-dst', folderStyle: 'exchange', compress: true, users: USERS.map((user) => ({ user, password: PASSWORD })) }),
      startDovecot({ name: 'cz-plain', folderStyle: 'dovecot', users: [{ user: USERS[0]!, password: PASSWORD }] }),
    ]);
    await fillMailbox(source, { user: USERS[0]!, password: PASSWORD },
      generateCorpus({ messages: 200, seed: 41, sizeMix: 'realistic', largeMessages: { count: 2, bytes: 2_200_000 } }));
  });
  after(async () => {
    await Promise.all([source?.stop(), target?.stop(), plain?.stop()]);
  });

  const ctx = (settings: ConnectionSettings) => ({ host: settings.host, port: settings.port, user: settings.user, side: 'source' as const });

  test('negotiated only when asked for and offered; over implicit TLS, STARTTLS and plain', async () => {
    for (const security of ['ssl', 'starttls', 'none'] as const) {
      const settings = settingsFor(source, USERS[0]!, PASSWORD, security);
      const asked = await ImapWire.open({ ...settings, compress: true }, ctx(settings));
      const notAsked = await ImapWire.open(settings, ctx(settings));
      try {
        assert.equal(asked.compressed, true, security);
        assert.equal(notAsked.compressed, false, security);
        // A compressed session still answers commands.
        const tag = asked.nextTag();
        assert.equal((await asked.command(tag, `${tag} SELECT INBOX\r\n`)).status, 'OK');
      } finally {
        await Promise.all([asked.logout(), notAsked.logout()]);
      }
    }
    const other = settingsFor(plain, USERS[0]!, PASSWORD, 'ssl');
    const unsupported = await ImapWire.open({ ...other, compress: true }, ctx(other));
    assert.equal(unsupported.compressed, false, 'a server without COMPRESS=DEFLATE: asked for, not used');
    await unsupported.logout();
  });

  test('a compressed write on a connection that dies is an error, not a hang', async () => {
    const settings = settingsFor(source, USERS[0]!, PASSWORD, 'ssl');
    const wire = await ImapWire.open({ ...settings, compress: true }, ctx(settings));
    assert.equal(wire.compressed, true);
    const writing = wire.write(Buffer.alloc(8 * 1024 * 1024, 0x41));
    // The deflater is destroyed with the socket; its flush callback must still settle the write.
    wire.destroy();
    await assert.rejects(writing, (err: Error & { code?: string }) => /CONN_/.test(err.code ?? ''), 'rejected with a connection error');
  });

  test('metadata, headers and bodies read over compressed connections equal the uncompressed ones', async () => {
    const compressed: MailStore = await openMailStore({ ...settingsFor(source, USERS[0]!, PASSWORD, 'ssl'), compress: true }, { side: 'source' });
    const uncompressed: MailStore = await openMailStore(settingsFor(source, USERS[0]!, PASSWORD, 'ssl'), { side: 'source' });
    try {
      let bodies = 0;
      for (const folder of await compressed.listFolders()) {
        if (!folder.selectable) continue;
        await Promise.all([compressed.openFolder(folder.path, { readOnly: true }), uncompressed.openFolder(folder.path, { readOnly: true })]);
        const [a, b] = [await collect(compressed.fetchMeta('all')), await collect(uncompressed.fetchMeta('all'))];
        assert.deepEqual(a, b, folder.path);
        const uids = a.map((m) => m.uid);
        const [ha, hb] = [await collect(compressed.fetchHeaders(uids)), await collect(uncompressed.fetchHeaders(uids))];
        assert.deepEqual(ha.map((h) => h.header.toString('base64')), hb.map((h) => h.header.toString('base64')), folder.path);
        const [ma, mb] = [await collect(compressed.fetchMessages(uids)), await collect(uncompressed.fetchMessages(uids))];
        assert.equal(ma.length, mb.length);
        ma.forEach((m, i) => assert.ok(m.raw.equals(mb[i]!.raw), `${folder.path} #${m.uid}`));
        bodies += ma.length;
      }
      assert.equal(bodies, 200);
    } finally {
      await Promise.all([compressed.close(), uncompressed.close()]);
    }
  });

  test('a migration with --source-compress and --target-compress copies every byte, flag and date', async () => {
    const env = { MAILSHIFT_SOURCE_PASSWORD: PASSWORD, MAILSHIFT_TARGET_PASSWORD: PASSWORD };
    const result = await runCli(['migrate', ...connectionArgs(source, USERS[0]!, target, USERS[0]!), '--source-compress', '--target-compress',
      '--state', `/tmp/ms-compress-${process.pid}.sqlite`, '--json'], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const report = JSON.parse(result.stdout) as { totals: { transferred: number }; verification: { consistent: boolean } };
    assert.equal(report.totals.transferred, 200);
    assert.equal(report.verification.consistent, true);
    const [from, to] = await Promise.all([readMailbox(source, { user: USERS[0]!, password: PASSWORD }), readMailbox(target, { user: USERS[0]!, password: PASSWORD })]);
    assert.deepEqual(byFolder(to), byFolder(from, toExchange));
  });
});
