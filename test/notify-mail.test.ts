/**
 * The batch-finished mail: its subject, body and attachment, and sending it through a real SMTP
 * server (the `smtp-server` package on 127.0.0.1, AUTH over STARTTLS with a self-signed certificate
 * trusted through MAILSHIFT_SMTP_CA).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { MailshiftError } from '../src/domain/errors.ts';
import { buildBatchFinishedMail, reportFilename, sendBatchFinishedMail } from '../src/notify/batch-finished-mail.ts';
import { type SmtpConfig, smtpConfigFromEnv, withHiddenPassword } from '../src/notify/smtp-config.ts';
import type { BatchReport } from '../src/report/batch-report-model.ts';
import { renderBatchReportCsv } from '../src/report/render-batch-report.ts';

const SMTP_USER = 'mailer@contoso.test';
const SMTP_PASSWORD = 'Pa55,w0rd:"smtp"';
const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

function report(kind: 'clean' | 'errors', name = 'Sales Q4'): BatchReport {
  const users: BatchReport['users'] = [
    { emailAddress: 'alice@contoso.test', status: 'Synced', itemsSynced: 1200, itemsSkipped: 1, bytesSynced: 104_857_600, lastSyncAt: T0 + 3_000_000, error: null, warnings: ['The target folder "INBOX" does not accept the keyword(s) Project-X; they were not copied.'] },
    { emailAddress: 'bob@contoso.test', status: 'Synced', itemsSynced: 330, itemsSkipped: 0, bytesSynced: 52_428_800, lastSyncAt: T0 + 3_600_000, error: null, warnings: [] },
  ];
  if (kind === 'errors') {
    users.push({
      emailAddress: 'carol@contoso.test', status: 'Failed', itemsSynced: 0, itemsSkipped: 0, bytesSynced: 0, lastSyncAt: null,
      error: { code: 'TARGET_OVERQUOTA', message: 'This mailbox is full. Please free up some space so that email can be downloaded.', remediation: 'Raise the quota of the target mailbox carol@contoso.test, or free space in it, then run the migration again.' },
      warnings: [],
    });
  }
  return {
    batch: {
      name, status: kind === 'errors' ? 'SyncedWithErrors' : 'Synced', source: 'old-dovecot', target: 'new-imap',
      createdAt: T0, startedAt: T0 + 60_000, completedAt: T0 + 3_783_000,
      totals: { users: users.length, synced: 2, failed: kind === 'errors' ? 1 : 0, itemsSynced: 1530, itemsSkipped: 1, bytesSynced: 157_286_400 },
      warnings: [],
    },
    users,
    skippedItems: [{ emailAddress: 'alice@contoso.test', folder: 'INBOX', date: Date.UTC(2019, 0, 2), subject: 'Huge, "scanned" contract\nv2', size: 48_000_000, kind: 'too-large' }],
  };
}

describe('buildBatchFinishedMail', () => {
  it('has the subject admins search for, without " - with errors" when every user synced', () => {
    assert.equal(buildBatchFinishedMail(report('clean')).subject, 'E-mail migration batch "Sales Q4" has finished');
  });

  it('appends " - with errors" when a user failed', () => {
    assert.equal(buildBatchFinishedMail(report('errors')).subject, 'E-mail migration batch "Sales Q4" has finished - with errors');
  });

  it('appends " - with errors" for an error status or a user error even without failed users', () => {
    const r = report('clean');
    r.batch.status = 'CompletedWithErrors';
    assert.match(buildBatchFinishedMail(r).subject, / - with errors$/);
    const s = report('clean');
    s.users[0]!.error = { code: 'MSG_KEYWORDS_DROPPED', message: 'x', remediation: 'y' };
    assert.match(buildBatchFinishedMail(s).subject, / - with errors$/);
  });

  it('never lets a line break in the batch name reach the subject header', () => {
    assert.equal(buildBatchFinishedMail(report('clean', 'a\r\nBcc: x@evil.example')).subject, 'E-mail migration batch "a Bcc: x@evil.example" has finished');
  });

  it('summarises every user, the errors with what to do, and what this report does better', () => {
    const mail = buildBatchFinishedMail(report('errors'));
    for (const body of [mail.text, mail.html]) {
      assert.match(body, /alice@contoso\.test/);
      assert.match(body, /bob@contoso\.test/);
      assert.match(body, /carol@contoso\.test/);
      assert.match(body, /This mailbox is full/);
      assert.match(body, /Raise the quota of the target mailbox carol@contoso\.test/);
      assert.match(body, /Read\/unread state, flags and received dates were copied/);
      assert.match(body, /Each skipped item is listed in the attached report with its folder, date, subject, size and reason/);
      assert.match(body, /Users with warnings \(1\)/);
      assert.match(body, /The target folder (?:"|&quot;)INBOX(?:"|&quot;) does not accept the keyword\(s\) Project-X; they were not copied\./);
    }
    assert.match(mail.text, /Users:\s+3 total, 2 synced \(66\.7%\), 1 failed/);
    assert.match(mail.text, /alice@contoso\.test\s+Synced\s+1,200\s+1\s+100\.0\s+2026-11-20 09:50 UTC/);
    assert.match(mail.text, /Duration:\s+1h 02m/);
    assert.match(mail.text, /1 larger than the maximum message size/);
    assert.equal(mail.attachment.filename, 'mailshift-batch-Sales-Q4-report.csv');
    assert.equal(mail.attachment.content, renderBatchReportCsv(report('errors')));
  });

  it('escapes HTML in names, addresses and messages', () => {
    const r = report('errors', '<script>alert(1)</script>');
    r.users[2]!.error!.message = '<b>boom</b> & more';
    const { html } = buildBatchFinishedMail(r);
    assert.ok(!html.includes('<script>'));
    assert.ok(!html.includes('<b>boom</b>'));
    assert.match(html, /&lt;b&gt;boom&lt;\/b&gt; &amp; more/);
  });

  it('makes a safe attachment file name', () => {
    assert.equal(reportFilename('Zürich / Sales: "Q4"'), 'mailshift-batch-Zurich-Sales-Q4-report.csv');
    assert.equal(reportFilename('///'), 'mailshift-batch-report-report.csv');
  });
});

// ------------------------------------------------------------------------------- a minimal MIME reader

interface Part { headers: Map<string, string>; body: Buffer }

function decodeWords(value: string): string {
  return value.replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=(\s+(?==\?))?/g, (_m, _charset: string, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'));
}

function parsePart(raw: Buffer): Part {
  const text = raw.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { headers, body: split < 0 ? Buffer.alloc(0) : raw.subarray(Buffer.byteLength(head, 'latin1') + 4) };
}

function decodeBody(part: Part): Buffer {
  const enc = (part.headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const text = part.body.toString('latin1');
  if (enc === 'base64') return Buffer.from(text.replace(/\s+/g, ''), 'base64');
  if (enc === 'quoted-printable') {
    return Buffer.from(text.replace(/=\r\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  }
  return part.body;
}

/** Leaf parts of a message, depth first. */
function leaves(part: Part): Part[] {
  const type = part.headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (!/^multipart\//i.test(type) || !boundary) return [part];
  const text = part.body.toString('latin1');
  const chunks = text.split(`--${boundary}`).slice(1);
  const out: Part[] = [];
  for (const chunk of chunks) {
    if (chunk.startsWith('--')) break;
    out.push(...leaves(parsePart(Buffer.from(chunk.replace(/^\r\n/, '').replace(/\r\n$/, ''), 'latin1'))));
  }
  return out;
}

// ------------------------------------------------------------------------------- a real SMTP server

interface Received { from: string; to: string[]; raw: Buffer; authUser: string | null; secureAtAuth: boolean }

let dir = '';
let certPem = '';
let keyPem = '';
let caFile = '';

async function startSmtp(options: Partial<SMTPServerOptions> = {}): Promise<{ port: number; received: Received[]; authAttempts: string[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const authAttempts: string[] = [];
  const secureAtAuth = new Map<string, boolean>();
  const server = new SMTPServer({
    key: keyPem,
    cert: certPem,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    disableReverseLookup: true,
    onAuth(auth, session, callback) {
      authAttempts.push(auth.username ?? '');
      secureAtAuth.set(session.id, session.secure);
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) return callback(null, { user: auth.username });
      return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          authUser: typeof session.user === 'string' ? session.user : null,
          secureAtAuth: secureAtAuth.get(session.id) ?? false,
        });
        callback();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.on('error', () => {});
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, authAttempts, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function configFor(port: number, extra: NodeJS.ProcessEnv = {}): SmtpConfig {
  const config = smtpConfigFromEnv({
    MAILSHIFT_SMTP_URL: `smtp://${encodeURIComponent(SMTP_USER)}@127.0.0.1:${port}`,
    MAILSHIFT_SMTP_PASSWORD: SMTP_PASSWORD,
    MAILSHIFT_SMTP_FROM: 'Mailshift <migrations@contoso.test>',
    MAILSHIFT_SMTP_CA: caFile,
    ...extra,
  });
  assert.ok(config);
  return config;
}

function assertNoPassword(text: string): void {
  assert.ok(!text.includes(SMTP_PASSWORD), 'the SMTP password must not appear');
  assert.ok(!text.includes(Buffer.from(SMTP_PASSWORD).toString('base64')), 'nor in base64');
}

async function expectSendError(config: SmtpConfig, code: string): Promise<MailshiftError> {
  let caught: unknown;
  try {
    await sendBatchFinishedMail(config, ['admin@contoso.test'], report('errors'));
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MailshiftError, `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assertNoPassword(`${caught.message}\n${caught.remediation}\n${caught.stack ?? ''}\n${JSON.stringify(caught.toJSON())}`);
  return caught;
}

describe('sendBatchFinishedMail against a real SMTP server', () => {
  before(async () => {
    dir = await mkdtemp('/tmp/ms-notify-');
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    certPem = await readFile(join(dir, 'cert.pem'), 'utf8');
    keyPem = await readFile(join(dir, 'key.pem'), 'utf8');
    caFile = join(dir, 'cert.pem');
    await writeFile(join(dir, 'unused'), '');
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('delivers the subject, the per-user summary and the CSV report over STARTTLS with AUTH', async () => {
    const smtp = await startSmtp();
    try {
      const r = report('errors', 'Sales Zürich Q4');
      const result = await sendBatchFinishedMail(configFor(smtp.port), ['admin@contoso.test', ' ops@contoso.test '], r);
      assert.match(result.messageId, /^<.+@.+>$/);
      assert.equal(smtp.received.length, 1);
      const got = smtp.received[0]!;
      assert.equal(got.authUser, SMTP_USER);
      assert.equal(got.secureAtAuth, true, 'the password was only sent after STARTTLS');
      assert.equal(got.from, 'migrations@contoso.test');
      assert.deepEqual(got.to, ['admin@contoso.test', 'ops@contoso.test']);

      const message = parsePart(got.raw);
      assert.equal(decodeWords(message.headers.get('subject')!), 'E-mail migration batch "Sales Zürich Q4" has finished - with errors');
      assert.equal(message.headers.get('message-id'), result.messageId);
      assert.equal(message.headers.get('auto-submitted'), 'auto-generated');

      const parts = leaves(message);
      const text = parts.find((p) => /^text\/plain/i.test(p.headers.get('content-type') ?? '') && !/attachment/i.test(p.headers.get('content-disposition') ?? ''));
      const html = parts.find((p) => /^text\/html/i.test(p.headers.get('content-type') ?? ''));
      const csv = parts.find((p) => /attachment/i.test(p.headers.get('content-disposition') ?? ''));
      assert.ok(text && html && csv, `parts: ${parts.map((p) => p.headers.get('content-type')).join(' | ')}`);

      const body = decodeBody(text).toString('utf8');
      assert.match(body, /Per-user summary:/);
      assert.match(body, /alice@contoso\.test\s+Synced\s+1,200/);
      assert.match(body, /carol@contoso\.test\s+Failed/);
      assert.match(body, /What to do: Raise the quota of the target mailbox carol@contoso\.test/);
      assert.match(decodeBody(html).toString('utf8'), /<h3[^>]*>Per-user summary<\/h3>/);

      assert.match(csv.headers.get('content-type')!, /^text\/csv/);
      assert.match(csv.headers.get('content-disposition')!, /filename="?mailshift-batch-Sales-Zurich-Q4-report\.csv"?/);
      const csvBytes = decodeBody(csv);
      assert.deepEqual([...csvBytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'the attachment keeps its UTF-8 BOM');
      assert.equal(csvBytes.toString('utf8'), renderBatchReportCsv(r));
      assert.match(csvBytes.toString('utf8'), /"Huge, ""scanned"" contract\nv2"/);

      assertNoPassword(got.raw.toString('latin1'));
    } finally {
      await smtp.close();
    }
  });

  it('sends over implicit TLS (smtps://)', async () => {
    const smtp = await startSmtp({ secure: true });
    try {
      const config = configFor(smtp.port, { MAILSHIFT_SMTP_URL: `smtps://${encodeURIComponent(SMTP_USER)}@127.0.0.1:${smtp.port}` });
      await sendBatchFinishedMail(config, ['admin@contoso.test'], report('clean'));
      assert.equal(smtp.received.length, 1);
      assert.equal(decodeWords(parsePart(smtp.received[0]!.raw).headers.get('subject')!), 'E-mail migration batch "Sales Q4" has finished');
    } finally {
      await smtp.close();
    }
  });

  it('reports a wrong password as NOTIFY_SMTP_AUTH without printing it', async () => {
    const smtp = await startSmtp();
    try {
      const config = withHiddenPassword({ ...configFor(smtp.port) }, 'wrong-' + SMTP_PASSWORD);
      const err = await expectSendError(config, 'NOTIFY_SMTP_AUTH');
      assert.ok(!err.message.includes('wrong-'));
      assert.match(err.remediation, /MAILSHIFT_SMTP_PASSWORD/);
      assert.equal(smtp.received.length, 0);
    } finally {
      await smtp.close();
    }
  });

  it('refuses an untrusted certificate (no MAILSHIFT_SMTP_CA) before sending the password', async () => {
    const smtp = await startSmtp();
    try {
      const err = await expectSendError(configFor(smtp.port, { MAILSHIFT_SMTP_CA: '' }), 'NOTIFY_SMTP_TLS');
      assert.match(err.remediation, /MAILSHIFT_SMTP_CA/);
      assert.deepEqual(smtp.authAttempts, []);
    } finally {
      await smtp.close();
    }
  });

  it('refuses to sign in when the server offers no STARTTLS', async () => {
    const smtp = await startSmtp({ hideSTARTTLS: true, disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
    try {
      await expectSendError(configFor(smtp.port), 'NOTIFY_SMTP_TLS');
      assert.deepEqual(smtp.authAttempts, [], 'the password never crossed in clear');
    } finally {
      await smtp.close();
    }
  });

  it('reports refused recipients as NOTIFY_SMTP_REJECTED', async () => {
    const smtp = await startSmtp({
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error('5.1.1 Recipient address rejected'), { responseCode: 550 }));
      },
    });
    try {
      const err = await expectSendError(configFor(smtp.port), 'NOTIFY_SMTP_REJECTED');
      assert.match(err.message, /Recipient address rejected/);
    } finally {
      await smtp.close();
    }
  });

  it('reports a closed port as NOTIFY_SMTP_UNREACHABLE', async () => {
    const probe = createNetServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await expectSendError(configFor(port), 'NOTIFY_SMTP_UNREACHABLE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });

  it('needs at least one recipient', async () => {
    await assert.rejects(sendBatchFinishedMail(configFor(1), [' '], report('clean')), (err: unknown) => err instanceof MailshiftError && err.code === 'NOTIFY_SMTP_CONFIG');
  });
});
