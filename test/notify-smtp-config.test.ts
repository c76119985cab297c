import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { MailshiftError } from '../src/domain/errors.ts';
import { type SmtpConfig, smtpConfigFromEnv } from '../src/notify/smtp-config.ts';

const PASSWORD = 'S3cret,pa:ss@word';
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
let dir = '';
let caFile = '';
let notPem = '';

before(async () => {
  dir = await mkdtemp('/tmp/ms-smtp-config-');
  caFile = join(dir, 'ca.pem');
  notPem = join(dir, 'not.pem');
  await writeFile(caFile, PEM);
  await writeFile(notPem, 'hello');
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

type Expect = Partial<SmtpConfig> | { error: string; variable?: string; mentions?: RegExp };

const cases: Array<[string, () => NodeJS.ProcessEnv, Expect | null]> = [
  ['unset → notifications off', () => ({}), null],
  ['empty → notifications off', () => ({ MAILSHIFT_SMTP_URL: '  ' }), null],
  ['smtp:// with user → STARTTLS required, port 587, from = user',
    () => ({ MAILSHIFT_SMTP_URL: 'smtp://mailer@contoso.com@smtp.contoso.com', MAILSHIFT_SMTP_PASSWORD: PASSWORD }),
    { host: 'smtp.contoso.com', port: 587, secure: false, startTls: true, user: 'mailer@contoso.com', password: PASSWORD, from: 'mailer@contoso.com', caPem: null }],
  ['percent-encoded user, explicit port and from',
    () => ({ MAILSHIFT_SMTP_URL: 'smtp://mailer%40contoso.com@smtp.contoso.com:2525', MAILSHIFT_SMTP_PASSWORD: PASSWORD, MAILSHIFT_SMTP_FROM: 'Migrations <migrations@contoso.com>' }),
    { port: 2525, user: 'mailer@contoso.com', from: 'Migrations <migrations@contoso.com>' }],
  ['smtps:// → implicit TLS, port 465',
    () => ({ MAILSHIFT_SMTP_URL: 'smtps://relay@smtp.contoso.com', MAILSHIFT_SMTP_PASSWORD: PASSWORD, MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }),
    { port: 465, secure: true, startTls: false, user: 'relay' }],
  ['no user → no auth (local relay), STARTTLS still required',
    () => ({ MAILSHIFT_SMTP_URL: 'smtp://127.0.0.1:25', MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }),
    { host: '127.0.0.1', port: 25, startTls: true, user: null, password: null }],
  ['starttls=off without a user → plain relay',
    () => ({ MAILSHIFT_SMTP_URL: 'smtp://localhost:25?starttls=off', MAILSHIFT_SMTP_FROM: 'ops@localhost' }),
    { host: 'localhost', secure: false, startTls: false }],
  ['IPv6 host', () => ({ MAILSHIFT_SMTP_URL: 'smtp://[::1]:587', MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }), { host: '::1' }],
  ['CA file is read', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com', MAILSHIFT_SMTP_FROM: 'ops@contoso.com', MAILSHIFT_SMTP_CA: caFile }), { caPem: PEM }],

  ['not a URL', () => ({ MAILSHIFT_SMTP_URL: 'smtp.contoso.com:587' }), { error: 'NOTIFY_SMTP_CONFIG', variable: 'MAILSHIFT_SMTP_URL' }],
  ['wrong scheme', () => ({ MAILSHIFT_SMTP_URL: 'imap://smtp.contoso.com' }), { error: 'NOTIFY_SMTP_CONFIG', mentions: /scheme "imap"/ }],
  ['password in the URL is refused, and not echoed',
    () => ({ MAILSHIFT_SMTP_URL: `smtp://mailer:${encodeURIComponent(PASSWORD)}@smtp.contoso.com`, MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }),
    { error: 'NOTIFY_SMTP_CONFIG', mentions: /MAILSHIFT_SMTP_PASSWORD instead/ }],
  ['user without password', () => ({ MAILSHIFT_SMTP_URL: 'smtp://mailer@smtp.contoso.com', MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }), { error: 'NOTIFY_SMTP_CONFIG', variable: 'MAILSHIFT_SMTP_PASSWORD' }],
  ['password without user', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com', MAILSHIFT_SMTP_PASSWORD: PASSWORD, MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }), { error: 'NOTIFY_SMTP_CONFIG', mentions: /names no user/ }],
  ['starttls=off with a user would send the password in clear',
    () => ({ MAILSHIFT_SMTP_URL: 'smtp://mailer@smtp.contoso.com?starttls=off', MAILSHIFT_SMTP_PASSWORD: PASSWORD, MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }),
    { error: 'NOTIFY_SMTP_CONFIG', mentions: /unencrypted/ }],
  ['unknown option', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com?tls=weird', MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }), { error: 'NOTIFY_SMTP_CONFIG', mentions: /"tls=weird" is not understood/ }],
  ['a path', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com/inbox', MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }), { error: 'NOTIFY_SMTP_CONFIG', mentions: /has a path/ }],
  ['port 0', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com:0', MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }), { error: 'NOTIFY_SMTP_CONFIG', mentions: /port 0/ }],
  ['port too large', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com:70000', MAILSHIFT_SMTP_FROM: 'ops@contoso.com' }), { error: 'NOTIFY_SMTP_CONFIG', variable: 'MAILSHIFT_SMTP_URL' }],
  ['no from, user is not an address', () => ({ MAILSHIFT_SMTP_URL: 'smtp://relay@smtp.contoso.com', MAILSHIFT_SMTP_PASSWORD: PASSWORD }), { error: 'NOTIFY_SMTP_CONFIG', variable: 'MAILSHIFT_SMTP_FROM' }],
  ['from is not an address', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com', MAILSHIFT_SMTP_FROM: 'ops at contoso' }), { error: 'NOTIFY_SMTP_CONFIG', variable: 'MAILSHIFT_SMTP_FROM' }],
  ['from with a header injection', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com', MAILSHIFT_SMTP_FROM: 'ops@contoso.com\r\nBcc: x@evil.example' }), { error: 'NOTIFY_SMTP_CONFIG', variable: 'MAILSHIFT_SMTP_FROM' }],
  ['CA file missing', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com', MAILSHIFT_SMTP_FROM: 'ops@contoso.com', MAILSHIFT_SMTP_CA: '/nonexistent/ca.pem' }), { error: 'USAGE_FILE_UNREADABLE', mentions: /no such file/ }],
  ['CA file without a certificate', () => ({ MAILSHIFT_SMTP_URL: 'smtp://smtp.contoso.com', MAILSHIFT_SMTP_FROM: 'ops@contoso.com', MAILSHIFT_SMTP_CA: notPem }), { error: 'NOTIFY_SMTP_CONFIG', variable: 'MAILSHIFT_SMTP_CA' }],
];

describe('smtpConfigFromEnv', () => {
  for (const [name, env, expected] of cases) {
    it(name, () => {
      if (expected === null) return assert.equal(smtpConfigFromEnv(env()), null);
      if ('error' in expected) {
        assert.throws(() => smtpConfigFromEnv(env()), (err: unknown) => {
          assert.ok(err instanceof MailshiftError, String(err));
          assert.equal(err.code, expected.error);
          if (expected.variable) assert.equal(err.params.variable, expected.variable);
          if (expected.mentions) assert.match(err.message, expected.mentions);
          for (const text of [err.message, err.remediation, JSON.stringify(err.toJSON())]) {
            assert.ok(!text.includes(PASSWORD) && !text.includes(encodeURIComponent(PASSWORD)), 'the password never appears in an error');
          }
          return true;
        });
        return;
      }
      const config = smtpConfigFromEnv(env());
      assert.ok(config);
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(config[key as keyof SmtpConfig], value, key);
    });
  }

  it('keeps the password out of JSON and console output, but readable by code', () => {
    const config = smtpConfigFromEnv({ MAILSHIFT_SMTP_URL: 'smtp://mailer@contoso.com@smtp.contoso.com', MAILSHIFT_SMTP_PASSWORD: PASSWORD })!;
    assert.equal(config.password, PASSWORD);
    assert.ok(!JSON.stringify(config).includes(PASSWORD));
    assert.ok(!inspect(config, { depth: 5 }).includes(PASSWORD));
    assert.ok(!`${Object.values(config).join(' ')}`.includes(PASSWORD));
  });
});
