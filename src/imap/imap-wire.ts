/**
 * A minimal raw IMAP connection for the pipelined APPEND writer: connect (implicit TLS, STARTTLS
 * or plaintext), greeting, CAPABILITY, LOGIN / AUTHENTICATE PLAIN (with authzid), and a response
 * reader that lets many commands be in flight at once. imapflow cannot be used here because it
 * keeps exactly one command in flight (see append-writer.ts for why that matters).
 *
 * It understands only what APPEND needs: continuations, tagged status responses with their
 * response code, and the untagged CAPABILITY / BYE / greeting / UIDVALIDITY. Responses are framed
 * by ResponseFramer (literals copied once, never tokenised); numbered untagged responses (FETCH,
 * EXPUNGE) can be taken raw by `untaggedHook` — the FETCH reader (fetch-reader.ts) parses message
 * data that way. Everything else is read and ignored.
 */
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import type { ConnectionSettings } from '../domain/mail-types.js';
import { MailshiftError } from '../domain/errors.js';
import { classifyError, type ErrorContext } from './classify-error.js';
import { connectTimeoutOf, retryWithSystemStore, tlsOptionsFor, trustsSystemStore } from './connect-options.js';
import { quoteString } from './imap-syntax.js';
import { ResponseFramer, responseToString, type RawResponse } from './response-framer.js';

export interface TaggedResponse {
  tag: string;
  status: 'OK' | 'NO' | 'BAD';
  /** Response code atom in upper case (APPENDUID, TRYCREATE, OVERQUOTA, ...), or null. */
  code: string | null;
  /** Everything after the code atom inside the brackets, e.g. "38505 3955:3964" for APPENDUID. */
  codeArgs: string;
  /** Human-readable text after the code. */
  text: string;
}

type ContinuationOutcome = 'continue' | 'tagged';

interface ContinuationWaiter {
  tag: string;
  resolve: (outcome: ContinuationOutcome) => void;
  reject: (err: unknown) => void;
}

interface TaggedWaiter {
  resolve: (response: TaggedResponse) => void;
  reject: (err: unknown) => void;
}

/** Error-like facts handed to classify-error for a failed tagged response. */
export function taggedFailure(response: TaggedResponse, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error('Command failed'), {
    responseStatus: response.status,
    responseText: response.code ? `[${response.code}${response.codeArgs ? ` ${response.codeArgs}` : ''}] ${response.text}` : response.text,
    serverResponseCode: response.code ?? undefined,
    ...extra,
  });
}

const TAGGED_RE = /^(\S+) (OK|NO|BAD)(?: (.*))?$/i;

export function parseRespText(rest: string): { code: string | null; codeArgs: string; text: string } {
  const m = /^\[([^\]\s]+)(?: ([^\]]*))?\]\s?(.*)$/.exec(rest);
  if (!m) return { code: null, codeArgs: '', text: rest };
  return { code: (m[1] ?? '').toUpperCase(), codeArgs: m[2] ?? '', text: m[3] ?? '' };
}

/** Size of the one buffer each connection reads into. */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Reads a socket into one reused buffer (the `onread` connect option of net and tls) instead of a
 * new Buffer per chunk pushed through a Readable stream: a 167 MB fetch was ~10,000 such Buffers,
 * each malloc'ed, counted by V8 as external memory and collected, plus the stream machinery per
 * chunk. The consumer must be done with a chunk when it returns (ResponseFramer copies what it
 * keeps). Chunks that arrive before there is a consumer (the greeting can come with the end of
 * the TLS handshake) are copied and handed over when it attaches.
 */
class SocketReader {
  private consumer: ((chunk: Buffer) => void) | null = null;
  private early: Buffer[] = [];
  readonly onread: net.OnReadOpts = {
    buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      const chunk = (buffer as Buffer).subarray(0, bytes);
      if (this.consumer) this.consumer(chunk);
      else this.early.push(Buffer.from(chunk));
      return true;
    },
  };

  attach(consumer: (chunk: Buffer) => void): void {
    this.consumer = consumer;
    const early = this.early;
    this.early = [];
    for (const chunk of early) consumer(chunk);
  }
}

export class ImapWire {
  capabilities = new Set<string>();
  /** RFC 7889 APPENDLIMIT=n (server-wide), or null. */
  appendLimit: number | null = null;
  byeText: string | null = null;
  /** The last `* OK [UIDVALIDITY n]` seen (SELECT/EXAMINE, RFC 3501 §7.1); reset it before sending one. */
  uidValidity: bigint | null = null;
  private socket: net.Socket;
  private readonly framer = new ResponseFramer((response) => this.onResponse(response));
  /**
   * Sees every numbered untagged response ("* 12 FETCH ...", "* 3 EXPUNGE") before the generic
   * handling, with literals as Buffers; returns true when it consumed the response.
   */
  untaggedHook: ((response: RawResponse) => boolean) | null = null;
  private tagCounter = 0;
  private readonly tagged = new Map<string, TaggedWaiter>();
  private continuation: ContinuationWaiter | null = null;
  private greetingWaiter: { resolve: (line: string) => void; reject: (err: unknown) => void } | null = null;
  private fatal: MailshiftError | null = null;
  private socketError: Error | null = null;
  private onClose: (() => void) | null = null;
  secure: boolean;
  /** COMPRESS=DEFLATE (RFC 4978) in effect: what is read goes through the inflater, what is written through the deflater. */
  private inflater: zlib.InflateRaw | null = null;
  private deflater: zlib.DeflateRaw | null = null;

  private constructor(socket: net.Socket, secure: boolean, private readonly ctx: ErrorContext, reader: SocketReader | null) {
    this.socket = socket;
    this.secure = secure;
    this.attach(socket, reader);
  }

  get alive(): boolean {
    return this.fatal === null && !this.socket.destroyed;
  }

  /** The error that ended the connection, classified (CONN_LOST, CONN_TOO_MANY, ...). */
  get failure(): MailshiftError | null {
    return this.fatal;
  }

  nextTag(): string {
    this.tagCounter += 1;
    return `W${this.tagCounter}`;
  }

  /**
   * Connects, upgrades or starts TLS, and logs in. With `loginAfter`, the LOGIN waits for it: a
   * connection opened alongside another one of the same account (TCP and TLS at the same time)
   * tries the password only once that one has been accepted, so a wrong password counts as one
   * failed login, not one per connection; if it rejects, this connection is given up.
   */
  static async open(settings: ConnectionSettings, ctx: ErrorContext, options: { loginAfter?: Promise<unknown> } = {}): Promise<ImapWire> {
    const timeoutMs = connectTimeoutOf(settings);
    const context: ErrorContext = { ...ctx, timeoutMs, secrets: [...(ctx.secrets ?? []), settings.password] };
    const withSystemStore = trustsSystemStore(settings);
    const tlsOptions = tlsOptionsFor(settings);
    let wire: ImapWire | null = null;
    let timer: NodeJS.Timeout | undefined;
    try {
      // Not for STARTTLS: tls.connect cannot read a socket it wraps into a buffer of ours.
      const reader = settings.security === 'starttls' ? null : new SocketReader();
      const onread = reader ? { onread: reader.onread } : {};
      const socket = await new Promise<net.Socket>((resolve, reject) => {
        const secureOptions: tls.ConnectionOptions & net.ConnectOpts = { host: settings.host, port: settings.port, ...tlsOptions, ...onread };
        const s = settings.security === 'ssl'
          ? tls.connect(secureOptions, () => resolve(s))
          : net.connect({ host: settings.host, port: settings.port, ...onread }, () => resolve(s));
        s.once('error', reject);
        timer = setTimeout(() => {
          s.destroy();
          reject(Object.assign(new Error('Failed to establish connection in required time'), { code: 'CONNECT_TIMEOUT', details: { connectionTimeout: timeoutMs } }));
        }, timeoutMs);
      });
      socket.setNoDelay(true);
      wire = new ImapWire(socket, settings.security === 'ssl', context, reader);
      const greeting = await wire.withTimeout(wire.readGreeting(), timeoutMs, 'GREETING_TIMEOUT');
      clearTimeout(timer);
      if (/^\* BYE/i.test(greeting)) {
        throw Object.assign(new Error('Connection not available'), { code: 'NoConnection', reason: greeting.replace(/^\* BYE\s*/i, ''), responseStatus: 'BYE' });
      }
      const preauth = /^\* PREAUTH/i.test(greeting);
      if (wire.capabilities.size === 0) await wire.refreshCapabilities();
      if (settings.security === 'starttls') {
        if (preauth) throw Object.assign(new Error('STARTTLS is not possible after a PREAUTH greeting'), { tlsFailed: true });
        if (!wire.capabilities.has('STARTTLS')) throw Object.assign(new Error('Server does not support STARTTLS'), { tlsFailed: true });
        await wire.startTls(settings, tlsOptions, timeoutMs);
      }
      if (options.loginAfter) {
        await options.loginAfter.catch(() => {
          throw Object.assign(new Error('not needed: the connection it was opened alongside failed'), { code: 'NoConnection' });
        });
      }
      if (!preauth) await wire.authenticate(settings);
      if (settings.compress === true && wire.capabilities.has('COMPRESS=DEFLATE')) await wire.startCompression();
      return wire;
    } catch (err) {
      clearTimeout(timer);
      wire?.destroy();
      const classified = classifyError(err, context);
      if (retryWithSystemStore(settings, classified, withSystemStore)) return ImapWire.open(settings, ctx, options);
      throw classified;
    }
  }

  private withTimeout<T>(promise: Promise<T>, ms: number, code: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`${code} after ${ms} ms`), { code, details: { connectionTimeout: ms } })), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  private attach(socket: net.Socket, reader: SocketReader | null): void {
    if (reader) reader.attach((chunk) => this.onData(chunk));
    else socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.socketError ??= err;
    });
    socket.on('close', () => this.onSocketClose());
  }

  private readGreeting(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.greetingWaiter = { resolve, reject };
    });
  }

  private async startTls(settings: ConnectionSettings, tlsOptions: tls.ConnectionOptions, timeoutMs: number): Promise<void> {
    const tag = this.nextTag();
    const response = await this.command(tag, `${tag} STARTTLS\r\n`);
    if (response.status !== 'OK') throw Object.assign(taggedFailure(response), { tlsFailed: true });
    // Bytes the server sent after its OK but before the handshake would be plaintext injected by a
    // man in the middle (CVE-2011-0411 class); they must not be parsed as protected data.
    if (this.framer.holding) throw Object.assign(new Error('Server sent data after the STARTTLS response'), { code: 'STARTTLS_INJECTION', tlsFailed: true });
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secured = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ ...tlsOptions, socket: plain, host: settings.host }, () => resolve(s));
      s.once('error', reject);
      const timer = setTimeout(() => reject(Object.assign(new Error('TLS upgrade timed out'), { code: 'UPGRADE_TIMEOUT', details: { connectionTimeout: timeoutMs } })), timeoutMs);
      s.once('secureConnect', () => clearTimeout(timer));
    });
    this.socket = secured;
    this.secure = true;
    this.attach(secured, null);
    // RFC 3501 §6.2.1: capabilities learned before TLS must be discarded.
    this.capabilities.clear();
    await this.refreshCapabilities();
  }

  /**
   * COMPRESS DEFLATE (RFC 4978): from the tagged OK on, both directions are one raw DEFLATE stream
   * each. Every write is sync-flushed, so the server always has whole commands.
   */
  private async startCompression(): Promise<void> {
    const tag = this.nextTag();
    const response = await this.command(tag, `${tag} COMPRESS DEFLATE\r\n`);
    if (response.status !== 'OK') return;
    // Anything after the OK was already compressed and has been read as text: the stream is lost.
    if (this.framer.holding) throw Object.assign(new Error('Server sent data after the COMPRESS response'), { code: 'EPROTOCOL' });
    const inflater = zlib.createInflateRaw();
    // Level 1: on a message corpus it keeps most of level 6's saving (attachments are base64 of
    // already-compressed data either way) for a fraction of the CPU; bulk APPENDs are the load here.
    const deflater = zlib.createDeflateRaw({ level: zlib.constants.Z_BEST_SPEED });
    const onError = (err: Error): void => {
      this.socketError ??= err;
      this.destroy();
    };
    inflater.on('data', (chunk: Buffer) => this.frame(chunk));
    inflater.on('error', onError);
    deflater.on('data', (chunk: Buffer) => this.socket.write(chunk));
    deflater.on('error', onError);
    this.inflater = inflater;
    this.deflater = deflater;
  }

  /** Whether COMPRESS=DEFLATE is in effect on this connection. */
  get compressed(): boolean {
    return this.deflater !== null;
  }

  private async refreshCapabilities(): Promise<void> {
    const tag = this.nextTag();
    const response = await this.command(tag, `${tag} CAPABILITY\r\n`);
    if (response.status !== 'OK') throw taggedFailure(response);
  }

  private async authenticate(settings: ConnectionSettings): Promise<void> {
    if (this.capabilities.has('LOGINDISABLED')) {
      throw Object.assign(new Error('LOGINDISABLED'), { responseText: 'LOGINDISABLED' });
    }
    // Admin formats with "\" or "/" (Exchange Domain/Admin/User) are understood by LOGIN only.
    const usePlain = settings.authzid !== undefined || settings.loginMethod === 'plain'
      || (settings.loginMethod === undefined && this.capabilities.has('AUTH=PLAIN') && !/[\\/]/.test(settings.user));
    const tag = this.nextTag();
    let response: TaggedResponse;
    if (usePlain) {
      // RFC 4616: authzid NUL authcid NUL passwd
      const token = Buffer.from(`${settings.authzid ?? ''}\0${settings.user}\0${settings.password}`, 'utf8').toString('base64');
      if (this.capabilities.has('SASL-IR')) {
        response = await this.command(tag, `${tag} AUTHENTICATE PLAIN ${token}\r\n`);
      } else {
        const done = this.expectTagged(tag);
        const cont = this.waitContinuation(tag);
        await this.write(`${tag} AUTHENTICATE PLAIN\r\n`);
        if ((await cont) === 'continue') await this.write(`${token}\r\n`);
        response = await done;
      }
    } else {
      const done = this.expectTagged(tag);
      await this.write(`${tag} LOGIN `);
      await this.writeAstring(tag, settings.user);
      await this.write(' ');
      await this.writeAstring(tag, settings.password);
      await this.write('\r\n');
      response = await done;
    }
    if (response.status !== 'OK') throw taggedFailure(response, { authenticationFailed: response.status === 'NO' });
    if (response.code !== 'CAPABILITY') {
      this.capabilities.clear();
      await this.refreshCapabilities();
    }
  }

  /** Quoted when it can be (printable ASCII), otherwise a literal (non-ASCII passwords). */
  private async writeAstring(tag: string, value: string): Promise<void> {
    if (/^[\x20-\x7e]*$/.test(value)) {
      await this.write(quoteString(value));
      return;
    }
    const bytes = Buffer.from(value, 'utf8');
    if (this.capabilities.has('LITERAL+')) {
      await this.write(`{${bytes.length}+}\r\n`);
    } else {
      const cont = this.waitContinuation(tag);
      await this.write(`{${bytes.length}}\r\n`);
      if ((await cont) === 'tagged') return;
    }
    await this.write(bytes);
  }

  /** Sends a complete command line and waits for its tagged response. */
  async command(tag: string, line: string): Promise<TaggedResponse> {
    const done = this.expectTagged(tag);
    await this.write(line);
    return done;
  }

  /** Registers interest in `tag`'s completion; call before writing the command. */
  expectTagged(tag: string): Promise<TaggedResponse> {
    if (this.fatal) return Promise.reject(this.fatal);
    return new Promise((resolve, reject) => this.tagged.set(tag, { resolve, reject }));
  }

  /**
   * Waits for the server's "+" before a synchronizing literal of `tag`. Resolves 'tagged' instead
   * when the server completes `tag` without asking for the literal (e.g. NO [TRYCREATE], or
   * [TOOBIG] when the announced size is refused) — the caller must then not send the bytes.
   */
  waitContinuation(tag: string): Promise<ContinuationOutcome> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.continuation) return Promise.reject(new Error('two continuation waiters'));
    return new Promise((resolve, reject) => {
      this.continuation = { tag, resolve, reject };
    });
  }

  /** Writes with back-pressure: resolves once the socket buffer has drained below its mark. */
  write(data: string | Buffer): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.deflater) return this.writeCompressed(this.deflater, data);
    if (this.socket.write(data)) return Promise.resolve();
    return this.drained();
  }

  private writeCompressed(deflater: zlib.DeflateRaw, data: string | Buffer): Promise<void> {
    // zlib reads `data` later, on its thread pool: the caller must keep it intact until this
    // resolves (the flush below has consumed it by then).
    deflater.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    return new Promise<void>((resolve) => deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()))
      .then(() => {
        if (this.fatal) throw this.fatal;
        return this.socket.writableNeedDrain ? this.drained() : undefined;
      });
  }

  /** Resolves once the socket has drained, rejects when it closes first. */
  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(this.fatal ?? classifyError(Object.assign(new Error('Connection closed'), { code: 'EConnectionClosed' }), this.ctx));
      };
      const cleanup = (): void => {
        this.socket.off('drain', onDrain);
        this.onClose = null;
      };
      this.socket.once('drain', onDrain);
      this.onClose = onClose;
    });
  }

  private onData(chunk: Buffer): void {
    if (this.fatal) return;
    // A copy: zlib reads it later, and the socket reader reuses its buffer.
    if (this.inflater) this.inflater.write(Buffer.from(chunk));
    else this.frame(chunk);
  }

  private frame(chunk: Buffer): void {
    if (this.fatal) return;
    try {
      this.framer.push(chunk);
    } catch (err) {
      // An impossible literal size: the stream cannot be re-aligned, so the connection is over.
      this.socketError ??= err as Error;
      this.destroy();
    }
  }

  private onResponse(response: RawResponse): void {
    const first = response.text[0];
    // "* <number> ..." (FETCH, EXPUNGE, EXISTS, RECENT): offered raw to the hook, so that message
    // data in literals never goes through a string.
    if (this.untaggedHook && first !== undefined && first.length > 2 && first[0] === 0x2a && (first[2] ?? 0) >= 0x30 && (first[2] ?? 0) <= 0x39) {
      if (this.untaggedHook(response)) return;
    }
    this.dispatch(responseToString(response));
  }

  private dispatch(line: string): void {
    if (line.startsWith('+')) {
      const waiter = this.continuation;
      this.continuation = null;
      // A "+" nobody waits for is a protocol error on our side; ignoring it keeps the stream aligned.
      waiter?.resolve('continue');
      return;
    }
    if (line.startsWith('* ')) {
      this.untagged(line);
      return;
    }
    const m = TAGGED_RE.exec(line);
    if (!m) return;
    const tag = m[1] as string;
    const status = (m[2] as string).toUpperCase() as TaggedResponse['status'];
    const resp = { tag, status, ...parseRespText(m[3] ?? '') };
    if (resp.code === 'CAPABILITY') this.setCapabilities(resp.codeArgs);
    if (this.continuation?.tag === tag) {
      const waiter = this.continuation;
      this.continuation = null;
      waiter.resolve('tagged');
    }
    const waiter = this.tagged.get(tag);
    if (waiter) {
      this.tagged.delete(tag);
      waiter.resolve(resp);
    }
  }

  private untagged(line: string): void {
    const m = /^\* (\S+)(?: (.*))?$/.exec(line);
    if (!m) return;
    const kind = (m[1] as string).toUpperCase();
    const rest = m[2] ?? '';
    if (kind === 'CAPABILITY') {
      this.setCapabilities(rest);
    } else if (kind === 'OK' || kind === 'PREAUTH' || kind === 'BYE') {
      const resp = parseRespText(rest);
      if (resp.code === 'CAPABILITY') this.setCapabilities(resp.codeArgs);
      if (resp.code === 'UIDVALIDITY' && /^\d+$/.test(resp.codeArgs)) this.uidValidity = BigInt(resp.codeArgs);
      if (kind === 'BYE') this.byeText = rest;
      if (this.greetingWaiter) {
        const waiter = this.greetingWaiter;
        this.greetingWaiter = null;
        waiter.resolve(line);
      }
    }
  }

  private setCapabilities(list: string): void {
    this.capabilities = new Set(list.split(/\s+/).filter(Boolean).map((c) => c.toUpperCase()));
    this.appendLimit = null;
    for (const cap of this.capabilities) {
      const m = /^APPENDLIMIT=(\d+)$/.exec(cap);
      if (m) this.appendLimit = Number(m[1]);
    }
  }

  private onSocketClose(): void {
    // An untagged BYE (RFC 3501 §7.1.5) explains the close better than the socket does.
    const cause: unknown = this.byeText !== null
      ? Object.assign(new Error('Connection not available'), { code: 'NoConnection', reason: this.byeText, responseStatus: 'BYE' })
      : this.socketError ?? Object.assign(new Error('Connection closed by the server'), { code: 'EConnectionClosed' });
    const err = classifyError(cause, this.ctx);
    this.fatal ??= err;
    this.greetingWaiter?.reject(cause);
    this.greetingWaiter = null;
    this.continuation?.reject(this.fatal);
    this.continuation = null;
    for (const waiter of this.tagged.values()) waiter.reject(this.fatal);
    this.tagged.clear();
    this.onClose?.();
  }

  /** LOGOUT politely; a dead connection is already closed, which is what we want. */
  async logout(): Promise<void> {
    if (!this.alive) return;
    const tag = this.nextTag();
    try {
      await this.withTimeout(this.command(tag, `${tag} LOGOUT\r\n`), 5000, 'ETIMEOUT');
    } catch {
      // Already gone or not answering: destroying below is all that is left to do.
    }
    this.destroy();
  }

  destroy(): void {
    if (!this.socket.destroyed) this.socket.destroy();
    this.inflater?.destroy();
    this.deflater?.destroy();
  }

  /**
   * Drops the connection after `ms` without any traffic, failing what is in flight (CONN_TIMEOUT).
   * A server that stops answering mid-response must not hang the caller forever.
   */
  setIdleTimeout(ms: number): void {
    this.socket.setTimeout(ms, () => {
      this.socketError ??= Object.assign(new Error(`No data from the server for ${ms} ms`), { code: 'ETIMEOUT', details: { socketTimeout: ms } });
      this.destroy();
    });
  }
}
