import { createHash } from 'node:crypto';

/**
 * Identifies a message across servers without downloading its body: the header section exactly as
 * the server returns it for BODY[HEADER], plus RFC822.SIZE. Received: chains and Message-IDs make it
 * unique in practice; messages that collide (true duplicates) are handled as a multiset by callers,
 * so two identical messages are still two messages.
 */
export function contentKey(header: Buffer, size: number): string {
  return createHash('sha256').update(header).update(`\0${size}`).digest('base64url').slice(0, 32);
}

/** Byte-level identity, for deep verification. */
export function bodyHash(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('base64url');
}

/** Best-effort Subject for reports of skipped items; unfolded, MIME encoded-words left as they are. */
export function headerField(header: Buffer, name: string): string | null {
  const text = header.toString('latin1');
  const re = new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im');
  const match = re.exec(text);
  if (!match || match[1] === undefined) return null;
  return decodeWords(match[1].replace(/\r?\n[ \t]+/g, ' ').trim());
}

/** RFC 2047 encoded-words (B and Q) for display only. */
function decodeWords(value: string): string {
  return value.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_whole, charset: string, enc: string, data: string) => {
    try {
      const bytes = enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64')
        : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
      const label = charset.toLowerCase();
      return new TextDecoder(label === 'utf8' ? 'utf-8' : label).decode(bytes);
    } catch {
      return data;
    }
  });
}
