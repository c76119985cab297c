/**
 * The real-Dovecot test bed itself: if these pass, the other suites can trust their servers.
 * Needs root, dovecot-imapd and openssl (scripts/install-system-deps.sh).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import {
  fillMailbox, generateCorpus, readMailbox, startDovecot, stopAllDovecots, type DovecotServer,
} from '../src/testbed/index.js';

const ALICE = { user: 'alice@example.com', password: 'alice-pw' };
const BOB = { user: 'bob@example.com', password: 'bob-pw' };
const auth = (u: { user: string; password: string }) => ({ user: u.user, pass: u.password });
const MASTER = { user: 'mailadmin', password: 'master-pw' };

function client(server: DovecotServer, extra: Partial<ImapFlowOptions> & Pick<ImapFlowOptions, 'auth'>): ImapFlow {
  return new ImapFlow({
    host: server.host, port: server.imapPort, secure: false, doSTARTTLS: false,
    logger: false, disableAutoIdle: true, ...extra,
  });
}

async function withClient<T>(c: ImapFlow, fn: (c: ImapFlow) => Promise<T>): Promise<T> {
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.logout().catch(() => undefined);
  }
}

function message(subject: string, body = 'hello'): Buffer {
  return Buffer.from(`From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@test>\r\n\r\n${body}\r\n`);
}

/** Raw exchange, so we see exactly what the server advertises (imapflow hides LOGINDISABLED). */
function rawGreeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.includes('\r\n')) {
        socket.destroy();
        resolve(data);
      }
    });
    socket.on('error', reject);
  });
}

/** Pids of every process living in the instance dir (cwd or chroot), the way stop() finds them. */
function processesIn(dir: string): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false;
      return ['cwd', 'root'].some((l) => readlinkSync(`/proc/${pid}/${l}`).startsWith(dir));
    } catch {
      return false;
    }
  });
}

describe('dovecot test bed', () => {
  let source: DovecotServer;
  let target: DovecotServer;

  before(async () => {
    // Two instances at once, as every migration test needs.
    [source, target] = await Promise.all([
      startDovecot({ name: 'source', folderStyle: 'dovecot', users: [ALICE, BOB], masterUser: MASTER }),
      startDovecot({ name: 'target', folderStyle: 'exchange', users: [ALICE, BOB] }),
    ]);
  });

  after(async () => {
    await stopAllDovecots();
  });

  test('two instances run side by side on distinct ports and dirs', () => {
    const ports = new Set([source.imapPort, source.imapsPort, target.imapPort, target.imapsPort]);
    assert.equal(ports.size, 4);
    assert.notEqual(source.dir, target.dir);
    assert.notEqual(source.pid, target.pid);
    assert.ok(source.dir.length < 40, `short dir for socket paths: ${source.dir}`);
  });

  test('LIST shows the special-use folders of each style', async () => {
    const specialUse = async (server: DovecotServer) => withClient(client(server, { auth: auth(BOB) }), async (c) => {
      const list = await c.list();
      return Object.fromEntries(list.filter((f) => f.specialUseSource === 'extension').map((f) => [f.path, f.specialUse]));
    });
    assert.deepEqual(await specialUse(source), { Sent: '\\Sent', Trash: '\\Trash', Junk: '\\Junk', Drafts: '\\Drafts' });
    assert.deepEqual(await specialUse(target), {
      'Sent Items': '\\Sent', 'Deleted Items': '\\Trash', 'Junk Email': '\\Junk', Drafts: '\\Drafts', Archive: '\\Archive',
    });
  });

  test('capabilities include CONDSTORE, QRESYNC, SPECIAL-USE, QUOTA, UIDPLUS', async () => {
    await withClient(client(source, { auth: auth(BOB) }), async (c) => {
      for (const cap of ['CONDSTORE', 'QRESYNC', 'SPECIAL-USE', 'QUOTA', 'UIDPLUS', 'LITERAL+', 'MULTIAPPEND']) {
        assert.ok(c.capabilities.has(cap), `missing ${cap}`);
      }
      const box = await c.mailboxOpen('INBOX');
      assert.ok(box.highestModseq !== undefined && box.highestModseq > 0n, 'HIGHESTMODSEQ reported');
    });
  });

  test('LOGIN over plain, STARTTLS and implicit TLS (validated against caFile)', async () => {
    const ca = readFileSync(source.caFile);
    assert.equal(ca.toString(), source.caPem);
    await withClient(client(source, { auth: auth(BOB) }), async (c) => assert.equal(c.secureConnection, false));
    await withClient(client(source, { auth: auth(BOB), doSTARTTLS: true, tls: { ca } }), async (c) => assert.equal(c.secureConnection, true));
    await withClient(client(source, { auth: auth(BOB), port: source.imapsPort, secure: true, tls: { ca } }), async (c) => assert.equal(c.secureConnection, true));
    // The cert names localhost too, so a client that dials the name validates as well.
    await withClient(client(source, { auth: auth(BOB), port: source.imapsPort, secure: true, tls: { ca, servername: 'localhost' } }), async () => undefined);
    await assert.rejects(withClient(client(source, { auth: { user: BOB.user, pass: 'wrong' } }), async () => undefined),
      (error: { authenticationFailed?: boolean }) => error.authenticationFailed === true);
  });

  test('master user (user*master and SASL PLAIN authzid) lands in the user\'s mailbox', async () => {
    await withClient(client(source, { auth: auth(ALICE) }), (c) => c.append('INBOX', message('alice-marker')));
    const subjects = async (auth: ImapFlowOptions['auth']) => withClient(client(source, { auth }), async (c) => {
      await c.mailboxOpen('INBOX', { readOnly: true });
      const out: string[] = [];
      for await (const m of c.fetch('1:*', { envelope: true })) out.push(m.envelope?.subject ?? '');
      return out;
    });
    assert.deepEqual(await subjects({ user: `${ALICE.user}*${MASTER.user}`, pass: MASTER.password }), ['alice-marker']);
    assert.deepEqual(await subjects({ user: MASTER.user, pass: MASTER.password, authzid: ALICE.user, loginMethod: 'AUTH=PLAIN' }), ['alice-marker']);
    await assert.rejects(subjects({ user: `${ALICE.user}*${MASTER.user}`, pass: 'wrong' }));
    // The master user is not a mailbox of its own.
    await assert.rejects(subjects({ user: MASTER.user, pass: MASTER.password }));
  });

  test('a tiny quota makes APPEND fail with OVERQUOTA; removing it lets APPEND through', async () => {
    const carol = { user: 'carol@example.com', password: 'carol-pw' };
    await source.addUser({ ...carol, quotaBytes: 1000 });
    await withClient(client(source, { auth: auth(carol) }), async (c) => {
      await assert.rejects(c.append('INBOX', message('big', 'x'.repeat(5000))),
        (error: { serverResponseCode?: string }) => error.serverResponseCode === 'OVERQUOTA');
      const quota = await c.getQuota('INBOX');
      // QUOTA reports KiB, so 1000 bytes shows as 1 KiB.
      assert.ok(quota && quota.storage?.limit === 1024, `quota limit reported: ${JSON.stringify(quota)}`);
    });
    await source.setUserQuota(carol.user, null);
    await withClient(client(source, { auth: auth(carol) }), async (c) => {
      const res = await c.append('INBOX', message('big', 'x'.repeat(5000)));
      assert.ok(res && res.uid === 1);
    });
    await source.setUserQuota(carol.user, 2000);
    await withClient(client(source, { auth: auth(carol) }), async (c) => {
      await assert.rejects(c.append('INBOX', message('more')), (error: { serverResponseCode?: string }) => error.serverResponseCode === 'OVERQUOTA');
    });
  });

  test('fill + readMailbox round trip of 200 corpus messages keeps bytes, flags and dates', async () => {
    const corpus = generateCorpus({ messages: 200, sizeMix: 'realistic', seed: 42 });
    const result = await fillMailbox(target, BOB, corpus, { connections: 6 });
    assert.equal(result.messages, 200);
    const key = (m: { folder: string; raw: Buffer; flags: string[]; internalDate: number }) =>
      `${m.folder}\n${[...m.flags].sort().join(' ')}\n${m.internalDate}\n${m.raw.toString('base64')}`;
    const back = await readMailbox(target, BOB);
    assert.equal(back.length, 200);
    assert.deepEqual(back.map(key).sort(), corpus.map(key).sort());
    // Within a folder, UIDs follow corpus order.
    const inbox = corpus.filter((m) => m.folder === 'INBOX').map((m) => m.raw.toString('base64'));
    assert.deepEqual(back.filter((m) => m.folder === 'INBOX').map((m) => m.raw.toString('base64')), inbox);
    // Reading never marks messages \Seen.
    const again = await readMailbox(target, BOB);
    assert.deepEqual(again.map((m) => m.flags), back.map((m) => m.flags));
  });

  test('disablePlaintextAuth: LOGINDISABLED before STARTTLS; custom TLS and "." separator', async () => {
    const strict = await startDovecot({
      name: 'strict', folderStyle: 'dovecot', users: [BOB], disablePlaintextAuth: true, separator: '.',
      tls: { certFile: `${source.dir}/cert.pem`, keyFile: `${source.dir}/key.pem` },
    });
    try {
      assert.equal(strict.caFile, `${source.dir}/cert.pem`);
      const greeting = await rawGreeting(strict.imapPort);
      assert.match(greeting, /LOGINDISABLED/);
      assert.match(greeting, /STARTTLS/);
      assert.doesNotMatch(greeting, /AUTH=PLAIN/);
      await assert.rejects(withClient(client(strict, { auth: auth(BOB) }), async () => undefined));
      await withClient(client(strict, { auth: auth(BOB), doSTARTTLS: true, tls: { ca: strict.caPem } }), async (c) => {
        assert.equal(c.secureConnection, true);
        assert.equal(c.namespace?.delimiter, '.');
      });
      // The helpers go through STARTTLS here and translate '/' to the server's '.'.
      const corpus = generateCorpus({ messages: 12, folders: ['INBOX', 'Projects/Alpha', 'Archive/2024'], seed: 5 });
      await fillMailbox(strict, BOB, corpus);
      const back = await readMailbox(strict, BOB);
      assert.deepEqual(new Set(back.map((m) => m.path)), new Set(corpus.map((m) => m.folder.replace('/', '.'))));
      assert.deepEqual(back.map((m) => m.folder).sort(), corpus.map((m) => m.folder).sort());
    } finally {
      await strict.stop();
    }
  });

  test('a broken config rejects with the tail of Dovecot\'s log', async () => {
    await assert.rejects(
      startDovecot({ name: 'broken', folderStyle: 'dovecot', users: [BOB], extraConfig: 'no_such_setting_here = 1' }),
      (error: Error) => /no_such_setting_here/.test(error.message) && /dovecot log/.test(error.message),
    );
  });

  test('stop() ends every process of that instance only and removes its dir', async () => {
    const extra = await startDovecot({ name: 'stopme', folderStyle: 'dovecot', users: [BOB] });
    // A logged-in session forks an imap process too.
    const session = client(extra, { auth: auth(BOB) });
    await session.connect();
    session.on('error', () => undefined);
    const pids = processesIn(extra.dir);
    assert.ok(pids.includes(extra.pid));
    assert.ok(pids.length >= 4, `expected master + children, got ${pids.length}`);
    await extra.stop();
    session.close();
    assert.deepEqual(processesIn(extra.dir), []);
    assert.equal(existsSync(extra.dir), false);
    await assert.rejects(rawGreeting(extra.imapPort));
    // The other instances are untouched.
    await withClient(client(source, { auth: auth(BOB) }), async (c) => assert.ok(c.usable));
    assert.ok(processesIn(target.dir).includes(target.pid));
  });

  test('an instance left behind by a dead process is removed, in /tmp and in /dev/shm alike', async () => {
    // A pid that is surely gone: a process that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const orphans = ['/tmp', '/dev/shm'].map((root) => {
      const dir = mkdtempSync(join(root, 'ms-orphan-'));
      writeFileSync(join(dir, '.mailshift-testbed'), `owner=${dead.stdout}\n`);
      return dir;
    });
    // Orphans are looked for once per process, when it starts its first instance.
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e',
      "const m = await import('./src/testbed/dovecot-server.ts'); const d = await m.startDovecot({ name: 'reaper', folderStyle: 'dovecot', users: [{ user: 'r@example.com', password: 'p' }] }); await d.stop();"],
    { encoding: 'utf8', cwd: join(import.meta.dirname, '..') });
    assert.equal(child.status, 0, child.stderr);
    for (const dir of orphans) assert.equal(existsSync(dir), false, `${dir} reaped`);
  });
});
