/** Shared bits of the IMAP integration suites: a deterministic corpus and connection settings. */
import assert from 'node:assert/strict';
import type { AppendItem, ConnectionSettings } from '../src/domain/mail-types.js';
import { MailshiftError } from '../src/domain/errors.js';
import type { DovecotServer } from '../src/testbed/dovecot-server.js';

/**
 * A message of about `size` bytes whose bytes exercise what migrations get wrong: 8-bit header
 * text, a long folded header, CRLF line ends, trailing spaces, a line starting with "From ".
 */
export function makeMessage(i: number, size = 2000): Buffer {
  const header = [
    `From: Sender ${i} <sender${i}@example.com>`,
    'To: Alice <alice@example.com>',
    `Subject: Test message ${i} – ünïcödé`,
    `Message-ID: <msg-${i}@mailshift.test>`,
    `Date: ${new Date(Date.UTC(2021, 0, 1) + i * 3_600_000).toUTCString().replace('GMT', '+0000')}`,
    `X-Long: ${'folded '.repeat(12)}\r\n\t${'continued '.repeat(6)}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
  ].join('\r\n') + '\r\n\r\n';
  const lines: string[] = [`Body of ${i}, trailing spaces   `, 'From the start of a line', 'äöü €'];
  let body = lines.join('\r\n') + '\r\n';
  let n = 0;
  while (Buffer.byteLength(header + body) < size) body += `line ${n++} ${'lorem ipsum dolor sit amet '.repeat(2)}\r\n`;
  return Buffer.from(header + body, 'utf8');
}

const FLAG_SETS: string[][] = [[], ['\\Seen'], ['\\Seen', '\\Flagged'], ['\\Answered', 'Custom1'], ['\\Draft', '$Label2', 'NonJunk'], ['\\Seen', '\\Deleted']];

export function makeItems(count: number, size = 2000, offset = 0): AppendItem[] {
  return Array.from({ length: count }, (_, k) => {
    const i = k + offset;
    return {
      raw: makeMessage(i, size + (i % 7) * 97),
      flags: FLAG_SETS[i % FLAG_SETS.length] ?? [],
      // Whole seconds: INTERNALDATE has no sub-second precision.
      internalDate: Date.UTC(2019, 5, 1) + i * 86_400_000 + (i % 60) * 1000,
    };
  });
}

export function settingsFor(server: DovecotServer, user: string, password: string, security: 'ssl' | 'starttls' | 'none' = 'starttls'): ConnectionSettings {
  return {
    host: server.host,
    port: security === 'ssl' ? server.imapsPort : server.imapPort,
    security,
    user,
    password,
    ca: server.caPem,
    // The test bed's certificate names localhost (and IP 127.0.0.1); SNI must not be an IP.
    servername: 'localhost',
    connectTimeoutMs: 10_000,
  };
}

export function sortedFlags(flags: readonly string[]): string[] {
  return [...flags].map((f) => (f.startsWith('\\') ? f.toLowerCase() : f)).sort();
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

/** Awaits a rejection with this catalog code; none of `secrets` may appear in its message or params. */
export async function rejectsWith(promise: Promise<unknown>, code: string, secrets: readonly string[] = []): Promise<MailshiftError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof MailshiftError, `expected MailshiftError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const secret of secrets) assert.ok(!err.message.includes(secret) && !JSON.stringify(err.params).includes(secret), 'password leaked');
    return err;
  }
  assert.fail(`expected ${code}, resolved`);
}
