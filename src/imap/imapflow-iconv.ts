/**
 * What imapflow asks of iconv-lite, for the CLI bundle (bin/mailshift.js puts this module where
 * imapflow imports 'iconv-lite'). imapflow only converts mailbox names to and from modified UTF-7
 * ('utf-7-imap'), while loading iconv-lite means its whole table of encodings: ~23 ms before the
 * first non-ASCII folder name can be listed, a tenth of the CLI's start-up.
 *
 * Well-formed names are converted here (modified-utf7.ts, RFC 3501 §5.1.3). Anything else, such as
 * a malformed name from a server or another encoding, goes to the real iconv-lite, loaded then, so
 * imapflow behaves exactly as it does with it (test/imapflow-iconv.test.ts compares the two).
 */
import { createRequire } from 'node:module';
import { decodeModifiedUtf7, encodeModifiedUtf7 } from './modified-utf7.js';

interface IconvLite {
  encode(content: string, encoding: string): Buffer;
  decode(content: Buffer, encoding: string): string;
}

/** Printable ASCII except '&', "&-", or '&', modified base64, '-': what decodeModifiedUtf7 handles. */
const WELL_FORMED = /^(?:[\x20-\x25\x27-\x7e]|&-|&[A-Za-z0-9+,]+-)*$/;

let real: IconvLite | null = null;
function iconvLite(): IconvLite {
  // Resolved from imapflow's own location: the version it would have loaded.
  real ??= createRequire(createRequire(import.meta.url).resolve('imapflow'))('iconv-lite') as IconvLite;
  return real;
}

function isUtf7Imap(encoding: string): boolean {
  return encoding.toLowerCase().replace(/[^a-z0-9]/g, '') === 'utf7imap';
}

function encode(content: string, encoding: string): Buffer {
  if (!isUtf7Imap(encoding)) return iconvLite().encode(content, encoding);
  return Buffer.from(encodeModifiedUtf7(content), 'latin1');
}

function decode(content: Buffer, encoding: string): string {
  const text = content.toString('latin1');
  // A base64 run of an odd number of bytes is malformed too, and iconv-lite strips a leading BOM.
  const decoded = isUtf7Imap(encoding) && WELL_FORMED.test(text) && evenRuns(text) ? decodeModifiedUtf7(text) : null;
  if (decoded === null || decoded.startsWith('\uFEFF')) return iconvLite().decode(content, encoding);
  return decoded;
}

/** Every base64 run decodes to whole UTF-16 code units (a multiple of 2 bytes). */
function evenRuns(text: string): boolean {
  for (const [, run] of text.matchAll(/&([A-Za-z0-9+,]+)-/g)) {
    if (Math.floor((run!.length * 6) / 8) % 2 !== 0) return false;
  }
  return true;
}

export default { encode, decode };
