import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkUidSets, compactUidSet, expandUidSet, formatInternalDate, normaliseFlags, quoteString } from '../src/imap/imap-syntax.js';
import { decodeModifiedUtf7, encodeModifiedUtf7 } from '../src/imap/modified-utf7.js';
import { parseAppendUid } from '../src/imap/append-writer.js';
import { parseRespText } from '../src/imap/imap-wire.js';
import { imapFlowOptionsFor, tlsOptionsFor } from '../src/imap/connect-options.js';

test('UID sets are compact ranges', () => {
  assert.equal(compactUidSet([5, 1, 2, 3, 502, 500, 501, 3]), '1:3,5,500:502');
  assert.equal(compactUidSet([]), '');
  assert.deepEqual(expandUidSet('3955:3957,3960'), [3955, 3956, 3957, 3960]);
  assert.deepEqual(expandUidSet('7:5'), [5, 6, 7]);
});

test('sparse UID lists are chunked so each set stays under the line budget', () => {
  const sparse = Array.from({ length: 20000 }, (_, i) => i * 2 + 1);
  const chunks = chunkUidSets(sparse, 7000);
  assert.ok(chunks.length > 1);
  for (const c of chunks) assert.ok(c.length <= 7000, `chunk of ${c.length} chars`);
  assert.deepEqual(chunks.flatMap((c) => expandUidSet(c)), sparse);
  assert.deepEqual(chunkUidSets(Array.from({ length: 1000 }, (_, i) => i + 1)), ['1:1000']);
  assert.equal(chunkUidSets([1, 2, 3, 4, 5], 7000, 2).length, 3);
});

test('modified UTF-7 (RFC 3501 §5.1.3) round-trips and matches the RFC example', () => {
  assert.equal(encodeModifiedUtf7('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
  assert.equal(encodeModifiedUtf7('A&B'), 'A&-B');
  assert.equal(encodeModifiedUtf7('Entwürfe'), 'Entw&APw-rfe');
  for (const name of ['Entwürfe/Ünïcödé 📧', 'a&b', 'plain', '日本語', '']) {
    assert.equal(decodeModifiedUtf7(encodeModifiedUtf7(name)), name);
  }
});

test('INTERNALDATE is formatted as RFC 3501 date-time in UTC', () => {
  assert.equal(formatInternalDate(Date.UTC(2020, 0, 5, 3, 4, 5)), '05-Jan-2020 03:04:05 +0000');
  assert.equal(formatInternalDate(Date.UTC(1999, 11, 31, 23, 59, 59)), '31-Dec-1999 23:59:59 +0000');
});

test('flags: system flags canonical, \\Recent and non-atoms dropped, keywords kept', () => {
  const r = normaliseFlags(['\\seen', '\\Recent', 'Custom', '$Label1', 'bad keyword', 'x(y', '\\Flagged', '\\SEEN', 'NonJunk']);
  assert.deepEqual(r.flags, ['\\Seen', 'Custom', '$Label1', '\\Flagged', 'NonJunk']);
  assert.deepEqual(r.dropped, ['\\Recent', 'bad keyword', 'x(y']);
});

test('quoted strings escape only backslash and quote', () => {
  assert.equal(quoteString('a"b\\c'), '"a\\"b\\\\c"');
  assert.throws(() => quoteString('a\r\nb'));
});

test('APPENDUID response codes expand to one uid per message', () => {
  const resp = { tag: 'W1', status: 'OK' as const, ...parseRespText('[APPENDUID 38505 3955:3957,3960] Append completed.') };
  assert.equal(resp.code, 'APPENDUID');
  assert.deepEqual(parseAppendUid(resp, 4), { uidValidity: 38505n, uids: [3955, 3956, 3957, 3960] });
  assert.deepEqual(parseAppendUid(resp, 2)?.uids, []);
  assert.equal(parseAppendUid({ ...resp, code: null }, 1), null);
  assert.deepEqual(parseRespText('[TRYCREATE] Mailbox doesn\'t exist: x'), { code: 'TRYCREATE', codeArgs: '', text: "Mailbox doesn't exist: x" });
  assert.deepEqual(parseRespText('Completed'), { code: null, codeArgs: '', text: 'Completed' });
});

test('connect options: TLS modes, authzid forces SASL PLAIN, no logger, no auto IDLE', () => {
  const base = { host: 'imap.example.com', port: 993, user: 'admin', password: 'pw' };
  const ssl = imapFlowOptionsFor({ ...base, security: 'ssl', ca: '-----BEGIN CERTIFICATE-----', minTlsVersion: 'TLSv1.2' });
  assert.equal(ssl.secure, true);
  assert.equal(ssl.doSTARTTLS, undefined);
  assert.equal(ssl.logger, false);
  assert.equal(ssl.disableAutoIdle, true);
  assert.equal(ssl.tls?.rejectUnauthorized, true);
  // With a CA, the CA list and minVersion live in one shared SecureContext per distinct setting (edb0760).
  assert.ok(ssl.tls?.secureContext, 'a secure context is built from the CA');
  assert.equal(imapFlowOptionsFor({ ...base, security: 'ssl', ca: '-----BEGIN CERTIFICATE-----', minTlsVersion: 'TLSv1.2' }).tls?.secureContext, ssl.tls?.secureContext, 'and shared');
  assert.notEqual(imapFlowOptionsFor({ ...base, security: 'ssl', ca: '-----BEGIN CERTIFICATE-----' }).tls?.secureContext, ssl.tls?.secureContext, 'per distinct setting');
  assert.equal(ssl.tls?.servername, 'imap.example.com');
  assert.equal(ssl.connectionTimeout, 15000);
  assert.equal(ssl.greetingTimeout, 15000);
  const starttls = imapFlowOptionsFor({ ...base, port: 143, security: 'starttls', authzid: 'alice', connectTimeoutMs: 5000 });
  assert.equal(starttls.secure, false);
  assert.equal(starttls.doSTARTTLS, true);
  assert.deepEqual(starttls.auth, { user: 'admin', pass: 'pw', authzid: 'alice', loginMethod: 'AUTH=PLAIN' });
  assert.equal(starttls.connectionTimeout, 5000);
  const none = imapFlowOptionsFor({ ...base, port: 143, security: 'none', acceptUntrustedCertificates: true });
  assert.equal(none.doSTARTTLS, false);
  assert.equal(none.tls?.rejectUnauthorized, false);
  assert.equal(tlsOptionsFor({ ...base, host: '127.0.0.1', security: 'ssl' }).servername, undefined);
  // The endpoint's authentication setting picks the mechanism; an authzid still forces PLAIN.
  assert.equal(imapFlowOptionsFor({ ...base, security: 'ssl', loginMethod: 'login' }).auth?.loginMethod, 'LOGIN');
  assert.equal(imapFlowOptionsFor({ ...base, security: 'ssl', loginMethod: 'plain' }).auth?.loginMethod, 'AUTH=PLAIN');
  assert.equal(imapFlowOptionsFor({ ...base, security: 'ssl', loginMethod: 'login', authzid: 'alice' }).auth?.loginMethod, 'AUTH=PLAIN');
  assert.equal(imapFlowOptionsFor({ ...base, security: 'ssl' }).auth?.loginMethod, undefined);
});
