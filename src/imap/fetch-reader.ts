/**
 * The source side's bulk body fetch over a raw connection of our own (ImapWire):
 *
 *   UID FETCH <set> (UID FLAGS INTERNALDATE RFC822.SIZE [MODSEQ] BODY.PEEK[HEADER] BODY.PEEK[])
 *
 * Why not imapflow's fetch: it tokenises every byte of every response (literals included) into
 * node objects, then builds a result object per message — on a 5,000-message / 167 MB corpus that
 * was ~2.7 s of CPU plus ~1.2 s of GC and Buffer copies, more than the whole of mbsync's work.
 * Here ResponseFramer copies each literal once into a Buffer of its exact size, and only the few
 * dozen bytes around the literals are parsed (fetch-parser.ts).
 *
 * Shape of the traffic:
 *  - the UIDs are split into commands of at most `messagesPerCommand` messages and
 *    `bytesPerCommand` estimated bytes (a larger message goes alone) and a UID set under 7,000
 *    characters; `commandsInFlight` commands are pipelined, so the server always has the next
 *    command queued when the current one finishes streaming;
 *  - messages are yielded as soon as all their items have arrived; a server may split one message's
 *    items over several FETCH responses (RFC 3501 §7.4.2), so items are merged by UID;
 *  - FETCH responses for UIDs we did not ask for, or without a UID (unsolicited flag updates of
 *    another session), are ignored; EXPUNGE (allowed during UID commands, RFC 3501 §7.4.1) shifts
 *    the sequence-number → UID map used for responses that omit the UID.
 *
 * The connection only ever EXAMINEs (read-only), and BODY.PEEK never sets \Seen (RFC 3501 §6.4.5).
 * A caller that stops iterating early does not leave the connection mid-response: the commands in
 * flight are drained (their data dropped) before the next command is sent.
 */
import type { ConnectionSettings, FetchedMessage, MessageHeader, MessageMeta } from '../domain/mail-types.js';
import { MailshiftError } from '../domain/errors.js';
import { classifyError, type ErrorContext, type Side } from './classify-error.js';
import { SOCKET_TIMEOUT_MS } from './connect-options.js';
import { compactUidSet, quoteString } from './imap-syntax.js';
import { ImapWire, taggedFailure, type TaggedResponse } from './imap-wire.js';
import { encodeModifiedUtf7 } from './modified-utf7.js';
import { expungedSeq, parseFetchResponse, parseInternalDate, type FetchItems } from './fetch-parser.js';
import type { RawResponse } from './response-framer.js';

export interface FetchReaderOptions {
  /** Messages per UID FETCH command; default 50. */
  messagesPerCommand?: number;
  /** Estimated bytes per UID FETCH command (a larger message goes alone); default 4 MiB. */
  bytesPerCommand?: number;
  /** UID FETCH commands sent ahead; default 2 (one streaming, one queued behind it). */
  commandsInFlight?: number;
  /** Drop the connection after this long without any data while a command is in flight. */
  idleTimeoutMs?: number;
}

/** Size of a message whose RFC822.SIZE the caller does not know, for chunking only. */
const DEFAULT_SIZE_ESTIMATE = 32 * 1024;
/** UID sets stay below ~7 KB so the whole command line is under 8 KB (RFC 7162 §4 advice). */
const MAX_SET_CHARS = 7000;
const FETCH_ITEMS = '(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER] BODY.PEEK[])';
/**
 * With CONDSTORE, MODSEQ too — as imapflow asks for it there, so both fetch modes report the same
 * modseq. Asking for MODSEQ enables CONDSTORE for the session (RFC 7162 §3.1), which is harmless.
 */
const FETCH_ITEMS_MODSEQ = '(UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ BODY.PEEK[HEADER] BODY.PEEK[])';
const META_ITEMS = '(UID FLAGS INTERNALDATE RFC822.SIZE)';
const META_ITEMS_MODSEQ = '(UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ)';
/** Messages per metadata UID FETCH (a few hundred KB of responses at most). */
const META_PER_COMMAND = 5000;
const HEADER_ITEMS = '(UID RFC822.SIZE BODY.PEEK[HEADER])';
/** Messages per header UID FETCH (headers are a few KB each). */
const HEADERS_PER_COMMAND = 500;
const EMPTY = Buffer.alloc(0);

/**
 * \Recent is session state, not message state (RFC 3501 §2.3.2): dropped, like the imapflow store's
 * flagList(); duplicates collapse the way imapflow's Set does.
 */
function flagList(flags: readonly string[] | undefined): string[] {
  if (!flags) return [];
  return [...new Set(flags)].filter((f) => f.toLowerCase() !== '\\recent');
}

/** UIDs → command-sized UID sets. Ascending; each within count, estimated bytes and set length. */
export function planFetchCommands(
  uids: readonly number[],
  sizeOf: (uid: number) => number | undefined,
  options: { messagesPerCommand: number; bytesPerCommand: number; maxSetChars?: number },
): number[][] {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const maxChars = options.maxSetChars ?? MAX_SET_CHARS;
  const chunks: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  let chars = 0;
  for (const uid of sorted) {
    const size = sizeOf(uid) ?? DEFAULT_SIZE_ESTIMATE;
    const cost = String(uid).length + 1;
    if (current.length > 0 && (current.length >= options.messagesPerCommand || bytes + size > options.bytesPerCommand || chars + cost > maxChars)) {
      chunks.push(current);
      current = [];
      bytes = 0;
      chars = 0;
    }
    current.push(uid);
    bytes += size;
    chars += cost;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

interface Command {
  tag: string;
  state: 'pending' | 'ok' | 'failed';
  response: TaggedResponse | null;
  error: unknown;
  /** Resolves (never rejects) once the tagged response arrived or the connection died. */
  settled: Promise<void>;
  /** UID FETCH: the UIDs asked for, ascending, and how many of them were handed out or skipped. */
  uids: readonly number[];
  next: number;
}

/** Where the FETCH responses of the running conversation go, and how its reader waits for them. */
abstract class ResponseSink {
  /** Sequence number → UID, for responses that omit the UID; shifted by EXPUNGE. */
  readonly seqToUid = new Map<number, number>();
  failure: unknown = null;
  private wake: (() => void) | null = null;

  abstract accept(items: FetchItems, uid: number): void;

  notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  waitForNews(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }
}

/** The state of one fetch() call while its commands are answered. */
class Run extends ResponseSink {
  /** UIDs asked for and not yet delivered. */
  readonly wanted = new Set<number>();
  readonly partial = new Map<number, FetchItems>();
  /** Complete messages not yet handed out, by UID. */
  readonly ready = new Map<number, FetchedMessage>();

  accept(items: FetchItems, uid: number): void {
    if (!this.wanted.has(uid)) return;
    let merged = this.partial.get(uid);
    if (merged) {
      Object.assign(merged, items, { uid });
    } else {
      merged = { ...items, uid };
    }
    if (complete(merged)) {
      this.partial.delete(uid);
      this.wanted.delete(uid);
      this.ready.set(uid, toMessage(merged));
      this.notify();
    } else {
      this.partial.set(uid, merged);
    }
  }
}

/** The state of one fetchRows() call: rows by UID, merged across responses, until their command ends. */
class RowRun<T> extends ResponseSink {
  readonly rows = new Map<number, FetchItems>();

  /** `wanted` null: every UID the server sends is kept (UID FETCH 1:*). */
  constructor(private readonly wanted: ReadonlySet<number> | null, private readonly convert: (items: FetchItems, uid: number) => T) {
    super();
  }

  accept(items: FetchItems, uid: number): void {
    if (this.wanted && !this.wanted.has(uid)) return;
    const row = this.rows.get(uid);
    if (row) Object.assign(row, items, { uid });
    else this.rows.set(uid, { ...items, uid });
  }

  /** Removes and returns the rows of `uids` (every row when null), ascending by UID. */
  take(uids: readonly number[] | null): T[] {
    const keys = uids ?? [...this.rows.keys()].sort((a, b) => a - b);
    const out: T[] = [];
    for (const uid of keys) {
      const row = this.rows.get(uid);
      if (!row) continue;
      this.rows.delete(uid);
      out.push(this.convert(row, uid));
    }
    return out;
  }
}

/** Missing items read as imapflow's fetchAll gave them: no flags, size 0, an invalid date, no header. */
function toMeta(items: FetchItems, uid: number): MessageMeta {
  return {
    uid,
    flags: flagList(items.flags),
    internalDate: items.internalDate === undefined ? Number.NaN : parseInternalDate(items.internalDate),
    size: items.size ?? 0,
    modseq: items.modseq ?? null,
  };
}

function toHeader(items: FetchItems, uid: number): MessageHeader {
  return { uid, size: items.size ?? 0, header: items.header ?? EMPTY };
}

function complete(items: FetchItems): boolean {
  return items.uid !== undefined && items.flags !== undefined && items.internalDate !== undefined
    && items.size !== undefined && items.header !== undefined && items.body !== undefined;
}

function toMessage(items: FetchItems): FetchedMessage {
  const raw = items.body ?? Buffer.alloc(0);
  return {
    uid: items.uid as number,
    flags: flagList(items.flags),
    internalDate: items.internalDate === undefined ? Number.NaN : parseInternalDate(items.internalDate),
    size: items.size ?? raw.length,
    modseq: items.modseq ?? null,
    header: items.header ?? Buffer.alloc(0),
    raw,
  };
}

export class FetchReader {
  private readonly options: Required<Omit<FetchReaderOptions, 'idleTimeoutMs'>>;
  /** Serialises examine() and fetch() calls: one conversation on the connection at a time. */
  private tail: Promise<void> = Promise.resolve();
  private run: ResponseSink | null = null;
  /** The folder EXAMINEd on this connection, and its UIDVALIDITY. */
  private examined: { path: string; uidValidity: bigint | null } | null = null;

  private constructor(private readonly wire: ImapWire, private readonly ctx: ErrorContext, options: FetchReaderOptions) {
    this.options = {
      messagesPerCommand: Math.max(1, options.messagesPerCommand ?? 50),
      bytesPerCommand: Math.max(1, options.bytesPerCommand ?? 4 * 1024 * 1024),
      commandsInFlight: Math.max(1, options.commandsInFlight ?? 2),
    };
    wire.untaggedHook = (response) => this.onUntagged(response);
    wire.setIdleTimeout(options.idleTimeoutMs ?? SOCKET_TIMEOUT_MS);
  }

  /** `loginAfter`: see ImapWire.open. */
  static async open(settings: ConnectionSettings, context: { side: Side; loginAfter?: Promise<unknown> }, options: FetchReaderOptions = {}): Promise<FetchReader> {
    const ctx: ErrorContext = { host: settings.host, port: settings.port, user: settings.user, side: context.side, secrets: [settings.password] };
    const wire = await ImapWire.open(settings, ctx, context.loginAfter ? { loginAfter: context.loginAfter } : {});
    return new FetchReader(wire, ctx, options);
  }

  get alive(): boolean {
    return this.wire.alive;
  }

  get folder(): string | null {
    return this.examined?.path ?? null;
  }

  private fail(err: unknown, folder?: string): MailshiftError {
    if (err instanceof MailshiftError) return err;
    return classifyError(err, folder === undefined ? this.ctx : { ...this.ctx, folder });
  }

  private async turn(): Promise<() => void> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    return release;
  }

  private onUntagged(response: RawResponse): boolean {
    const expunged = expungedSeq(response);
    if (expunged !== null) {
      const run = this.run;
      if (run) {
        const shifted = new Map<number, number>();
        for (const [seq, uid] of run.seqToUid) {
          if (seq < expunged) shifted.set(seq, uid);
          else if (seq > expunged) shifted.set(seq - 1, uid);
        }
        run.seqToUid.clear();
        for (const [seq, uid] of shifted) run.seqToUid.set(seq, uid);
      }
      return true;
    }
    let items: FetchItems | null;
    try {
      items = parseFetchResponse(response);
    } catch (err) {
      // The stream can no longer be trusted: fail what is running and drop the connection.
      if (this.run) {
        this.run.failure ??= err;
        this.run.notify();
      }
      this.wire.destroy();
      return true;
    }
    if (items === null) return false;
    const run = this.run;
    if (!run) return true;
    let uid = items.uid;
    if (uid === undefined) uid = run.seqToUid.get(items.seq);
    else run.seqToUid.set(items.seq, uid);
    if (uid !== undefined) run.accept(items, uid);
    return true;
  }

  /**
   * The next message of `command` in UID order, or null when it has not arrived yet. Once the
   * command is complete, UIDs that did not come (expunged, never existed) are skipped, and a message
   * whose items did not all arrive is handed out with what there is if its body came (imapflow's
   * fetchAll did the same).
   */
  private nextInOrder(command: Command, run: Run): FetchedMessage | null {
    while (command.next < command.uids.length) {
      const uid = command.uids[command.next] as number;
      const message = run.ready.get(uid);
      if (message) {
        run.ready.delete(uid);
        command.next++;
        return message;
      }
      if (command.state !== 'ok') return null;
      command.next++;
      const partial = run.partial.get(uid);
      run.partial.delete(uid);
      run.wanted.delete(uid);
      if (partial?.body !== undefined) return toMessage(partial);
    }
    return null;
  }

  /** Sends a command; its outcome is recorded on the returned object (never an unhandled rejection). */
  private send(line: (tag: string) => string, run: ResponseSink | null, uids: readonly number[] = []): Command {
    const tag = this.wire.nextTag();
    const command: Command = { tag, state: 'pending', response: null, error: null, settled: Promise.resolve(), uids, next: 0 };
    command.settled = this.wire.command(tag, line(tag)).then(
      (response) => {
        command.state = 'ok';
        command.response = response;
        run?.notify();
      },
      (err: unknown) => {
        command.state = 'failed';
        command.error = err;
        run?.notify();
      },
    );
    return command;
  }

  private examineLine(path: string): (tag: string) => string {
    return (tag) => `${tag} EXAMINE ${quoteString(encodeModifiedUtf7(path))}\r\n`;
  }

  /** Outcome of the EXAMINE command: throws when refused or when UIDVALIDITY is not the expected one. */
  private checkExamine(command: Command, path: string, expectedUidValidity: bigint | null): void {
    if (command.state === 'failed') throw this.fail(command.error, path);
    const response = command.response as TaggedResponse;
    if (response.status !== 'OK') {
      this.examined = null;
      const err = taggedFailure(response);
      const classified = this.fail(err, path);
      if (classified.code === 'IMAP_PROTOCOL' && response.status === 'NO') {
        throw new MailshiftError('SOURCE_FOLDER_VANISHED', { host: this.ctx.host, port: this.ctx.port, user: this.ctx.user, side: this.ctx.side, folder: path, detail: String(classified.params.detail ?? 'EXAMINE was refused') }, { cause: err });
      }
      throw classified;
    }
    const uidValidity = this.wire.uidValidity;
    this.examined = { path, uidValidity };
    if (expectedUidValidity !== null && uidValidity !== null && uidValidity !== expectedUidValidity) {
      this.examined = null;
      throw new MailshiftError('SOURCE_FOLDER_VANISHED', {
        host: this.ctx.host, port: this.ctx.port, user: this.ctx.user, side: this.ctx.side, folder: path,
        detail: `UIDVALIDITY changed from ${expectedUidValidity} to ${uidValidity} (the folder was re-created)`,
      });
    }
  }

  /**
   * UID FETCH the messages of `folder` (EXAMINEd first when it is not the folder this connection
   * has open, pipelined with the first FETCH). `expectedUidValidity` guards against the folder
   * having been re-created since the caller listed its UIDs. `sizeOf` gives known RFC822.SIZEs
   * (e.g. from an earlier metadata FETCH) for chunking; unknown sizes are estimated.
   */
  async *fetch(
    folder: string,
    uids: readonly number[],
    options: {
      expectedUidValidity?: bigint | null;
      sizeOf?: (uid: number) => number | undefined;
      /** Ask for MODSEQ; default: when the server has CONDSTORE. False for a NOMODSEQ folder (RFC 7162 §3.1.2). */
      modseq?: boolean;
    } = {},
  ): AsyncGenerator<FetchedMessage> {
    if (uids.length === 0) return;
    const plan = planFetchCommands(uids, options.sizeOf ?? (() => undefined), this.options);
    const release = await this.turn();
    const run = new Run();
    for (const uid of uids) run.wanted.add(uid);
    const commands: Command[] = [];
    let examine: Command | null = null;
    let finished = false;
    try {
      examine = this.beginConversation(folder, run, { freshExamine: false });
      const withModseq = options.modseq ?? this.wire.capabilities.has('CONDSTORE');
      const items = withModseq ? FETCH_ITEMS_MODSEQ : FETCH_ITEMS;
      let next = 0;
      for (;;) {
        if (run.failure) throw this.fail(run.failure, folder);
        if (examine && examine.state !== 'pending') {
          this.checkExamine(examine, folder, options.expectedUidValidity ?? null);
          examine = null;
        }
        // Keep the pipeline full, counting commands whose messages are not all handed out yet:
        // memory stays bounded by `commandsInFlight` commands even when the consumer is slow.
        while (next < plan.length && commands.length < this.options.commandsInFlight) {
          const chunk = plan[next++] as number[];
          const set = compactUidSet(chunk);
          commands.push(this.send((tag) => `${tag} UID FETCH ${set} ${items}\r\n`, run, chunk));
        }
        const head = commands[0];
        if (!head) break;
        if (head.state === 'failed') throw this.fail(head.error, folder);
        if (head.state === 'ok' && head.response?.status !== 'OK') throw this.fail(taggedFailure(head.response as TaggedResponse), folder);
        // Nothing is handed out before the EXAMINE is confirmed (right folder, same UIDVALIDITY).
        if (examine === null) {
          // Handed out in UID order, whatever order the server answered in: Dovecot runs pipelined
          // FETCH commands in parallel and interleaves their responses.
          const message = this.nextInOrder(head, run);
          if (message) {
            yield message;
            continue;
          }
          if (head.state === 'ok' && head.next >= head.uids.length) {
            commands.shift();
            continue;
          }
        }
        await run.waitForNews();
      }
      finished = true;
    } finally {
      this.endTurn(finished, examine ? [examine, ...commands] : commands, release);
    }
  }

  /**
   * EXAMINE `folder`, then UID FETCH (UID FLAGS INTERNALDATE RFC822.SIZE [MODSEQ]) [(CHANGEDSINCE n)]
   * for `uids`, or for every message ('all', as `1:*`). The planner reads this for every message of
   * every folder; imapflow's fetch built a tokenised tree and a result object per message and kept
   * its parser hot enough to be JIT-compiled several times, about a fifth of a run's CPU on loopback.
   * CHANGEDSINCE is only sent when the server has CONDSTORE (RFC 7162 §3.1.4); without it every
   * message is returned, a superset the caller's comparison handles.
   */
  fetchMeta(
    folder: string,
    uids: readonly number[] | 'all',
    options: { expectedUidValidity?: bigint | null; modseq?: boolean; changedSince?: bigint } = {},
  ): AsyncGenerator<MessageMeta> {
    const condstore = this.wire.capabilities.has('CONDSTORE');
    return this.fetchRows(folder, uids, {
      items: (options.modseq ?? condstore) ? META_ITEMS_MODSEQ : META_ITEMS,
      modifier: options.changedSince !== undefined && condstore ? ` (CHANGEDSINCE ${options.changedSince})` : '',
      perCommand: META_PER_COMMAND,
      expectedUidValidity: options.expectedUidValidity ?? null,
    }, toMeta);
  }

  /** EXAMINE `folder`, then UID FETCH (UID RFC822.SIZE BODY.PEEK[HEADER]) for `uids`: content keys, subjects. */
  fetchHeaders(folder: string, uids: readonly number[], options: { expectedUidValidity?: bigint | null } = {}): AsyncGenerator<MessageHeader> {
    return this.fetchRows(folder, uids, { items: HEADER_ITEMS, modifier: '', perCommand: HEADERS_PER_COMMAND, expectedUidValidity: options.expectedUidValidity ?? null }, toHeader);
  }

  /**
   * Small per-message items (no bodies) for `uids` or every message. Each command's rows are
   * yielded, ascending by UID, once its tagged OK has arrived (rows may be split over several
   * responses, RFC 3501 §7.4.2). With a UID list, responses for other UIDs (another session's flag
   * changes) are ignored; with 'all' every row the server sends is kept.
   *
   * Always a fresh EXAMINE (pipelined, no extra round trip): a session's view of a folder only moves
   * at its sync points, and these rows must show what other sessions did since this connection last
   * looked: flags changed elsewhere (CHANGEDSINCE), messages our own APPEND connection stored.
   */
  private async *fetchRows<T>(
    folder: string,
    uids: readonly number[] | 'all',
    request: { items: string; modifier: string; perCommand: number; expectedUidValidity: bigint | null },
    convert: (items: FetchItems, uid: number) => T,
  ): AsyncGenerator<T> {
    if (uids !== 'all' && uids.length === 0) return;
    const plan: Array<readonly number[] | null> = uids === 'all'
      ? [null]
      : planFetchCommands(uids, () => 0, { messagesPerCommand: request.perCommand, bytesPerCommand: Number.POSITIVE_INFINITY });
    const release = await this.turn();
    const run = new RowRun(uids === 'all' ? null : new Set(uids), convert);
    const commands: Command[] = [];
    let examine: Command | null = null;
    let finished = false;
    try {
      examine = this.beginConversation(folder, run, { freshExamine: true });
      let next = 0;
      for (;;) {
        if (run.failure) throw this.fail(run.failure, folder);
        if (examine && examine.state !== 'pending') {
          this.checkExamine(examine, folder, request.expectedUidValidity);
          examine = null;
        }
        while (next < plan.length && commands.length < this.options.commandsInFlight) {
          const chunk = plan[next++] ?? null;
          const set = chunk === null ? '1:*' : compactUidSet(chunk);
          commands.push(this.send((tag) => `${tag} UID FETCH ${set} ${request.items}${request.modifier}\r\n`, run, chunk ?? []));
        }
        const head = commands[0];
        if (!head) break;
        if (head.state === 'failed') throw this.fail(head.error, folder);
        if (head.state === 'ok' && examine === null) {
          if (head.response?.status !== 'OK') throw this.fail(taggedFailure(head.response as TaggedResponse), folder);
          commands.shift();
          // One command at a time for 'all': rows of no other command can be mixed in.
          for (const row of run.take(uids === 'all' ? null : head.uids)) yield row;
          continue;
        }
        await run.waitForNews();
      }
      finished = true;
    } finally {
      this.endTurn(finished, examine ? [examine, ...commands] : commands, release);
    }
  }

  /**
   * Starts a fetch's turn on the connection: its responses go to `run`, and `folder` is EXAMINEd
   * (pipelined with what follows) unless it is already open and a fresh view is not needed.
   * Returns the EXAMINE command, if one was sent.
   */
  private beginConversation(folder: string, run: ResponseSink, options: { freshExamine: boolean }): Command | null {
    if (!this.wire.alive) throw this.fail(this.wire.failure ?? Object.assign(new Error('Connection closed'), { code: 'EConnectionClosed' }), folder);
    this.run = run;
    if (!options.freshExamine && this.examined?.path === folder) return null;
    this.examined = null;
    this.wire.uidValidity = null;
    return this.send(this.examineLine(folder), run);
  }

  /** Ends a fetch's turn on the connection; one abandoned mid-way first drains its commands. */
  private endTurn(finished: boolean, commands: readonly Command[], release: () => void): void {
    this.run = null;
    const inFlight = commands.filter((c) => c.state === 'pending');
    if (!finished && inFlight.length > 0 && this.wire.alive) {
      // Let the commands in flight finish (their data is dropped) before the connection is used again.
      void drain(inFlight).then(release);
    } else {
      release();
    }
  }

  async close(): Promise<void> {
    this.wire.untaggedHook = null;
    await this.wire.logout();
  }

  destroy(): void {
    this.wire.destroy();
  }
}

async function drain(commands: readonly Command[]): Promise<void> {
  await Promise.all(commands.map((c) => c.settled));
}
