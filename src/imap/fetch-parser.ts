/**
 * Parser for one untagged FETCH response (RFC 3501 §7.4.2 / RFC 9051 §7.5.2) as framed by
 * ResponseFramer: the small non-literal parts are tokenised, literals are taken as the Buffers the
 * framer already holds (never looked at byte by byte).
 *
 * What servers really send, and what this accepts:
 *  - data items in any order, names in any case; unknown items (MODSEQ, X-GM-*, BODYSTRUCTURE...)
 *    are skipped whatever their shape (nested lists, strings, literals);
 *  - a section value (`BODY[HEADER]`, `BODY[]`) as a literal `{n}` (also `{0}`), a quoted string
 *    (Yahoo does this for small parts) or NIL;
 *  - `* n FETCH (FLAGS (...))` without UID: an unsolicited flag update (RFC 3501 §7.4.2) — the
 *    caller decides what to do with it; n is the sequence number, never the UID.
 */
import type { RawResponse } from './response-framer.js';

export interface FetchItems {
  /** Message sequence number (not the UID). */
  seq: number;
  uid?: number;
  flags?: string[];
  /** The INTERNALDATE string as sent. */
  internalDate?: string;
  size?: number;
  modseq?: bigint;
  /** BODY[HEADER]: the bytes; NIL gives an empty Buffer. */
  header?: Buffer;
  /** BODY[]: the bytes; NIL gives an empty Buffer. */
  body?: Buffer;
}

type Value =
  | { t: 'atom'; v: string }
  | { t: 'string'; v: Buffer }
  | { t: 'nil' }
  | { t: 'list'; v: Value[] };

const SP = 0x20;
const LPAREN = 0x28;
const RPAREN = 0x29;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const TILDE = 0x7e;

class ParseError extends Error {}

/** A cursor over `text[0] literal[0] text[1] ... text[k]`. */
class Cursor {
  seg = 0;
  pos = 0;
  constructor(private readonly text: readonly Buffer[], private readonly literals: readonly Buffer[]) {}

  private get buf(): Buffer {
    return this.text[this.seg] as Buffer;
  }

  /** The next byte of the current text segment, or -1 at its end. */
  peek(): number {
    const buf = this.buf;
    return this.pos < buf.length ? (buf[this.pos] as number) : -1;
  }

  expect(byte: number): void {
    if (this.peek() !== byte) throw new ParseError(`expected '${String.fromCharCode(byte)}' at ${this.seg}:${this.pos}`);
    this.pos++;
  }

  skipSpaces(): void {
    const buf = this.buf;
    while (this.pos < buf.length && buf[this.pos] === SP) this.pos++;
  }

  /**
   * An atom, number or NIL, or a data item name such as `BODY[HEADER.FIELDS (A B)]<0>`: brackets
   * may hold spaces and parentheses.
   */
  atom(): string {
    const buf = this.buf;
    const start = this.pos;
    let depth = 0;
    while (this.pos < buf.length) {
      const c = buf[this.pos] as number;
      if (c === LBRACKET) depth++;
      else if (c === RBRACKET) depth = Math.max(0, depth - 1);
      else if (depth === 0 && (c === SP || c === LPAREN || c === RPAREN || c === DQUOTE || c === LBRACE)) break;
      this.pos++;
    }
    if (this.pos === start) throw new ParseError(`expected an atom at ${this.seg}:${this.pos}`);
    return buf.toString('utf8', start, this.pos);
  }

  /** Quoted string (RFC 3501 quoted): `\x` stands for x. A fresh Buffer, not a view of the chunk. */
  quoted(): Buffer {
    this.expect(DQUOTE);
    const buf = this.buf;
    const start = this.pos;
    let escaped = false;
    let i = start;
    for (; i < buf.length; i++) {
      const c = buf[i] as number;
      if (c === BACKSLASH) {
        escaped = true;
        i++;
      } else if (c === DQUOTE) {
        break;
      }
    }
    if (i >= buf.length) throw new ParseError('unterminated quoted string');
    this.pos = i + 1;
    if (!escaped) return Buffer.from(buf.subarray(start, i));
    const out = Buffer.allocUnsafe(i - start);
    let n = 0;
    for (let j = start; j < i; j++) {
      let c = buf[j] as number;
      if (c === BACKSLASH) c = buf[++j] as number;
      out[n++] = c;
    }
    return out.subarray(0, n);
  }

  /** `{n}` / `{n+}` / `~{n}` ending the current text segment: the literal that follows it. */
  literal(): Buffer {
    const buf = this.buf;
    if (buf[this.pos] === TILDE) this.pos++;
    this.expect(LBRACE);
    const close = buf.indexOf(0x7d, this.pos);
    if (close < 0 || close !== buf.length - 1) throw new ParseError('literal marker not at the end of a line');
    const literal = this.literals[this.seg];
    if (literal === undefined || this.seg + 1 >= this.text.length) throw new ParseError('literal without data');
    const announced = Number(buf.toString('latin1', this.pos, buf[close - 1] === 0x2b ? close - 1 : close));
    if (announced !== literal.length) throw new ParseError('literal size mismatch');
    this.seg++;
    this.pos = 0;
    return literal;
  }

  value(depth = 0): Value {
    if (depth > 32) throw new ParseError('nesting too deep');
    const c = this.peek();
    if (c === LPAREN) {
      this.pos++;
      const items: Value[] = [];
      for (;;) {
        this.skipSpaces();
        const d = this.peek();
        if (d === RPAREN) {
          this.pos++;
          return { t: 'list', v: items };
        }
        if (d === -1) throw new ParseError('unterminated list');
        items.push(this.value(depth + 1));
      }
    }
    if (c === DQUOTE) return { t: 'string', v: this.quoted() };
    if (c === LBRACE || c === TILDE) return { t: 'string', v: this.literal() };
    if (c === -1) throw new ParseError('value expected');
    const atom = this.atom();
    return atom.length === 3 && atom.toUpperCase() === 'NIL' ? { t: 'nil' } : { t: 'atom', v: atom };
  }

  atEnd(): boolean {
    return this.seg === this.text.length - 1 && this.pos >= this.buf.length;
  }
}

const FETCH_PREFIX = /^\* (\d+) FETCH \(/i;

/** True for "* <n> FETCH ..." without decoding the whole line. */
export function isFetchResponse(response: RawResponse): boolean {
  const first = response.text[0];
  if (!first || first.length < 10) return false;
  return FETCH_PREFIX.test(first.toString('latin1', 0, Math.min(first.length, 32)));
}

/** "* <n> EXPUNGE" → n, else null. */
export function expungedSeq(response: RawResponse): number | null {
  const first = response.text[0];
  if (!first || response.text.length !== 1 || first.length > 40) return null;
  const m = /^\* (\d+) EXPUNGE$/i.exec(first.toString('latin1'));
  return m ? Number(m[1]) : null;
}

function asNumber(value: Value, what: string): number {
  if (value.t !== 'atom' || !/^\d+$/.test(value.v)) throw new ParseError(`${what}: number expected`);
  return Number(value.v);
}

function asBytes(value: Value, what: string): Buffer {
  if (value.t === 'string') return value.v;
  if (value.t === 'nil') return Buffer.alloc(0);
  throw new ParseError(`${what}: nstring expected`);
}

/**
 * Parses "* n FETCH (...)". Returns null for any other response. Throws on a malformed FETCH
 * response: the connection's stream is no longer trustworthy then.
 */
export function parseFetchResponse(response: RawResponse): FetchItems | null {
  const first = response.text[0];
  if (!first) return null;
  const head = FETCH_PREFIX.exec(first.toString('latin1', 0, Math.min(first.length, 32)));
  if (!head) return null;
  const cur = new Cursor(response.text, response.literals);
  cur.pos = (head[0] as string).length;
  const items: FetchItems = { seq: Number(head[1]) };
  try {
    for (;;) {
      cur.skipSpaces();
      const c = cur.peek();
      if (c === RPAREN) {
        cur.pos++;
        break;
      }
      if (c === -1) throw new ParseError('unterminated FETCH response');
      const name = cur.atom().toUpperCase();
      cur.skipSpaces();
      const value = cur.value();
      switch (name) {
        case 'UID':
          items.uid = asNumber(value, name);
          break;
        case 'RFC822.SIZE':
          items.size = asNumber(value, name);
          break;
        case 'INTERNALDATE':
          if (value.t !== 'string') throw new ParseError('INTERNALDATE: string expected');
          items.internalDate = value.v.toString('utf8');
          break;
        case 'FLAGS':
          if (value.t === 'list') {
            items.flags = value.v.map((f) => {
              if (f.t !== 'atom') throw new ParseError('FLAGS: atoms expected');
              return f.v;
            });
          } else if (value.t === 'nil') {
            items.flags = [];
          } else {
            throw new ParseError('FLAGS: list expected');
          }
          break;
        case 'MODSEQ':
          if (value.t === 'list' && value.v[0]?.t === 'atom' && /^\d+$/.test(value.v[0].v)) items.modseq = BigInt(value.v[0].v);
          break;
        case 'BODY[HEADER]':
        case 'RFC822.HEADER':
          items.header = asBytes(value, name);
          break;
        case 'BODY[]':
        case 'RFC822':
          items.body = asBytes(value, name);
          break;
        default:
          // Anything else we did not ask for (or a server's extension item): skipped.
          break;
      }
    }
    if (!cur.atEnd()) throw new ParseError('data after the FETCH response');
  } catch (err) {
    if (err instanceof ParseError) {
      throw Object.assign(new Error(`Malformed FETCH response: ${err.message}`), { code: 'EPROTOCOL' });
    }
    throw err;
  }
  return items;
}

const MONTHS: Record<string, number> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11,
};
const DATE_TIME = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;

/**
 * INTERNALDATE "17-Jul-1996 02:44:25 -0700" (RFC 3501 date-time) → epoch ms. Anything that is not
 * in that form goes through `new Date()`, which is what imapflow does with every value (and which
 * gives the same result for the standard form).
 */
export function parseInternalDate(value: string): number {
  return parseFixedDateTime(value) ?? parseDateTime(value);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** ASCII digits at `at`..`at + n - 1` as a number, or -1. */
function digits(value: string, at: number, n: number): number {
  let out = 0;
  for (let i = at; i < at + n; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    out = out * 10 + d;
  }
  return out;
}

/**
 * The form every server sends (RFC 3501 date-day-fixed: always 26 characters), read by position:
 * called twice per message copied, where the regular expression and Date setters cost ~10x more.
 * Anything else, or a field out of range, is left to parseDateTime (null).
 */
function parseFixedDateTime(v: string): number | null {
  if (v.length !== 26 || v.charCodeAt(2) !== 0x2d || v.charCodeAt(6) !== 0x2d || v.charCodeAt(11) !== 0x20 || v.charCodeAt(14) !== 0x3a || v.charCodeAt(17) !== 0x3a || v.charCodeAt(20) !== 0x20) return null;
  const day = v.charCodeAt(0) === 0x20 ? digits(v, 1, 1) : digits(v, 0, 2);
  const month = MONTHS[v.slice(3, 6).toLowerCase()];
  const year = digits(v, 7, 4);
  const hour = digits(v, 12, 2);
  const minute = digits(v, 15, 2);
  const second = digits(v, 18, 2);
  const sign = v.charCodeAt(21);
  const zoneHours = digits(v, 22, 2);
  const zoneMinutes = digits(v, 24, 2);
  if (month === undefined || year < 100 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || zoneHours < 0 || zoneMinutes < 0 || (sign !== 0x2b && sign !== 0x2d)) return null;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day < 1 || day > (month === 1 && leap ? 29 : DAYS_IN_MONTH[month]!)) return null;
  const offsetMin = (zoneHours * 60 + zoneMinutes) * (sign === 0x2d ? -1 : 1);
  return Date.UTC(year, month, day, hour, minute, second) - offsetMin * 60_000;
}

function parseDateTime(value: string): number {
  const m = DATE_TIME.exec(value);
  const month = m ? MONTHS[(m[2] as string).toLowerCase()] : undefined;
  if (!m || month === undefined) return new Date(value).getTime();
  const offsetMin = (Number(m[8]) * 60 + Number(m[9])) * (m[7] === '-' ? -1 : 1);
  const year = Number(m[3]);
  const day = Number(m[1]);
  const d = new Date(0);
  // setUTCFullYear: Date.UTC maps years 0-99 to 1900-1999.
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
  const ms = d.getTime() - offsetMin * 60_000;
  // Out-of-range fields (32-Jan, 25:00) are not rolled over silently here: defer to Date parsing.
  if (d.getUTCDate() !== day || d.getUTCMonth() !== month || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return new Date(value).getTime();
  return ms;
}
