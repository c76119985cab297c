/**
 * Splits the server's byte stream into whole IMAP responses (RFC 3501 §2.2.2 / §4.3): a response
 * is a line, unless the line ends with a literal announcement `{n}` (or `{n+}`, or `~{n}` for
 * literal8, RFC 3516), in which case exactly n octets follow the CRLF and the response continues
 * with the next line.
 *
 * Literal data is never tokenised: each literal is copied once, straight from the socket chunks,
 * into a Buffer of exactly its announced size. A response is delivered as its text segments (the
 * lines, without CRLF, each but the last ending with the `{n}` marker) and its literals, in order:
 * `text[0] literal[0] text[1] literal[1] ... text[k]`.
 *
 * Lines are split at LF and a trailing CR is removed, so a CRLF split across two chunks (or a
 * `{n}` split anywhere) needs no special handling.
 *
 * Nothing delivered or held refers to a chunk passed to push(): lines are copied too (a few dozen
 * bytes per message), so the caller may read the socket into one reused buffer (ImapWire does).
 */

import { allocateMessageBytes } from '../domain/message-bytes.js';

export interface RawResponse {
  /** Lines without CRLF; text.length === literals.length + 1. */
  text: Buffer[];
  literals: Buffer[];
}

const EMPTY = Buffer.alloc(0);
const LF = 0x0a;
const CR = 0x0d;

/** Literal sizes above this are refused as a protocol error (a bogus `{n}` must not allocate gigabytes). */
export const DEFAULT_MAX_LITERAL_BYTES = 1024 * 1024 * 1024;

export class ImapProtocolError extends Error {
  readonly code = 'EPROTOCOL';
}

/**
 * The size announced by a literal marker at the end of `line` (`{123}`, `{123+}`, `~{123}`), or
 * null. Reads only the tail of the line: a response line can be long, the marker is short.
 */
export function literalSizeAtEnd(line: Buffer): number | null {
  let i = line.length - 1;
  if (i < 2 || line[i] !== 0x7d /* } */) return null;
  i--;
  if (line[i] === 0x2b /* + */) i--;
  let size = 0;
  let digits = 0;
  let scale = 1;
  while (i >= 0) {
    const c = line[i] as number;
    if (c < 0x30 || c > 0x39) break;
    size += (c - 0x30) * scale;
    scale *= 10;
    digits++;
    i--;
  }
  if (digits === 0 || digits > 15 || i < 0 || line[i] !== 0x7b /* { */) return null;
  return size;
}

export class ResponseFramer {
  /** Pieces of a line not yet terminated by LF. */
  private partial: Buffer[] = [];
  private text: Buffer[] = [];
  private literals: Buffer[] = [];
  private literal: Buffer | null = null;
  private literalOffset = 0;

  constructor(
    private readonly deliver: (response: RawResponse) => void,
    private readonly maxLiteralBytes = DEFAULT_MAX_LITERAL_BYTES,
  ) {}

  /** True while bytes of an incomplete response are held. */
  get holding(): boolean {
    return this.partial.length > 0 || this.text.length > 0 || this.literal !== null;
  }

  /** Throws ImapProtocolError for an oversized literal; the connection must then be dropped. */
  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      const literal = this.literal;
      if (literal !== null) {
        const take = Math.min(literal.length - this.literalOffset, end - pos);
        chunk.copy(literal, this.literalOffset, pos, pos + take);
        this.literalOffset += take;
        pos += take;
        if (this.literalOffset === literal.length) {
          this.literals.push(literal);
          this.literal = null;
        }
        continue;
      }
      const lf = chunk.indexOf(LF, pos);
      if (lf < 0) {
        this.partial.push(Buffer.from(chunk.subarray(pos)));
        return;
      }
      let line: Buffer;
      if (this.partial.length > 0) {
        this.partial.push(chunk.subarray(pos, lf));
        line = Buffer.concat(this.partial);
        this.partial = [];
      } else {
        line = Buffer.from(chunk.subarray(pos, lf));
      }
      pos = lf + 1;
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
      this.text.push(line);
      const size = literalSizeAtEnd(line);
      if (size === null) {
        const response: RawResponse = { text: this.text, literals: this.literals };
        this.text = [];
        this.literals = [];
        this.deliver(response);
        continue;
      }
      if (size > this.maxLiteralBytes) {
        throw new ImapProtocolError(`server announced a literal of ${size} bytes (limit ${this.maxLiteralBytes})`);
      }
      if (size === 0) {
        this.literals.push(EMPTY);
      } else {
        // Message bodies: a large one gets its own mapping (domain/message-bytes.ts).
        this.literal = allocateMessageBytes(size);
        this.literalOffset = 0;
      }
    }
  }
}

/**
 * The response as one string, literal contents inline (`{n}` CRLF bytes), decoded as UTF-8: the
 * form the control-response handling of ImapWire works on. Not for message data.
 */
export function responseToString(response: RawResponse): string {
  if (response.literals.length === 0) return (response.text[0] ?? EMPTY).toString('utf8');
  const parts: Buffer[] = [];
  response.text.forEach((t, i) => {
    parts.push(t);
    const lit = response.literals[i];
    if (lit !== undefined) parts.push(Buffer.from('\r\n'), lit);
  });
  return Buffer.concat(parts).toString('utf8');
}
