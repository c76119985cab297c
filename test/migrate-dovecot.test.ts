/**
 * `mailshift migrate` and `mailshift verify` end to end against two real Dovecot servers: the source
 * with Dovecot's folder names, the target with Exchange-style special-use folders.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { fillMailbox, generateCorpus, readMailbox, startDovecot } from '../src/testbed/index.js';
import type { CorpusMessage, DovecotServer } from '../src/testbed/index.js';
import { connectionArgs, runCli } from './support/cli.js';
import { byFolder, toExchange } from './support/mailbox-compare.js';

const PASS = { source: 'src-pass', target: 'dst-pass' };
const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'full', 'frank', 'gina', 'hank', 'ivy', 'jane'].map((u) => `${u}@example.com`);
let source: DovecotServer;
let target: DovecotServer;
let plainTarget: DovecotServer;
let dotSource: DovecotServer;
const work = mkdtempSync(join(tmpdir(), 'ms-test-'));
const env = { MAILSHIFT_SOURCE_PASSWORD: PASS.source, MAILSHIFT_TARGET_PASSWORD: PASS.target };

function msg(folder: string, headers: string, body: string, flags: string[] = [], date = Date.UTC(2023, 4, 17, 9, 30, 0)): CorpusMessage {
  return { folder, raw: Buffer.from(`${headers.trim().split('\n').join('\r\n')}\r\n\r\n${body.split('\n').join('\r\n')}`), flags, internalDate: date };
}

const special: CorpusMessage[] = [
  msg('INBOX', 'Message-ID: <same@example.com>\nSubject: first with a repeated id\nFrom: a@example.com', 'one\n'),
  msg('INBOX', 'Message-ID: <same@example.com>\nSubject: second with a repeated id\nFrom: a@example.com', 'two\n'),
  msg('INBOX', 'Message-ID: <twin@example.com>\nSubject: identical twins\nFrom: a@example.com', 'same bytes\n', ['\\Seen']),
  msg('INBOX', 'Message-ID: <twin@example.com>\nSubject: identical twins\nFrom: a@example.com', 'same bytes\n', ['\\Seen']),
  { folder: 'INBOX', raw: Buffer.from('Subject: header only\r\nFrom: h@example.com\r\n'), flags: ['\\Answered'], internalDate: Date.UTC(2019, 1, 2, 3, 4, 5) },
  msg('Projets/Été 2024/Réunions', 'Message-ID: <fr@example.com>\nSubject: =?UTF-8?Q?R=C3=A9union?=\nFrom: f@example.com', 'bonjour\n', ['\\Flagged', 'Travail', '$Label1'], Date.UTC(2024, 6, 1)),
  msg('Emoji 🎉/Party "quoted"', 'Message-ID: <emoji@example.com>\nSubject: party\nFrom: p@example.com', 'yay\n', ['\\Draft'], Date.UTC(2021, 11, 31, 23, 59, 59)),
  msg('Empty/Child', 'Message-ID: <child@example.com>\nSubject: child\nFrom: c@example.com', 'x\n', [], Date.UTC(2022, 0, 1)),
  msg('Sent', 'Message-ID: <sent@example.com>\nSubject: sent\nFrom: alice@example.com', 'sent\n', ['\\Seen'], Date.UTC(2020, 5, 5)),
];

before(async () => {
  [source, target, plainTarget] = await Promise.all([
    startDovecot({ name: 'mig-src', folderStyle: 'dovecot', users: users.map((user) => ({ user, password: PASS.source })), masterUser: { user: 'mailadmin', password: 'master-pass' } }),
    startDovecot({ name: 'mig-dst', folderStyle: 'exchange', users: users.map((user) => ({ user, password: PASS.target, ...(user.startsWith('full') ? { quotaBytes: 30_000 } : {}) })) }),
    startDovecot({ name: 'mig-dst2', folderStyle: 'exchange', users: [{ user: 'alice@example.com', password: PASS.target }] }),
  ]);
  dotSource = await startDovecot({ name: 'mig-dot', folderStyle: 'dovecot', separator: '.', users: [{ user: 'hank@example.com', password: PASS.source }] });
});

after(async () => {
  await Promise.all([source?.stop(), target?.stop(), plainTarget?.stop(), dotSource?.stop()]);
});

function nonEmpty(map: Map<string, string[]>): Map<string, string[]> {
  return new Map([...map].filter(([, list]) => list.length > 0));
}

test('full copy: nested unicode folders, keywords, dates, repeated Message-IDs, identical and header-only messages', async () => {
  const user = 'alice@example.com';
  // With three multi-MB messages: they arrive in buffers of their own that are released once copied.
  await fillMailbox(source, { user, password: PASS.source }, [...special, ...generateCorpus({ messages: 300, seed: 3, largeMessages: { count: 3, bytes: 2_500_000 } })]);
  const before = await readMailbox(source, { user, password: PASS.source });
  const state = join(work, 'alice.sqlite');
  const result = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', state, '--json'], env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  const report = JSON.parse(result.stdout) as { totals: { transferred: number; sourceMessages: number }; verification: { consistent: boolean; expected: number } };
  assert.equal(report.totals.transferred, before.length);
  assert.equal(report.verification.consistent, true);

  const after = await readMailbox(source, { user, password: PASS.source });
  assert.deepEqual(byFolder(after), byFolder(before), 'the source must be unchanged (never marked \\Seen)');
  const copied = await readMailbox(target, { user, password: PASS.target });
  assert.deepEqual(nonEmpty(byFolder(copied)), nonEmpty(byFolder(before, toExchange)));
  assert.ok(copied.some((m) => m.folder === 'Sent Items'), 'Sent goes to the special-use Sent Items');
  const folders = new Set(copied.map((m) => m.folder));
  assert.ok(folders.has('Projets/Été 2024/Réunions'));
  assert.ok(folders.has('Emoji 🎉/Party "quoted"'));

  const verify = await runCli(['verify', ...connectionArgs(source, user, target, user), '--deep'], env);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /Consistent: all \d+ source messages/);

  // A second run copies nothing.
  const again = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', state, '--json'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { totals: { transferred: number } }).totals.transferred, 0);

  // New mail and changed flags: only the new mail is copied, and the flags follow.
  const client = new ImapFlow({ host: '127.0.0.1', port: source.imapPort, secure: false, tls: { ca: source.caPem }, auth: { user, pass: PASS.source }, logger: false });
  await client.connect();
  const lock = await client.getMailboxLock('INBOX');
  const first = await client.fetchOne('1', { uid: true }, { uid: false });
  assert.ok(first);
  await client.messageFlagsAdd('1', ['\\Flagged', 'Important'], { uid: false });
  await client.messageFlagsRemove('1', ['\\Seen'], { uid: false });
  lock.release();
  await client.logout();
  await fillMailbox(source, { user, password: PASS.source }, [
    msg('INBOX', 'Message-ID: <new1@example.com>\nSubject: new one', 'new\n', [], Date.UTC(2026, 0, 1)),
    msg('Projets/Été 2024/Réunions', 'Message-ID: <new2@example.com>\nSubject: new two', 'new\n', ['\\Seen'], Date.UTC(2026, 0, 2)),
  ]);
  const incremental = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', state, '--json'], env);
  assert.equal(incremental.code, 0, incremental.stderr);
  const inc = JSON.parse(incremental.stdout) as { totals: { transferred: number; flagsUpdated: number }; verification: { consistent: boolean } };
  assert.equal(inc.totals.transferred, 2);
  assert.equal(inc.totals.flagsUpdated, 1);
  assert.equal(inc.verification.consistent, true);
  const finalSource = await readMailbox(source, { user, password: PASS.source });
  const finalTarget = await readMailbox(target, { user, password: PASS.target });
  assert.deepEqual(nonEmpty(byFolder(finalTarget)), nonEmpty(byFolder(finalSource, toExchange)));
});

test('wrong password: the seeds\' sign-in message, exit code 5, no password anywhere in the output', async () => {
  const user = 'bob@example.com';
  const result = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', join(work, 'bob.sqlite')], { ...env, MAILSHIFT_SOURCE_PASSWORD: 'Wrong-Secret-123' });
  assert.equal(result.code, 5, result.stdout + result.stderr);
  assert.match(result.stdout + result.stderr, /We had trouble signing in to this account\. Confirm that you're using the correct user name and password\./);
  assert.doesNotMatch(result.stdout + result.stderr, /Wrong-Secret-123|dst-pass/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
});

test('tiny target quota: "This mailbox is full", exit code 6; after raising the quota the rerun completes without duplicates', async () => {
  const user = 'full@example.com';
  await fillMailbox(source, { user, password: PASS.source }, generateCorpus({ messages: 60, seed: 9 }));
  const state = join(work, 'full.sqlite');
  const result = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', state], env);
  assert.equal(result.code, 6, result.stdout + result.stderr);
  assert.match(result.stdout, /This mailbox is full\. Please free up some space so that email can be downloaded\./);
  await target.setUserQuota(user, null);
  const rerun = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', state, '--json'], env);
  assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
  const src = await readMailbox(source, { user, password: PASS.source });
  const dst = await readMailbox(target, { user, password: PASS.target });
  assert.deepEqual(nonEmpty(byFolder(dst)), nonEmpty(byFolder(src, toExchange)));
});

test('filters and folder rules: --max-message-size, --since, --exclude, --map, with skipped items reported', async () => {
  const user = 'dave@example.com';
  const big = msg('INBOX', 'Message-ID: <big@example.com>\nSubject: The big attachment', 'x'.repeat(60_000) + '\n', [], Date.UTC(2025, 2, 3));
  await fillMailbox(source, { user, password: PASS.source }, [
    big,
    msg('INBOX', 'Message-ID: <old@example.com>\nSubject: old', 'old\n', [], Date.UTC(2015, 0, 1)),
    msg('INBOX', 'Message-ID: <recent@example.com>\nSubject: recent', 'recent\n', [], Date.UTC(2025, 0, 1)),
    msg('Lists/node', 'Message-ID: <list@example.com>\nSubject: list', 'list\n', [], Date.UTC(2025, 0, 1)),
    msg('Projects/Alpha', 'Message-ID: <alpha@example.com>\nSubject: alpha', 'alpha\n', [], Date.UTC(2025, 0, 1)),
  ]);
  const result = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', join(work, 'dave.sqlite'),
    '--max-message-size', '50KB', '--since', '2020-01-01', '--exclude', 'lists', '--map', 'Projects=Work/Old Projects'], env);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /1 larger than the maximum message size; 1 older than --since/);
  assert.match(result.stdout, /skipped: INBOX uid \d+, 2025-03-03, "The big attachment"/);
  assert.match(result.stdout, /excluded \(Lists/);
  const dst = await readMailbox(target, { user, password: PASS.target });
  assert.deepEqual(dst.map((m) => m.folder).sort(), ['INBOX', 'Work/Old Projects/Alpha']);
});

test('--folder migrates only the named subtree; --dry-run changes nothing', async () => {
  const user = 'erin@example.com';
  await fillMailbox(source, { user, password: PASS.source }, generateCorpus({ messages: 80, seed: 5 }));
  const dry = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', join(work, 'erin.sqlite'), '--dry-run', '--json'], env);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal((JSON.parse(dry.stdout) as { totals: { transferred: number } }).totals.transferred, 80);
  assert.equal((await readMailbox(target, { user, password: PASS.target })).length, 0, 'dry run wrote nothing');
  const dryText = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', join(work, 'erin.sqlite'), '--dry-run'], env);
  assert.match(dryText.stdout, /Dry run \(nothing was changed\)/);
  assert.match(dryText.stdout, /Would transfer\s+80 /);
  assert.match(dryText.stdout, /Folders\s+\d+ examined, \d+ to create on the target/);
  assert.match(dryText.stdout, /Sent -> Sent Items: \d+ to copy/);
  const only = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', join(work, 'erin.sqlite'), '--folder', 'projects'], env);
  assert.equal(only.code, 0, only.stderr);
  const dst = await readMailbox(target, { user, password: PASS.target });
  assert.ok(dst.length > 0);
  assert.ok(dst.every((m) => m.folder.startsWith('Projects/')), [...new Set(dst.map((m) => m.folder))].join(', '));
});

test('a target with a self-signed certificate fails with a TLS error unless its CA is given', async () => {
  const user = 'alice@example.com';
  const args = connectionArgs(source, user, plainTarget, user).filter((a, i, all) => a !== '--target-ca' && all[i - 1] !== '--target-ca');
  const refused = await runCli(['migrate', ...args, '--state', join(work, 'tls.sqlite')], env);
  assert.equal(refused.code, 4, refused.stdout + refused.stderr);
  assert.match(refused.stdout + refused.stderr, /certificate of 127\.0\.0\.1 is not trusted/);
  assert.match(refused.stdout + refused.stderr, /--target-ca/);
  const accepted = await runCli(['migrate', ...connectionArgs(source, user, plainTarget, user), '--state', join(work, 'tls.sqlite'), '--json'], env);
  assert.equal(accepted.code, 0, accepted.stdout + accepted.stderr);
});

test('--users CSV: admin (master user) logins on the source, per-user target credentials, concurrency', async () => {
  const csv = join(work, 'users.csv');
  const csvUsers = ['carol@example.com', 'frank@example.com'];
  for (const [i, user] of csvUsers.entries()) await fillMailbox(source, { user, password: PASS.source }, generateCorpus({ messages: 40, seed: 20 + i }));
  writeFileSync(csv, `\uFEFFEmailAddress,UserName,Password,TargetUserName,TargetPassword\r\n${csvUsers.map((u) => `${u},${u}*mailadmin,master-pass,${u},${PASS.target}`).join('\r\n')}\r\n`);
  const result = await runCli(['migrate', '--users', csv, '--concurrency', '2',
    '--source-host', '127.0.0.1', '--source-port', String(source.imapsPort), '--source-ca', source.caFile,
    '--target-host', '127.0.0.1', '--target-port', String(target.imapsPort), '--target-ca', target.caFile,
    '--state', join(work, 'users.sqlite'), '--json'], {});
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const body = JSON.parse(result.stdout) as { mailboxes: Array<{ status: string; totals: { transferred: number } }> };
  assert.equal(body.mailboxes.length, 2);
  assert.ok(body.mailboxes.every((m) => m.status === 'completed' && m.totals.transferred === 40));
  assert.doesNotMatch(result.stdout + result.stderr, /master-pass|dst-pass/);
  for (const user of csvUsers) {
    const src = await readMailbox(source, { user, password: PASS.source });
    const dst = await readMailbox(target, { user, password: PASS.target });
    assert.deepEqual(nonEmpty(byFolder(dst)), nonEmpty(byFolder(src, toExchange)));
  }
});

/** Runs `migrate --json`, which must complete and verify with these totals and a warning matching `warning`. */
async function migrateCompletes(args: string[], expected: { transferred: number; retries: number; warning: RegExp }): Promise<void> {
  const result = await runCli(args, env);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  const report = JSON.parse(result.stdout) as { status: string; warnings: string[]; totals: { transferred: number; retries: number }; verification: { consistent: boolean } };
  assert.equal(report.status, 'completed');
  assert.equal(report.totals.transferred, expected.transferred);
  assert.equal(report.totals.retries, expected.retries);
  assert.equal(report.verification.consistent, true);
  assert.ok(report.warnings.some((w) => expected.warning.test(w)), report.warnings.join('\n'));
}

test('a source that allows 2 connections per account: the folders are copied by the workers it accepted, with a warning, not a failure', async () => {
  // Three folder workers want 6 source connections (control + fetch each), and each needs at least
  // its control connection, so at least one is refused: when it opens, or (its control connection
  // logged in first) the first worker's fetch connection, and that worker reads through its
  // control connection. Either way 1 or 2 workers go on.
  const limited = await startDovecot({ name: 'mig-limit', folderStyle: 'dovecot', maxUserIpConnections: 2, users: [{ user: 'ivy@example.com', password: PASS.source }] });
  try {
    const user = 'ivy@example.com';
    await fillMailbox(limited, { user, password: PASS.source }, generateCorpus({ messages: 1100, seed: 91 }), { connections: 1 });
    const before = await readMailbox(limited, { user, password: PASS.source });
    assert.ok(new Set(before.map((m) => m.folder)).size >= 3, 'enough folders for three workers');
    await migrateCompletes(['migrate', ...connectionArgs(limited, user, target, user), '--folder-concurrency', '3', '--state', join(work, 'ivy.sqlite'), '--json'], {
      transferred: before.length, retries: 0, warning: /refused more connections for this account .*mail_max_userip_connections=2.*went on with [12] folder worker\(s\) instead of 3/,
    });
    const copied = await readMailbox(target, { user, password: PASS.target });
    assert.deepEqual(nonEmpty(byFolder(copied)), nonEmpty(byFolder(before, toExchange)), 'every message once, flags and dates kept');
  } finally {
    await limited.stop();
  }
});

test('a source that allows 1 connection per account: the messages are read over it, with a warning', async () => {
  const single = await startDovecot({ name: 'mig-src-single', folderStyle: 'dovecot', maxUserIpConnections: 1, users: [{ user: 'jane@example.com', password: PASS.source }] });
  try {
    const user = 'jane@example.com';
    await fillMailbox(single, { user, password: PASS.source }, generateCorpus({ messages: 60, seed: 93 }), { connections: 1 });
    const before = await readMailbox(single, { user, password: PASS.source });
    await migrateCompletes(['migrate', ...connectionArgs(single, user, target, user), '--state', join(work, 'jane.sqlite'), '--json'], {
      transferred: before.length, retries: 0, warning: /refused this account a second connection .*mail_max_userip_connections=1.*read over its one connection/,
    });
    const copied = await readMailbox(target, { user, password: PASS.target });
    assert.deepEqual(nonEmpty(byFolder(copied)), nonEmpty(byFolder(before, toExchange)), 'every message once, flags and dates kept');
  } finally {
    await single.stop();
  }
});

test('a target that allows 1 connection per account: after one refused attempt the messages are appended over the control connection', async () => {
  const single = await startDovecot({ name: 'mig-single', folderStyle: 'exchange', maxUserIpConnections: 1, users: [{ user: 'ivy@example.com', password: PASS.target }] });
  try {
    const user = 'ivy@example.com';
    await fillMailbox(source, { user, password: PASS.source }, generateCorpus({ messages: 60, seed: 92 }));
    const before = await readMailbox(source, { user, password: PASS.source });
    const state = join(work, 'ivy-single.sqlite');
    // One retry: the attempt that found out.
    await migrateCompletes(['migrate', ...connectionArgs(source, user, single, user), '--retries', '2', '--state', state, '--json'], {
      transferred: before.length, retries: 1, warning: /allows this account only one connection .*mail_max_userip_connections=1.*appended over it one command at a time/,
    });
    const copied = await readMailbox(single, { user, password: PASS.target });
    assert.deepEqual(nonEmpty(byFolder(copied)), nonEmpty(byFolder(before, toExchange)), 'every message once, flags and dates kept');
    // A second run copies nothing.
    const again = await runCli(['migrate', ...connectionArgs(source, user, single, user), '--retries', '2', '--state', state, '--json'], env);
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.equal((JSON.parse(again.stdout) as { totals: { transferred: number } }).totals.transferred, 0);
  } finally {
    await single.stop();
  }
});

test('verify finds what is missing, duplicated and changed on the target, and exits 8', async () => {
  const user = 'gina@example.com';
  await fillMailbox(source, { user, password: PASS.source }, generateCorpus({ messages: 30, seed: 77 }));
  const copied = await runCli(['migrate', ...connectionArgs(source, user, target, user), '--state', join(work, 'gina.sqlite')], env);
  assert.equal(copied.code, 0, copied.stderr);
  const client = new ImapFlow({ host: '127.0.0.1', port: target.imapPort, secure: false, tls: { ca: target.caPem }, auth: { user, pass: PASS.target }, logger: false });
  await client.connect();
  const lock = await client.getMailboxLock('INBOX');
  const [first, second] = await Promise.all([client.fetchOne('1', { source: true, internalDate: true }), client.fetchOne('2', { uid: true })]);
  assert.ok(first && second);
  await client.messageFlagsAdd('2', ['\\Flagged'], { uid: false });
  await client.messageDelete('3', { uid: false });
  lock.release();
  await client.append('INBOX', first.source!, [], first.internalDate);
  await client.logout();
  const verify = await runCli(['verify', ...connectionArgs(source, user, target, user), '--json'], env);
  assert.equal(verify.code, 8, verify.stdout + verify.stderr);
  const result = JSON.parse(verify.stdout) as { consistent: boolean; missing: number; duplicated: number; flagMismatches: number };
  assert.deepEqual({ consistent: result.consistent, missing: result.missing, duplicated: result.duplicated, flagMismatches: result.flagMismatches },
    { consistent: false, missing: 1, duplicated: 1, flagMismatches: 1 });
  const text = await runCli(['verify', ...connectionArgs(source, user, target, user)], env);
  assert.equal(text.code, 8);
  assert.match(text.stdout, /NOT consistent: 1 missing, 1 duplicated, 1 flag and 0 date mismatches/);
});

test('a source with "." as hierarchy delimiter lands in the "/" hierarchy of the target', async () => {
  const user = 'hank@example.com';
  await fillMailbox(dotSource, { user, password: PASS.source }, generateCorpus({ messages: 60, seed: 31 }));
  const result = await runCli(['migrate', ...connectionArgs(dotSource, user, target, user), '--state', join(work, 'hank.sqlite'), '--json'], env);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const src = await readMailbox(dotSource, { user, password: PASS.source });
  const dst = await readMailbox(target, { user, password: PASS.target });
  assert.ok(src.some((m) => m.path.includes('.')), 'the source really uses "." between levels');
  assert.ok(dst.some((m) => m.path === 'Projects/Alpha'));
  assert.deepEqual(nonEmpty(byFolder(dst)), nonEmpty(byFolder(src, toExchange)));
});

test('bad input: clear errors and exit code 2, never a stack trace', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['migrate', '--source-host', 'h', '--source-user', 'u', '--target-host', 'h', '--target-user', 'u', '--since', '2024-13-01'], /--since: "2024-13-01" is not a valid calendar date/],
    [['migrate', '--source-host', 'h', '--source-user', 'u', '--target-host', 'h', '--target-user', 'u', '--max-message-size', 'huge'], /--max-message-size: "huge" is not a size/],
    [['migrate', '--source-user', 'u', '--target-host', 'h', '--target-user', 'u'], /--source-host is required/],
    [['migrate', '--users', join(work, 'missing.csv'), '--source-host', 'h', '--target-host', 'h'], /could not be read: ENOENT/],
    [['migrate', '--source-host', 'h', '--source-user', 'u', '--target-host', 'h', '--target-user', 'u', '--map', 'nonsense'], /--map: "nonsense" must look like/],
    [['migrate', '--source-host', 'h', '--source-user', 'u', '--target-host', 'h', '--target-user', 'u', '--max-connections', '0'], /--max-connections: "0" must be a whole number from 1 to 10000/],
  ];
  for (const [args, expected] of cases) {
    const result = await runCli(args, env);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, expected);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  }
  const badCsv = join(work, 'bad.csv');
  writeFileSync(badCsv, 'EmailAddress,UserName\r\nnot-an-address,u\r\n');
  const csv = await runCli(['migrate', '--users', badCsv, '--source-host', 'h', '--target-host', 'h'], env);
  assert.equal(csv.code, 2);
  assert.match(csv.stderr, /Column "Password" is missing from the CSV file/);
});
