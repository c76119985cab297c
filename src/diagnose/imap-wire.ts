/**
 * A tiny IMAP reader/writer over a raw socket: just enough for greeting, CAPABILITY, ID, STARTTLS,
 * LOGIN/AUTHENTICATE, LIST and STATUS. diagnose needs the server's exact words (response codes,
 * BYE text, the greeting) and control of the socket for STARTTLS, which a full client hides.
 *
 * The stream is decoded as latin1 so one char is one byte: literal lengths ({N}) count bytes
 * (RFC 3501 §4.3), and everything diagnose reads (greeting, names in modified UTF-7) is ASCII anyway.
 */
import type { Socket } from 'node:net';

export interface ImapLine {
  /** The whole response, literals inlined as `{N}\r\n<data>`. */
  raw: string;
  /** '*' for untagged, '+' for a continuation, else the command tag. */
  tag: string;
  /** OK / NO / BAD / BYE / PREAUTH for status responses, else the first word (e.g. CAPABILITY, LIST). */
  kind: string;
  /** Response code without brackets, e.g. "LIMIT" or "CAPABILITY IMAP4rev1 …"; null when absent. */
  code: string | null;
  /** Human text after the response code. */
  text: string;
}

export interface CommandResult {
  untagged: ImapLine[];
  tagged: ImapLine;
}

export type WireErrorKind = 'timeout' | 'closed' | 'error';

export class WireError extends Error {
  readonly kind: WireErrorKind;
  /** The last untagged BYE before the connection closed, if any: its text is the real reason. */
  readonly bye: ImapLine | null;
  readonly errno: string | null;

  constructor(kind: WireErrorKind, message: string, bye: ImapLine | null = null, errno: string | null = null) {
    super(message);
    this.name = 'WireError';
    this.kind = kind;
    this.bye = bye;
    this.errno = errno;
  }
}

const STATUS_WORDS = new Set(['OK', 'NO', 'BAD', 'BYE', 'PREAUTH']);

export function parseLine(raw: string): ImapLine {
  const firstSpace = raw.indexOf(' ');
  const tag = firstSpace < 0 ? raw : raw.slice(0, firstSpace);
  const rest = firstSpace < 0 ? '' : raw.slice(firstSpace + 1);
  if (tag === '+') return { raw, tag, kind: '+', code: null, text: rest };
  const wordEnd = rest.indexOf(' ');
  let kind = (wordEnd < 0 ? rest : rest.slice(0, wordEnd)).toUpperCase();
  let after = wordEnd < 0 ? '' : rest.slice(wordEnd + 1);
  // "* 12 EXISTS": numeric first word, the kind is the second one.
  if (/^\d+$/.test(kind)) {
    const next = after.indexOf(' ');
    kind = (next < 0 ? after : after.slice(0, next)).toUpperCase();
    after = next < 0 ? '' : after.slice(next + 1);
  }
  let code: string | null = null;
  let text = after;
  if (STATUS_WORDS.has(kind) && after.startsWith('[')) {
    const close = after.indexOf(']');
    if (close > 0) {
      code = after.slice(1, close);
      text = after.slice(close + 1).trim();
    }
  }
  return { raw, tag, kind, code, text };
}

/** An IMAP value: atom/number/string, NIL, or a parenthesised list. */
export type ImapValue = string | null | ImapValue[];

/** Tokenises the arguments of a response (after tag and kind), e.g. a LIST or ID line. */
export function parseValues(input: string): ImapValue[] {
  let i = 0;
  const parseList = (closing: string | null): ImapValue[] => {
    const out: ImapValue[] = [];
    while (i < input.length) {
      const ch = input[i]!;
      if (ch === ' ' || ch === '\r' || ch === '\n') { i++; continue; }
      if (closing !== null && ch === closing) { i++; return out; }
      if (ch === '(') { i++; out.push(parseList(')')); continue; }
      if (ch === '"') {
        i++;
        let s = '';
        while (i < input.length && input[i] !== '"') {
          if (input[i] === '\\' && i + 1 < input.length) i++;
          s += input[i];
          i++;
        }
        i++;
        out.push(s);
        continue;
      }
      if (ch === '{') {
        const m = /^\{(\d+)\+?\}\r\n/.exec(input.slice(i));
        if (m) {
          const len = Number(m[1]);
          i += m[0].length;
          out.push(input.slice(i, i + len));
          i += len;
          continue;
        }
      }
      // Atom: up to a space or a closing paren; brackets belong to the atom (BODY[HEADER]).
      let j = i;
      while (j < input.length && input[j] !== ' ' && input[j] !== ')' && input[j] !== '(' && input[j] !== '\r') j++;
      if (j === i) { i++; continue; }
      const atom = input.slice(i, j);
      out.push(atom.toUpperCase() === 'NIL' ? null : atom);
      i = j;
    }
    return out;
  };
  return parseList(null);
}

/** Quotes a string for a command, or returns null when it needs a literal (CR, LF, 8-bit, NUL). */
export function quoteString(value: string): string | null {
  if (/[\r\n\0]/.test(value) || /[^\x01-\x7f]/.test(value)) return null;
  return `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

export class ImapWire {
  private buffer = '';
  private lines: ImapLine[] = [];
  private waiter: (() => void) | null = null;
  private closedError: WireError | null = null;
  private lastBye: ImapLine | null = null;
  private tagCounter = 0;
  private readonly onData = (chunk: Buffer): void => { this.buffer += chunk.toString('latin1'); this.drain(); };
  private readonly onClose = (): void => {
    this.closedError ??= new WireError('closed', this.lastBye ? `connection closed: ${this.lastBye.text}` : 'connection closed by the server', this.lastBye);
    this.wake();
  };
  private readonly onError = (err: NodeJS.ErrnoException): void => {
    this.closedError ??= new WireError('error', err.message, this.lastBye, err.code ?? null);
    this.wake();
  };

  constructor(private socket: Socket, private readonly timeoutMs: number) {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('end', this.onClose);
    socket.on('error', this.onError);
  }

  /** The underlying socket (for describing the TLS session). */
  get rawSocket(): Socket {
    return this.socket;
  }

  /** Bytes received but not yet consumed: must be empty right after a STARTTLS OK (RFC 3501 §6.2.1). */
  get pendingBytes(): number {
    return this.buffer.length;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private drain(): void {
    for (;;) {
      const line = this.takeLine();
      if (line === null) break;
      const parsed = parseLine(line);
      if (parsed.tag === '*' && parsed.kind === 'BYE') this.lastBye = parsed;
      this.lines.push(parsed);
    }
    this.wake();
  }

  /** Takes one complete response off the buffer, literals included; null when incomplete. */
  private takeLine(): string | null {
    let searchFrom = 0;
    for (;;) {
      const eol = this.buffer.indexOf('\r\n', searchFrom);
      if (eol < 0) return null;
      const m = /\{(\d+)\+?\}$/.exec(this.buffer.slice(searchFrom, eol));
      if (m) {
        const end = eol + 2 + Number(m[1]);
        if (this.buffer.length < end) return null;
        searchFrom = end;
        continue;
      }
      const line = this.buffer.slice(0, eol);
      this.buffer = this.buffer.slice(eol + 2);
      return line;
    }
  }

  private async nextLine(phase: string): Promise<ImapLine> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const line = this.lines.shift();
      if (line) return line;
      if (this.closedError) throw this.closedError;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new WireError('timeout', `no answer to ${phase} within ${this.timeoutMs} ms`, this.lastBye);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { this.waiter = null; resolve(); }, remaining);
        this.waiter = () => { clearTimeout(timer); resolve(); };
      });
    }
  }

  async readGreeting(): Promise<ImapLine> {
    return this.nextLine('the connection (greeting)');
  }

  /**
   * Sends a command and collects untagged responses up to its tagged completion. `parts` are
   * joined with spaces; a `{ literal }` part is sent as a synchronising literal (waits for "+").
   * `label` replaces the command text in error messages so passwords never reach them.
   */
  async command(parts: Array<string | { literal: string }>, label?: string): Promise<CommandResult> {
    const tag = `d${++this.tagCounter}`;
    const name = label ?? (typeof parts[0] === 'string' ? parts[0] : 'command');
    let pending = `${tag} `;
    const untagged: ImapLine[] = [];
    for (let k = 0; k < parts.length; k++) {
      const part = parts[k]!;
      const sep = k < parts.length - 1 ? ' ' : '';
      if (typeof part === 'string') {
        pending += part + sep;
        continue;
      }
      const bytes = Buffer.from(part.literal, 'utf8');
      this.write(`${pending}{${bytes.length}}\r\n`);
      pending = '';
      for (;;) {
        const line = await this.nextLine(name);
        if (line.tag === '+') break;
        if (line.tag === tag) return { untagged, tagged: line };
        untagged.push(line);
      }
      this.socket.write(bytes);
      pending = sep;
    }
    this.write(`${pending}\r\n`);
    for (;;) {
      const line = await this.nextLine(name);
      if (line.tag === tag) return { untagged, tagged: line };
      untagged.push(line);
    }
  }

  /**
   * A command whose server continuations ("+ …") are answered with `responses`, one per "+", e.g.
   * AUTHENTICATE PLAIN without SASL-IR. An exhausted list answers "*" (cancel, RFC 3501 §6.2.2).
   */
  async commandWithContinuations(text: string, responses: string[], label: string): Promise<CommandResult> {
    const tag = `d${++this.tagCounter}`;
    const untagged: ImapLine[] = [];
    const queue = [...responses];
    this.write(`${tag} ${text}\r\n`);
    for (;;) {
      const line = await this.nextLine(label);
      if (line.tag === tag) return { untagged, tagged: line };
      if (line.tag === '+') {
        this.write(`${queue.shift() ?? '*'}\r\n`);
        continue;
      }
      untagged.push(line);
    }
  }

  /** For SASL exchanges: send a raw continuation line. */
  write(text: string): void {
    this.socket.write(Buffer.from(text, 'latin1'));
  }

  async nextResponse(phase: string): Promise<ImapLine> {
    return this.nextLine(phase);
  }

  /** Stops reading, e.g. before handing the socket to tls.connect for STARTTLS. */
  detach(): Socket {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('end', this.onClose);
    this.socket.off('error', this.onError);
    return this.socket;
  }

  /** Re-attaches to a new socket (the TLS socket after STARTTLS). */
  attach(socket: Socket): void {
    this.socket = socket;
    this.buffer = '';
    this.lines = [];
    this.closedError = null;
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('end', this.onClose);
    socket.on('error', this.onError);
  }

  /** Polite LOGOUT with a short wait, then destroy. Never throws. */
  async close(): Promise<void> {
    try {
      if (!this.closedError && !this.socket.destroyed) {
        const tag = `d${++this.tagCounter}`;
        this.write(`${tag} LOGOUT\r\n`);
        await Promise.race([
          new Promise((resolve) => this.socket.once('close', resolve)),
          new Promise((resolve) => setTimeout(resolve, 300)),
        ]);
      }
    } catch {
      // closing is best effort
    } finally {
      this.socket.destroy();
    }
  }
}
