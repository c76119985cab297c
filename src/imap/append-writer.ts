/**
 * The target-side pipelined APPEND writer.
 *
 * Why not imapflow's append(): it keeps one command in flight and waits for the "+" continuation
 * of every literal, so each message costs two round trips (~12 msg/s at 40 ms RTT). Migration
 * speed is decided by latency, not bandwidth, so this writer keeps a window of commands in flight:
 *
 *  - 'multiappend'  (RFC 3502): up to `maxBatchCount` messages / `maxBatchBytes` in one APPEND,
 *                   each literal non-synchronizing when LITERAL+/LITERAL- allows it.
 *  - 'literal-plus' (RFC 7888): one message per APPEND, `{n+}` literals, many commands in flight.
 *                   With LITERAL- only, literals above 4096 octets must stay synchronizing.
 *  - 'sync'         (RFC 3501): `{n}` and wait for "+" before the bytes; the next command's line is
 *                   still sent right after the previous literal, so it costs one round trip, not two.
 *
 * What is known stored when something fails (the engine's ledger must tolerate exactly this):
 *  - Every item gets its own result: 'stored' (tagged OK seen; uid from APPENDUID when reported),
 *    'rejected' (tagged NO/BAD seen or refused locally: NOT stored), 'unknown' (the connection died
 *    after the command was sent but before its tagged response: the server may or may not have
 *    committed it — the ledger must dedup by content key on resume), or 'not-sent' (never written).
 *  - MULTIAPPEND is atomic (RFC 3502 §6.3.11: a NO/BAD means none of that command's messages were
 *    appended), so a failed batch is all 'rejected'. When the refusal looks message-specific, the
 *    batch is re-sent one message per APPEND to find the culprit and store the others.
 *  - Commands after a failing one may already be in flight (pipelining), so items AFTER a failed
 *    item can be 'stored' too. After a folder- or mailbox-level failure (OVERQUOTA, TRYCREATE,
 *    LIMIT, throttling, BAD) no new command is sent; in-flight ones still report their own result.
 *
 * APPENDUID caveat (seen on Dovecot 2.3.19, maildir LAYOUT=index): the first APPEND into a mailbox
 * that was never opened or CREATEd (e.g. an auto-created INBOX) reports a UIDVALIDITY one higher
 * than the one SELECT shows afterwards; the UIDs are right. Take UIDVALIDITY from openFolder/STATUS.
 */
import type { AppendItem, AppendOutcome, ConnectionSettings } from '../domain/mail-types.js';
import { MailshiftError } from '../domain/errors.js';
import { classifyError, type ErrorContext, type Side } from './classify-error.js';
import { encodeModifiedUtf7 } from './modified-utf7.js';
import { expandUidSet, formatInternalDate, normaliseFlags, quoteString } from './imap-syntax.js';
import { ImapWire, taggedFailure, type TaggedResponse } from './imap-wire.js';

export type AppendMode = 'auto' | 'multiappend' | 'literal-plus' | 'sync';
export type ResolvedAppendMode = Exclude<AppendMode, 'auto'>;

export interface AppendWriterOptions {
  mode?: AppendMode;
  /** MULTIAPPEND batch limits. */
  maxBatchCount?: number;
  maxBatchBytes?: number;
  /** Window of commands sent but not yet answered. */
  maxInFlightCommands?: number;
  maxInFlightBytes?: number;
}

export type AppendItemResult =
  | { status: 'stored'; uid: number | null; uidValidity: bigint | null }
  | { status: 'rejected'; error: MailshiftError }
  | { status: 'unknown'; error: MailshiftError }
  | { status: 'not-sent'; error: MailshiftError };

export interface AppendWriterStats {
  mode: ResolvedAppendMode;
  commands: number;
  messages: number;
  bytes: number;
  syncLiterals: number;
  droppedFlags: number;
  /** Most commands written and not yet answered at one time, across calls. */
  maxCommandsInFlight: number;
}

/** Thrown by `appendOrThrow`: the first failure, plus every item's result for the ledger. */
export class AppendBatchError extends MailshiftError {
  readonly results: readonly AppendItemResult[];
  constructor(first: MailshiftError, results: readonly AppendItemResult[]) {
    super(first.code, first.params, { cause: first, ...(first.retryAfterMs === null ? {} : { retryAfterMs: first.retryAfterMs }) });
    this.results = results;
  }
}

const CRLF = Buffer.from('\r\n');
/** Writes are coalesced up to this size (a few TCP segments' worth of a typical message). */
const COALESCE_BYTES = 64 * 1024;

/** Literals above this are written in slices of this size, each after the socket drained. */
const SLICE_BYTES = 1024 * 1024;

/** RFC 7888 §4: LITERAL- allows non-synchronizing literals of at most 4096 octets. */
const LITERAL_MINUS_MAX = 4096;

interface Batch {
  indices: number[];
  bytes: number;
}

/** Commands written; `answered` settles when every one has its tagged response. */
interface Written {
  answered: Promise<void>;
}

/** Response codes after which sending more APPENDs to this folder would fail the same way. */
const STOP_CODES: ReadonlySet<string> = new Set(['TARGET_OVERQUOTA', 'CONN_TOO_MANY', 'CONN_THROTTLED', 'CONN_LOST', 'IMAP_PROTOCOL', 'AUTH_FAILED']);

export class AppendWriter {
  readonly mode: ResolvedAppendMode;
  private readonly options: Required<Omit<AppendWriterOptions, 'mode'>>;
  private readonly counters = { commands: 0, messages: 0, bytes: 0, syncLiterals: 0, droppedFlags: 0, maxCommandsInFlight: 0 };
  private commandsInFlight = 0;
  /**
   * Serialises the writing of append() calls: literals of two calls must not interleave on one
   * connection. Only the writing: a call's commands go out while the previous call still waits for
   * its tagged responses, so a caller that appends batch after batch never leaves the connection idle.
   */
  private writing: Promise<unknown> = Promise.resolve();
  /** Calls not yet answered: close() lets them finish before LOGOUT. */
  private readonly calls = new Set<Promise<unknown>>();

  private constructor(private readonly wire: ImapWire, private readonly ctx: ErrorContext, mode: ResolvedAppendMode, options: AppendWriterOptions) {
    this.mode = mode;
    this.options = {
      maxBatchCount: options.maxBatchCount ?? 100,
      maxBatchBytes: options.maxBatchBytes ?? 8 * 1024 * 1024,
      maxInFlightCommands: options.maxInFlightCommands ?? (mode === 'multiappend' ? 8 : 128),
      maxInFlightBytes: options.maxInFlightBytes ?? 32 * 1024 * 1024,
    };
  }

  /** `loginAfter`: see ImapWire.open. */
  static async open(settings: ConnectionSettings, context: { side: Side; loginAfter?: Promise<unknown> }, options: AppendWriterOptions = {}): Promise<AppendWriter> {
    const ctx: ErrorContext = { host: settings.host, port: settings.port, user: settings.user, side: context.side, secrets: [settings.password] };
    const wire = await ImapWire.open(settings, ctx, context.loginAfter ? { loginAfter: context.loginAfter } : {});
    const caps = wire.capabilities;
    const literalPlus = caps.has('LITERAL+') || caps.has('LITERAL-');
    let mode: ResolvedAppendMode;
    switch (options.mode ?? 'auto') {
      case 'auto':
        mode = caps.has('MULTIAPPEND') ? 'multiappend' : literalPlus ? 'literal-plus' : 'sync';
        break;
      case 'multiappend':
        if (!caps.has('MULTIAPPEND')) throw unsupported(wire, ctx, 'MULTIAPPEND');
        mode = 'multiappend';
        break;
      case 'literal-plus':
        if (!literalPlus) throw unsupported(wire, ctx, 'LITERAL+');
        mode = 'literal-plus';
        break;
      default:
        mode = 'sync';
    }
    return new AppendWriter(wire, ctx, mode, options);
  }

  get capabilities(): ReadonlySet<string> {
    return this.wire.capabilities;
  }

  get alive(): boolean {
    return this.wire.alive;
  }

  stats(): AppendWriterStats {
    return { mode: this.mode, ...this.counters };
  }

  /** Port semantics: one outcome per item, or an AppendBatchError carrying every item's result. */
  async appendOrThrow(folder: string, items: readonly AppendItem[]): Promise<AppendOutcome[]> {
    const results = await this.append(folder, items);
    for (const r of results) {
      if (r.status !== 'stored') throw new AppendBatchError(r.error, results);
    }
    return results.map((r) => (r.status === 'stored' ? { uid: r.uid, uidValidity: r.uidValidity } : { uid: null, uidValidity: null }));
  }

  /**
   * Appends all items to `folder`; never rejects for per-item failures (see the file comment).
   * Calls are sent in call order; a later call may be written before an earlier one is answered.
   */
  append(folder: string, items: readonly AppendItem[]): Promise<AppendItemResult[]> {
    const call = this.appendNow(folder, items);
    this.calls.add(call);
    const forget = (): void => { this.calls.delete(call); };
    call.then(forget, forget);
    return call;
  }

  private async appendNow(folder: string, items: readonly AppendItem[]): Promise<AppendItemResult[]> {
    const results: Array<AppendItemResult | undefined> = new Array(items.length).fill(undefined);
    const ctx: ErrorContext = { ...this.ctx, folder };
    const mailbox = quoteString(encodeModifiedUtf7(folder));
    const stop: { error: MailshiftError | null } = { error: null };
    const retrySingly: number[] = [];
    const written = await this.exclusiveWrite(() => this.writeAll(items, results, ctx, mailbox, stop, retrySingly));
    await written.answered;
    if (retrySingly.length > 0 && stop.error === null) {
      const batches = retrySingly.map((i) => ({ indices: [i], bytes: (items[i] as AppendItem).raw.length }));
      await (await this.exclusiveWrite(() => this.sendBatches(batches, items, mailbox, ctx, results, stop, []))).answered;
    }
    return results.map((r) => r ?? { status: 'not-sent', error: stop.error ?? new MailshiftError('INTERNAL', { detail: 'append item left without a result' }) });
  }

  /** Runs `write` once every earlier call's writing is done; resolves with what `write` resolves to. */
  private exclusiveWrite<T>(write: () => Promise<T>): Promise<T> {
    const run = this.writing.then(write);
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Writes the call's commands; resolves once all are written, with a promise of their answers. */
  private async writeAll(
    items: readonly AppendItem[], results: Array<AppendItemResult | undefined>, ctx: ErrorContext, mailbox: string,
    stop: { error: MailshiftError | null }, retrySingly: number[],
  ): Promise<Written> {
    const limit = this.wire.appendLimit;
    const sendable: number[] = [];
    items.forEach((item, index) => {
      // RFC 7889: the server announced it will refuse larger messages; do not waste the upload.
      if (limit !== null && item.raw.length > limit) {
        results[index] = { status: 'rejected', error: new MailshiftError('TARGET_APPEND_REJECTED', { ...base(ctx), index, detail: `the message (${item.raw.length} bytes) is larger than the server's APPENDLIMIT of ${limit} bytes` }) };
      } else {
        sendable.push(index);
      }
    });

    return this.sendBatches(this.plan(sendable, items), items, mailbox, ctx, results, stop, retrySingly);
  }

  private plan(indices: readonly number[], items: readonly AppendItem[]): Batch[] {
    const batches: Batch[] = [];
    let current: Batch = { indices: [], bytes: 0 };
    for (const index of indices) {
      const size = (items[index] as AppendItem).raw.length;
      const full = this.mode !== 'multiappend'
        || current.indices.length >= this.options.maxBatchCount
        || current.bytes + size > this.options.maxBatchBytes;
      if (current.indices.length > 0 && full) {
        batches.push(current);
        current = { indices: [], bytes: 0 };
      }
      current.indices.push(index);
      current.bytes += size;
    }
    if (current.indices.length > 0) batches.push(current);
    return batches;
  }

  private literalIsSync(size: number): boolean {
    if (this.mode === 'sync') return true;
    if (this.wire.capabilities.has('LITERAL+')) return false;
    return size > LITERAL_MINUS_MAX;
  }

  /** Writes the batches (within the in-flight window); resolves once written, with a promise of every answer. */
  private async sendBatches(
    batches: readonly Batch[], items: readonly AppendItem[], mailbox: string, ctx: ErrorContext,
    results: Array<AppendItemResult | undefined>, stop: { error: MailshiftError | null }, retrySingly: number[],
  ): Promise<Written> {
    let inFlight = 0;
    let inFlightBytes = 0;
    let wake: (() => void) | null = null;
    const settled: Array<Promise<void>> = [];

    for (const batch of batches) {
      if (stop.error) break;
      while (inFlight > 0 && (inFlight >= this.options.maxInFlightCommands || inFlightBytes + batch.bytes > this.options.maxInFlightBytes)) {
        await new Promise<void>((resolve) => { wake = resolve; });
      }
      if (stop.error) break;
      const tag = this.wire.nextTag();
      const response = this.wire.expectTagged(tag);
      inFlight += 1;
      inFlightBytes += batch.bytes;
      this.commandsInFlight += 1;
      this.counters.maxCommandsInFlight = Math.max(this.counters.maxCommandsInFlight, this.commandsInFlight);
      const finish = (): void => {
        this.commandsInFlight -= 1;
        inFlight -= 1;
        inFlightBytes -= batch.bytes;
        const w = wake;
        wake = null;
        w?.();
      };
      try {
        // false = the server completed the command before a synchronizing literal; its tagged
        // response (already on its way) carries the reason.
        await this.writeCommand(tag, mailbox, batch, items);
        this.counters.commands += 1;
      } catch (err) {
        // Connection gone while writing: this command may or may not have reached the server.
        response.catch(() => undefined);
        const error = this.wire.failure ?? classifyError(err, ctx);
        stop.error = error;
        for (const i of batch.indices) results[i] = { status: 'unknown', error };
        finish();
        break;
      }
      settled.push(response.then(
        (resp) => {
          this.onResponse(resp, batch, ctx, results, stop, retrySingly);
          finish();
        },
        (err: unknown) => {
          const error = err instanceof MailshiftError ? err : classifyError(err, ctx);
          stop.error ??= error;
          for (const i of batch.indices) results[i] = { status: 'unknown', error };
          finish();
        },
      ));
    }
    // Wrapped: an async function would otherwise wait for the promise it returns.
    return { answered: Promise.all(settled).then(() => undefined) };
  }

  /**
   * Writes one APPEND: `tag APPEND mailbox (flags) "date" {n+}\r\n<bytes>[ (flags) "date" {n+}\r\n<bytes>]\r\n`.
   * Returns false when the server completed the command before a synchronizing literal was sent.
   */
  private async writeCommand(tag: string, mailbox: string, batch: Batch, items: readonly AppendItem[]): Promise<boolean> {
    // Small pieces are coalesced into one write: with TCP_NODELAY every write is its own segment,
    // and Dovecot then wakes up per fragment (measured: ~2x slower for 10 KB messages on loopback).
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const chunk = pending.length === 1 ? pending[0] as Buffer : Buffer.concat(pending, pendingBytes);
      pending.length = 0;
      pendingBytes = 0;
      await this.wire.write(chunk);
    };
    const queue = async (data: Buffer): Promise<void> => {
      pending.push(data);
      pendingBytes += data.length;
      if (pendingBytes >= COALESCE_BYTES) await flush();
    };
    let prefix = `${tag} APPEND ${mailbox}`;
    for (const index of batch.indices) {
      const item = items[index] as AppendItem;
      const { flags, dropped } = normaliseFlags(item.flags);
      this.counters.droppedFlags += dropped.length;
      const sync = this.literalIsSync(item.raw.length);
      prefix += ` (${flags.join(' ')}) "${formatInternalDate(item.internalDate)}" {${item.raw.length}${sync ? '' : '+'}}\r\n`;
      if (sync) {
        this.counters.syncLiterals += 1;
        const cont = this.wire.waitContinuation(tag);
        await queue(Buffer.from(prefix, 'latin1'));
        await flush();
        if ((await cont) === 'tagged') return false;
      } else {
        await queue(Buffer.from(prefix, 'latin1'));
      }
      if (item.raw.length > SLICE_BYTES) {
        // A big literal goes in slices, each after the socket drained: a single write would be
        // encrypted at once into TLS's native output buffer (a second copy of the whole message)
        // and sit there while the kernel sends it. Slices of the caller's buffer copy nothing.
        await flush();
        for (let at = 0; at < item.raw.length; at += SLICE_BYTES) await this.wire.write(item.raw.subarray(at, at + SLICE_BYTES));
      } else {
        await queue(item.raw);
      }
      this.counters.messages += 1;
      this.counters.bytes += item.raw.length;
      prefix = '';
    }
    await queue(CRLF);
    await flush();
    return true;
  }

  private onResponse(
    resp: TaggedResponse, batch: Batch, ctx: ErrorContext,
    results: Array<AppendItemResult | undefined>, stop: { error: MailshiftError | null }, retrySingly: number[],
  ): void {
    if (resp.status === 'OK') {
      const uids = parseAppendUid(resp, batch.indices.length);
      batch.indices.forEach((index, k) => {
        results[index] = { status: 'stored', uid: uids?.uids[k] ?? null, uidValidity: uids?.uidValidity ?? null };
      });
      return;
    }
    const single = batch.indices.length === 1;
    const error = appendRefusal(taggedFailure(resp), ctx, single ? batch.indices[0] as number : null);
    if (error.code === 'TARGET_APPEND_REJECTED' && !single) {
      // MULTIAPPEND is all-or-nothing (RFC 3502); nothing was stored, so re-send one by one to
      // learn which message the server refuses and still store the others.
      for (const index of batch.indices) {
        results[index] = { status: 'rejected', error };
        retrySingly.push(index);
      }
      return;
    }
    for (const index of batch.indices) results[index] = { status: 'rejected', error };
    if (STOP_CODES.has(error.code)) stop.error ??= error;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.calls]);
    await this.wire.logout();
  }
}

/**
 * What a refused APPEND means, from the server's tagged answer (an imapflow command error, or
 * taggedFailure() of our own wire): TRYCREATE is IMAP_PROTOCOL with that response code (the engine
 * creates the folder and retries); a plain NO is about message `index` alone (size, content,
 * policy): TARGET_APPEND_REJECTED, other messages are unaffected; anything else as classified.
 */
export function appendRefusal(err: unknown, ctx: ErrorContext, index: number | null): MailshiftError {
  const answer = err as { responseStatus?: string; responseText?: string; serverResponseCode?: string };
  if (answer.serverResponseCode === 'TRYCREATE') {
    // RFC 3501 §6.3.11: the folder does not exist.
    return new MailshiftError('IMAP_PROTOCOL', { ...base(ctx), detail: `TRYCREATE: the folder "${ctx.folder ?? ''}" does not exist`, responseCode: 'TRYCREATE' }, { cause: err });
  }
  const classified = classifyError(err, ctx);
  if (answer.responseStatus !== 'NO' || classified.code !== 'IMAP_PROTOCOL') return classified;
  const params = {
    ...base(ctx), detail: String(classified.params.detail ?? answer.responseText ?? ''),
    ...(answer.serverResponseCode ? { responseCode: answer.serverResponseCode } : {}), ...(index === null ? {} : { index }),
  };
  return new MailshiftError('TARGET_APPEND_REJECTED', params, { cause: err });
}

function base(ctx: ErrorContext): Record<string, string | number> {
  return { host: ctx.host, port: ctx.port, user: ctx.user, side: ctx.side, folder: ctx.folder ?? '' };
}

function unsupported(wire: ImapWire, ctx: ErrorContext, capability: string): MailshiftError {
  wire.destroy();
  return new MailshiftError('IMAP_PROTOCOL', { host: ctx.host, port: ctx.port, user: ctx.user, side: ctx.side, detail: `the server does not advertise ${capability}` });
}

/** `[APPENDUID <uidvalidity> <uid-set>]` (RFC 4315 §3); the set lists one uid per message, in order. */
export function parseAppendUid(resp: TaggedResponse, count: number): { uidValidity: bigint; uids: number[] } | null {
  if (resp.code !== 'APPENDUID') return null;
  const m = /^(\d+) ([\d:,]+)$/.exec(resp.codeArgs.trim());
  if (!m) return null;
  try {
    const uids = expandUidSet(m[2] as string);
    if (uids.length !== count) return { uidValidity: BigInt(m[1] as string), uids: [] };
    return { uidValidity: BigInt(m[1] as string), uids };
  } catch {
    return null;
  }
}
