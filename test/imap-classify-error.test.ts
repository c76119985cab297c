import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, classifyError, formatElapsed, type ErrorContext } from '../src/imap/classify-error.js';
import { MailshiftError } from '../src/domain/errors.js';

const ctx: ErrorContext = { host: 'imap.example.com', port: 993, user: 'alice', side: 'source', secrets: ['s3cret!'] };

function err(message: string, props: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), props);
}

// [name, error, expected code]
const table: Array<[string, unknown, string]> = [
  ['DNS ENOTFOUND', err('getaddrinfo ENOTFOUND imap.example.com', { code: 'ENOTFOUND' }), 'CONN_DNS'],
  ['DNS EAI_AGAIN', err('getaddrinfo EAI_AGAIN', { code: 'EAI_AGAIN' }), 'CONN_DNS'],
  ['refused', err('connect ECONNREFUSED 127.0.0.1:993', { code: 'ECONNREFUSED' }), 'CONN_REFUSED'],
  ['imapflow connect timeout', err('Failed to establish connection in required time', { code: 'CONNECT_TIMEOUT', details: { connectionTimeout: 15000 } }), 'CONN_TIMEOUT'],
  ['greeting timeout', err('Failed to receive greeting', { code: 'GREETING_TIMEOUT' }), 'CONN_TIMEOUT'],
  ['socket ETIMEDOUT', err('connect ETIMEDOUT', { code: 'ETIMEDOUT' }), 'CONN_TIMEOUT'],
  ['reset', err('read ECONNRESET', { code: 'ECONNRESET' }), 'CONN_LOST'],
  ['imapflow NoConnection with BYE reason', err('Connection not available', { code: 'NoConnection', reason: 'Server shutting down.' }), 'CONN_LOST'],
  ['BYE with LIMIT text', err('Connection not available', { code: 'NoConnection', reason: 'Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)' }), 'CONN_TOO_MANY'],
  ['[LIMIT] code', err('Command failed', { responseStatus: 'NO', responseText: '[LIMIT] Too many open mailboxes' }), 'CONN_TOO_MANY'],
  ['M365 throttling', err('Command failed', { code: 'ETHROTTLE', responseStatus: 'BAD', responseText: 'Request is throttled. Suggested Backoff Time: 12345 milliseconds', throttleReset: 12345 }), 'CONN_THROTTLED'],
  ['Gmail THROTTLED', err('Command failed', { responseStatus: 'NO', responseText: '[THROTTLED] Account exceeded command or bandwidth limits.' }), 'CONN_THROTTLED'],
  ['Gmail simultaneous', err('Connection not available', { code: 'NoConnection', reason: '[ALERT] Too many simultaneous connections. (Failure)' }), 'CONN_THROTTLED'],
  ['auth flag', err('Authentication failed', { authenticationFailed: true, serverResponseCode: 'AUTHENTICATIONFAILED', response: 'NO [AUTHENTICATIONFAILED] Authentication failed.' }), 'AUTH_FAILED'],
  ['auth text only', err('Command failed', { responseText: '[AUTHENTICATIONFAILED] Authentication failed.' }), 'AUTH_FAILED'],
  ['imapflow login disabled', err('Login is disabled', { authenticationFailed: true }), 'AUTH_LOGIN_DISABLED'],
  ['login disabled', err('Command failed', { responseText: 'LOGINDISABLED' }), 'AUTH_LOGIN_DISABLED'],
  ['plaintext disallowed (Dovecot)', err('Authentication failed', { authenticationFailed: true, response: 'NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.' }), 'AUTH_LOGIN_DISABLED'],
  ['overquota code', err('Command failed', { responseStatus: 'NO', serverResponseCode: 'OVERQUOTA', responseText: 'Quota exceeded (mailbox for user is full)' }), 'TARGET_OVERQUOTA'],
  ['quota text', err('Command failed', { responseStatus: 'NO', responseText: 'Quota exceeded' }), 'TARGET_OVERQUOTA'],
  ['self-signed', err('self-signed certificate', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'TLS_UNTRUSTED'],
  ['self-signed in chain', err('self-signed certificate in certificate chain', { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'TLS_UNTRUSTED'],
  ['unable to verify leaf', err('unable to verify the first certificate', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), 'TLS_UNTRUSTED'],
  ['issuer local', err('unable to get local issuer certificate', { code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }), 'TLS_UNTRUSTED'],
  ['wrapped TLS error (imapflow _err)', err('Connection failed', { _err: err('self-signed certificate', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }) }), 'TLS_UNTRUSTED'],
  ['alt name', err("Hostname/IP does not match certificate's altnames", { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'TLS_NAME_MISMATCH'],
  ['expired', err('certificate has expired', { code: 'CERT_HAS_EXPIRED' }), 'TLS_EXPIRED'],
  ['not yet valid', err('certificate is not yet valid', { code: 'CERT_NOT_YET_VALID' }), 'TLS_EXPIRED'],
  ['ssl wrong version', err('ssl3_get_record:wrong version number', { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }), 'TLS_HANDSHAKE'],
  ['protocol too old', err('unsupported protocol', { code: 'ERR_SSL_UNSUPPORTED_PROTOCOL' }), 'TLS_HANDSHAKE'],
  ['STARTTLS required, not offered', err('Server does not support STARTTLS', { tlsFailed: true }), 'TLS_HANDSHAKE'],
  ['other NO', err('Command failed', { responseStatus: 'NO', responseText: '[CANNOT] Invalid mailbox name' }), 'IMAP_PROTOCOL'],
  ['plain string', 'something odd', 'IMAP_PROTOCOL'],
];

for (const [name, error, expected] of table) {
  test(`classify: ${name} → ${expected}`, () => {
    const c = classify(error, ctx);
    assert.equal(c.code, expected);
    assert.equal(c.params.host, 'imap.example.com');
    assert.equal(c.params.port, 993);
    assert.equal(c.params.user, 'alice');
    assert.equal(c.params.side, 'source');
  });
}

test('throttling carries retryAfterMs parsed from the text when imapflow did not', () => {
  const e = classifyError(err('Command failed', { responseText: 'Request is throttled. Suggested Backoff Time: 12345 milliseconds' }), ctx);
  assert.equal(e.code, 'CONN_THROTTLED');
  assert.equal(e.retryAfterMs, 12345);
  const f = classifyError(err('x', { code: 'ETHROTTLE', throttleReset: 999, responseText: 'Request is throttled.' }), ctx);
  assert.equal(f.retryAfterMs, 999);
});

test('timeout elapsed is formatted hh:mm:ss from the error or the context', () => {
  assert.equal(formatElapsed(15000), '00:00:15');
  assert.equal(formatElapsed(3_725_000), '01:02:05');
  const e = classifyError(err('t', { code: 'CONNECT_TIMEOUT', details: { connectionTimeout: 15000 } }), ctx);
  assert.equal(e.message, 'The connection to the server imap.example.com timed out after 00:00:15.');
  const g = classifyError(err('t', { code: 'ETIMEOUT' }), { ...ctx, timeoutMs: 90_000 });
  assert.equal(g.params.elapsed, '00:01:30');
});

test('the response code is exposed in params', () => {
  const e = classifyError(err('Command failed', { responseStatus: 'NO', responseText: '[OVERQUOTA] Quota exceeded' }), ctx);
  assert.equal(e.params.responseCode, 'OVERQUOTA');
});

test('secrets never reach the message or params', () => {
  const e = classifyError(err('Command failed', { responseText: 'LOGIN alice s3cret! rejected: Authentication failed' }), ctx);
  assert.equal(e.code, 'AUTH_FAILED');
  assert.ok(!JSON.stringify(e.params).includes('s3cret!'));
  assert.ok(!e.message.includes('s3cret!'));
  const lost = classifyError(err('read ECONNRESET s3cret!', { code: 'ECONNRESET' }), ctx);
  assert.ok(!lost.message.includes('s3cret!'));
});

test('a MailshiftError passes through unchanged', () => {
  const original = new MailshiftError('TARGET_OVERQUOTA', { user: 'x' });
  assert.equal(classifyError(original, ctx), original);
});

test('templates are filled: CONN_LOST names the host and the BYE text', () => {
  const e = classifyError(err('Connection not available', { code: 'NoConnection', reason: 'Server shutting down.' }), ctx);
  assert.equal(e.message, 'The connection to the server imap.example.com was lost: Server shutting down.');
  const t = classifyError(err('self-signed certificate', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), ctx);
  assert.match(t.remediation, /--source-ca FILE/);
});
