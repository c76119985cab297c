/**
 * MailStore over imapflow (control commands: LIST, CREATE, SELECT/EXAMINE, SEARCH, STORE), with
 * APPEND delegated to the pipelined writer on a second, lazily opened connection, and every FETCH
 * (bodies, metadata, headers; by default) to the raw fetch reader on another lazily opened
 * connection (fetch-reader.ts).
 *
 * In 'imapflow' fetch mode: imapflow's fetch() is an async generator that must be consumed to the
 * end or the connection is left mid-response; and while it is open no other command can run, so a
 * caller that interleaves (updateFlags while iterating) would deadlock. Every fetch therefore
 * collects one bounded chunk with fetchAll() and only then yields it: callers may stop or
 * interleave at any point.
 */
import { ImapFlow, type FetchMessageObject, type FetchQueryObject, type Logger as ImapFlowLogger } from 'imapflow';
import type {
  AppendItem, AppendOutcome, ConnectionSettings, FetchedMessage, FolderInfo, FolderStatus, MessageHeader, MessageMeta, SpecialUse,
} from '../domain/mail-types.js';
import { SPECIAL_USES } from '../domain/mail-types.js';
import { MailshiftError, isConnectionLimit } from '../domain/errors.js';
import type { MailStore } from '../engine/ports.js';
import { classifyError, type ErrorContext, type Side } from './classify-error.js';
import { connectTimeoutOf, imapFlowOptionsFor, retryWithSystemStore, trustsSystemStore } from './connect-options.js';
import { AppendWriter, appendRefusal, type AppendWriterOptions } from './append-writer.js';
import { chunkUidSets } from './imap-syntax.js';
import { FetchReader, type FetchReaderOptions } from './fetch-reader.js';

export interface MailStoreOptions {
  /**
   * How fetchMessages(), fetchMeta() and fetchHeaders() read:
   *  - 'raw' (default): a second, lazily opened connection of our own (fetch-reader.ts) that
   *    pipelines UID FETCH commands and takes literals straight from the socket buffers;
   *  - 'imapflow': imapflow's fetchAll on the control connection, one chunk per round trip.
   * Both return identical bytes, flags, dates, sizes and modseqs (test/imap-raw-fetch.test.ts compares them).
   */
  fetchMode?: 'raw' | 'imapflow';
  /** Options of the raw fetch connection. */
  fetch?: FetchReaderOptions;
  /** 'imapflow' mode: messages per UID FETCH BODY.PEEK[] round trip; bounds memory (imapflow buffers each whole). */
  messagesPerFetch?: number;
  /** 'imapflow' mode: messages per header and per metadata FETCH. */
  headersPerFetch?: number;
  metaPerFetch?: number;
  /** Options for the append connection (benchmarks force a mode here). */
  append?: AppendWriterOptions;
  /**
   * 'connection' (default): APPENDs go to the pipelined writer on a connection of their own.
   * 'control': one APPEND per message on the control connection, for a server that allows the
   * account no second connection (slower: a round trip per message).
   */
  appendOver?: 'connection' | 'control';
}

const LOGOUT_TIMEOUT_MS = 5000;

/**
 * RFC822.SIZEs at or above this, learnt from fetchMeta, are remembered for the open folder so the
 * raw fetch can give a large message a command of its own; smaller ones are estimated (keeps the
 * map small in folders with millions of messages).
 */
const REMEMBER_SIZE_FROM = 256 * 1024;

/** UID sets stay below ~7 KB so the whole command line is under 8 KB (RFC 7162 §4 advice). */
const MAX_SET_CHARS = 7000;

/**
 * A logger that keeps nothing but the last command error. imapflow reports a refused STORE or
 * SEARCH by logging it and returning false; this is how we learn the server's words. Logging is
 * otherwise off: imapflow's own log lines can carry message data, and we never want credentials
 * anywhere near a log.
 */
class LastErrorLogger implements ImapFlowLogger {
  last: unknown = null;
  debug(): void {}
  info(): void {}
  error(): void {}
  warn(obj: unknown): void {
    if (typeof obj === 'object' && obj !== null && 'err' in obj) this.last = (obj as { err: unknown }).err;
  }
}

function toEpochMs(value: Date | string | undefined): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') return new Date(value).getTime();
  return Number.NaN;
}

/**
 * \Recent is session state, not message state (RFC 3501 §2.3.2; dropped by IMAP4rev2): it can never
 * be set on the target and would make every source/target flag comparison differ.
 */
function flagList(flags: Set<string> | undefined): string[] {
  return flags ? [...flags].filter((f) => f.toLowerCase() !== '\\recent') : [];
}

function asSpecialUse(value: string | undefined): SpecialUse | null {
  return value !== undefined && (SPECIAL_USES as readonly string[]).includes(value) ? (value as SpecialUse) : null;
}

/** Extra connections openMailStore started alongside the control connection. */
interface OpenedAhead {
  reader: Promise<FetchReader> | null;
  writer: Promise<AppendWriter> | null;
}

/** The folder open on the control connection, as the raw fetch connection must EXAMINE it. */
interface OpenFolder {
  path: string;
  uidValidity: bigint;
  /** Ask for MODSEQ: the folder reports a HIGHESTMODSEQ (not NOMODSEQ). */
  modseq: boolean;
}

class ImapFlowMailStore implements MailStore {
  readonly capabilities: ReadonlySet<string>;
  readonly delimiter: string | null;
  readonly namespacePrefix: string;
  private writer: Promise<AppendWriter> | null = null;
  private reader: Promise<FetchReader> | null = null;
  /** The folder open on the control connection (the raw fetch connection EXAMINEs the same one). */
  private current: OpenFolder | null = null;
  private readonly largeSizes = new Map<number, number>();
  private closed = false;
  /** The server refused this account a connection beyond the control one: reads go through that. */
  readRefusal: { host: string; detail: string } | null = null;

  constructor(
    private readonly client: ImapFlow,
    private readonly logger: LastErrorLogger,
    private readonly settings: ConnectionSettings,
    private readonly ctx: ErrorContext,
    private readonly options: MailStoreOptions,
    ahead: OpenedAhead,
  ) {
    this.capabilities = new Set([...client.capabilities.keys()].map((c) => c.toUpperCase()));
    const ns = client.namespace;
    this.delimiter = ns?.delimiter ?? null;
    this.namespacePrefix = ns?.prefix ?? '';
    if (ahead.reader) this.reader = this.keep('reader', ahead.reader);
    if (ahead.writer) this.writer = this.keep('writer', ahead.writer);
  }

  // A failed open is not kept: the store stays usable for control commands, and the next call that
  // needs the connection opens it again.
  private keep<T>(field: 'reader' | 'writer', opening: Promise<T>): Promise<T> {
    opening.catch(() => {
      if ((this[field] as Promise<unknown> | null) === opening) this[field] = null;
    });
    return opening;
  }

  private fail(err: unknown, folder?: string): MailshiftError {
    return classifyError(err, folder === undefined ? this.ctx : { ...this.ctx, folder });
  }

  /** Runs an imapflow call that reports refusals by returning false (and logging the error). */
  private async refusable<T>(run: () => Promise<T | false | undefined>, what: string, folder?: string): Promise<T> {
    this.logger.last = null;
    let result: T | false | undefined;
    try {
      result = await run();
    } catch (err) {
      throw this.fail(err, folder);
    }
    if (result === false || result === undefined) {
      if (!this.client.usable) throw this.fail(Object.assign(new Error('Connection not available'), { code: 'NoConnection' }), folder);
      throw this.fail(this.logger.last ?? new Error(`${what} was refused`), folder);
    }
    return result;
  }

  async listFolders(options: { messageCounts?: boolean } = {}): Promise<FolderInfo[]> {
    let entries;
    try {
      entries = await this.client.list(options.messageCounts ? { statusQuery: { messages: true } } : {});
    } catch (err) {
      throw this.fail(err);
    }
    return entries.map((entry) => {
      const flags = [...entry.flags];
      const lower = flags.map((f) => f.toLowerCase());
      return {
        path: entry.path,
        delimiter: entry.delimiter || null,
        flags,
        // Only what the server said (RFC 6154 attributes); guesses from localized names are the
        // engine's folder-mapping policy, not a fact about the source.
        specialUse: entry.specialUseSource === 'extension' ? asSpecialUse(entry.specialUse) : null,
        selectable: !lower.includes('\\noselect') && !lower.includes('\\nonexistent'),
        ...(typeof entry.status?.messages === 'number' ? { messages: entry.status.messages } : {}),
      };
    });
  }

  async createFolder(path: string): Promise<void> {
    try {
      await this.client.mailboxCreate(path);
    } catch (err) {
      // ALREADYEXISTS (RFC 5530) is handled by imapflow; servers without response codes say it in
      // words, so confirm with LIST before failing.
      const existing = await this.client.list().catch(() => null);
      if (existing?.some((f) => f.path === path && !f.flags.has('\\NonExistent'))) return;
      const classified = this.fail(err, path);
      if (classified.code === 'IMAP_PROTOCOL') {
        throw new MailshiftError('TARGET_FOLDER_CREATE_FAILED', { ...classified.params, folder: path, detail: String(classified.params.detail ?? '') }, { cause: err });
      }
      throw classified;
    }
  }

  async folderMessageCount(path: string): Promise<number> {
    try {
      const status = await this.client.status(path, { messages: true });
      // imapflow answers false when the server refused the STATUS.
      if (status === false) throw new MailshiftError('SOURCE_FOLDER_VANISHED', { host: this.ctx.host, port: this.ctx.port, user: this.ctx.user, side: this.ctx.side, folder: path, detail: 'STATUS was refused' });
      return status.messages ?? 0;
    } catch (err) {
      throw this.fail(err, path);
    }
  }

  async openFolder(path: string, options: { readOnly: boolean }): Promise<FolderStatus> {
    this.current = null;
    this.largeSizes.clear();
    let box;
    try {
      box = await this.client.mailboxOpen(path, { readOnly: options.readOnly });
    } catch (err) {
      const rec = err as { mailboxMissing?: boolean; serverResponseCode?: string };
      if (rec.mailboxMissing || rec.serverResponseCode === 'NONEXISTENT') {
        const detail = this.fail(err, path).params.detail ?? 'no such folder';
        const params = { host: this.ctx.host, port: this.ctx.port, user: this.ctx.user, side: this.ctx.side, folder: path, detail: String(detail) };
        throw new MailshiftError('SOURCE_FOLDER_VANISHED', params, { cause: err });
      }
      throw this.fail(err, path);
    }
    // imapflow asks for MODSEQ whenever the open folder reports a HIGHESTMODSEQ; so does the raw fetch.
    this.current = { path: box.path, uidValidity: BigInt(box.uidValidity), modseq: !box.noModseq && box.highestModseq !== undefined };
    return {
      path: box.path,
      uidValidity: BigInt(box.uidValidity),
      uidNext: box.uidNext,
      messages: box.exists,
      highestModseq: box.noModseq || box.highestModseq === undefined ? null : BigInt(box.highestModseq),
      permanentFlags: box.permanentFlags ? [...box.permanentFlags] : [],
    };
  }

  async listUids(): Promise<number[]> {
    const uids = await this.refusable(() => this.client.search({ all: true }, { uid: true }), 'UID SEARCH ALL');
    return [...uids].sort((a, b) => a - b);
  }

  private async fetchChunk(range: string, query: FetchQueryObject, changedSince?: bigint): Promise<FetchMessageObject[]> {
    try {
      return await this.client.fetchAll(range, query, changedSince === undefined ? { uid: true } : { uid: true, changedSince });
    } catch (err) {
      throw this.fail(err);
    }
  }

  private *ranges(uids: readonly number[] | 'all', perChunk: number): Generator<string> {
    if (uids === 'all') {
      yield '1:*';
      return;
    }
    yield* chunkUidSets(uids, MAX_SET_CHARS, perChunk);
  }

  fetchMeta(uids: readonly number[] | 'all', options: { changedSince?: bigint } = {}): AsyncIterable<MessageMeta> {
    return this.rawFetch ? this.fetchMetaRaw(uids, options) : this.fetchMetaImapflow(uids, options);
  }

  private async *fetchMetaRaw(uids: readonly number[] | 'all', options: { changedSince?: bigint }): AsyncIterable<MessageMeta> {
    if (uids !== 'all' && uids.length === 0) return;
    const opened = await this.readerOrControl();
    if (!opened) {
      yield* this.fetchMetaImapflow(uids, options);
      return;
    }
    const { reader, folder } = opened;
    for await (const meta of reader.fetchMeta(folder.path, uids, { expectedUidValidity: folder.uidValidity, modseq: folder.modseq, changedSince: options.changedSince })) {
      if (meta.size >= REMEMBER_SIZE_FROM) this.largeSizes.set(meta.uid, meta.size);
      yield meta;
    }
  }

  private async *fetchMetaImapflow(uids: readonly number[] | 'all', options: { changedSince?: bigint }): AsyncIterable<MessageMeta> {
    // CHANGEDSINCE needs CONDSTORE (RFC 7162); without it imapflow omits the modifier and we return
    // everything, a superset the caller's comparison handles.
    for (const range of this.ranges(uids, this.options.metaPerFetch ?? 5000)) {
      const rows = await this.fetchChunk(range, { uid: true, flags: true, internalDate: true, size: true }, options.changedSince);
      for (const row of rows) {
        const size = row.size ?? 0;
        if (size >= REMEMBER_SIZE_FROM) this.largeSizes.set(row.uid, size);
        yield {
          uid: row.uid,
          flags: flagList(row.flags),
          internalDate: toEpochMs(row.internalDate),
          size,
          modseq: row.modseq ?? null,
        };
      }
    }
  }

  fetchHeaders(uids: readonly number[]): AsyncIterable<MessageHeader> {
    return this.rawFetch ? this.fetchHeadersRaw(uids) : this.fetchHeadersImapflow(uids);
  }

  private async *fetchHeadersRaw(uids: readonly number[]): AsyncIterable<MessageHeader> {
    if (uids.length === 0) return;
    const opened = await this.readerOrControl();
    if (!opened) {
      yield* this.fetchHeadersImapflow(uids);
      return;
    }
    const { reader, folder } = opened;
    yield* reader.fetchHeaders(folder.path, uids, { expectedUidValidity: folder.uidValidity });
  }

  private async *fetchHeadersImapflow(uids: readonly number[]): AsyncIterable<MessageHeader> {
    for (const range of this.ranges(uids, this.options.headersPerFetch ?? 500)) {
      const rows = await this.fetchChunk(range, { uid: true, size: true, headers: true });
      for (const row of rows) {
        yield { uid: row.uid, size: row.size ?? 0, header: row.headers ?? Buffer.alloc(0) };
      }
    }
  }

  fetchMessages(uids: readonly number[]): AsyncIterable<FetchedMessage> {
    return this.rawFetch ? this.fetchMessagesRaw(uids) : this.fetchMessagesImapflow(uids);
  }

  private async *fetchMessagesRaw(uids: readonly number[]): AsyncIterable<FetchedMessage> {
    if (uids.length === 0) return;
    const opened = await this.readerOrControl();
    if (!opened) {
      yield* this.fetchMessagesImapflow(uids);
      return;
    }
    const { reader, folder } = opened;
    yield* reader.fetch(folder.path, uids, {
      expectedUidValidity: folder.uidValidity,
      modseq: folder.modseq,
      sizeOf: (uid) => this.largeSizes.get(uid),
    });
  }

  private async *fetchMessagesImapflow(uids: readonly number[]): AsyncIterable<FetchedMessage> {
    // BODY.PEEK[] and BODY.PEEK[HEADER] (RFC 3501 §6.4.5): PEEK never sets \Seen, unlike BODY[].
    for (const range of this.ranges(uids, this.options.messagesPerFetch ?? 25)) {
      const rows = await this.fetchChunk(range, { uid: true, flags: true, internalDate: true, size: true, headers: true, source: true });
      for (const row of rows) {
        yield {
          uid: row.uid,
          flags: flagList(row.flags),
          internalDate: toEpochMs(row.internalDate),
          size: row.size ?? row.source?.length ?? 0,
          modseq: row.modseq ?? null,
          header: row.headers ?? Buffer.alloc(0),
          raw: row.source ?? Buffer.alloc(0),
        };
      }
    }
  }

  async updateFlags(uid: number, add: readonly string[], remove: readonly string[]): Promise<void> {
    const range = String(uid);
    // .SILENT: the server need not echo the new flags back (RFC 3501 §6.4.6).
    if (add.length > 0) {
      await this.refusable(() => this.client.messageFlagsAdd(range, [...add], { uid: true, silent: true }), 'UID STORE +FLAGS');
    }
    if (remove.length > 0) {
      await this.refusable(() => this.client.messageFlagsRemove(range, [...remove], { uid: true, silent: true }), 'UID STORE -FLAGS');
    }
  }

  prepare(use: 'fetch' | 'append'): void {
    if (this.closed || (use === 'append' && this.options.appendOver === 'control')) return;
    // Not cached when it fails (see appendWriter and fetchReader): the first real call retries.
    if (use === 'append') this.appendWriter().catch(() => undefined);
    else if (this.rawFetch) this.fetchReader().catch(() => undefined);
  }

  /** The append connection, opened on first use and kept for the store's lifetime. */
  appendWriter(): Promise<AppendWriter> {
    if (this.closed) return Promise.reject(this.fail(Object.assign(new Error('store closed'), { code: 'NoConnection' })));
    this.writer ??= this.keep('writer', AppendWriter.open(this.settings, { side: this.ctx.side }, this.options.append ?? {}));
    return this.writer;
  }

  private get rawFetch(): boolean {
    return (this.options.fetchMode ?? 'raw') === 'raw' && this.readRefusal === null;
  }

  /**
   * The raw fetch connection, or null when the server refuses the account another connection (a
   * per-user limit, typically while other folder workers hold theirs, or after copying, when the
   * target's APPEND connection is still open for verification to read). The control connection
   * then reads, for this store's lifetime: slower for bodies, the same bytes.
   */
  private async readerOrControl(): Promise<{ reader: FetchReader; folder: OpenFolder } | null> {
    try {
      return await this.readerOnOpenFolder();
    } catch (err) {
      if (!isConnectionLimit(err)) throw err;
      this.readRefusal ??= { host: String(err.params.host ?? this.ctx.host), detail: String(err.params.detail ?? err.message) };
      return null;
    }
  }

  /**
   * The raw fetch connection (re-opened when it was dropped while idle) and the folder the control
   * connection has open, which that connection reads.
   */
  private async readerOnOpenFolder(): Promise<{ reader: FetchReader; folder: OpenFolder }> {
    const folder = this.current;
    if (!folder) throw this.fail(new Error('No folder is open for FETCH'));
    let reader = await this.fetchReader();
    if (!reader.alive) {
      // Dropped while idle (server autologout, idle timeout): nothing was in flight, so a fresh
      // connection is safe. A connection lost mid-fetch fails that fetch (CONN_LOST) instead.
      this.reader = null;
      reader = await this.fetchReader();
    }
    return { reader, folder };
  }

  /** The raw fetch connection, opened on first use and kept for the store's lifetime. */
  private fetchReader(): Promise<FetchReader> {
    if (this.closed) return Promise.reject(this.fail(Object.assign(new Error('store closed'), { code: 'NoConnection' })));
    this.reader ??= this.keep('reader', FetchReader.open(this.settings, { side: this.ctx.side }, this.options.fetch ?? {}));
    return this.reader;
  }

  async append(folder: string, items: readonly AppendItem[]): Promise<AppendOutcome[]> {
    if (items.length === 0) return [];
    if (this.options.appendOver === 'control') return this.appendOnControl(folder, items);
    const writer = await this.appendWriter();
    return writer.appendOrThrow(folder, items);
  }

  /** One APPEND per message on the control connection; errors as the pipelined writer reports them. */
  private async appendOnControl(folder: string, items: readonly AppendItem[]): Promise<AppendOutcome[]> {
    const outcomes: AppendOutcome[] = [];
    for (const [index, item] of items.entries()) {
      let result;
      try {
        result = await this.client.append(folder, item.raw, [...item.flags], new Date(item.internalDate));
      } catch (err) {
        throw this.appendFailure(err, folder, index);
      }
      // imapflow answers undefined when the session is no longer authenticated.
      if (!result) throw this.fail(Object.assign(new Error('Connection not available'), { code: 'NoConnection' }), folder);
      outcomes.push({ uid: result.uid ?? null, uidValidity: result.uidValidity ?? null });
    }
    return outcomes;
  }

  private appendFailure(err: unknown, folder: string, index: number): MailshiftError {
    // imapflow refuses a message above the server's APPENDLIMIT before sending it: that message only.
    if ((err as { serverResponseCode?: string }).serverResponseCode === 'APPENDLIMIT') {
      const params = { host: this.ctx.host, port: this.ctx.port, user: this.ctx.user, side: this.ctx.side, folder, detail: (err as Error).message, responseCode: 'APPENDLIMIT', index };
      return new MailshiftError('TARGET_APPEND_REJECTED', params, { cause: err });
    }
    return appendRefusal(err, { ...this.ctx, folder }, index);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const writer = this.writer;
    const reader = this.reader;
    this.writer = null;
    this.reader = null;
    await Promise.all([
      writer?.then((w) => w.close()).catch(() => undefined),
      reader?.then((r) => r.close()).catch(() => undefined),
      this.logout(),
    ]);
  }

  /**
   * LOGOUT, bounded: a server that drops the socket around its BYE can leave imapflow's LOGOUT
   * unanswered, and close() must never hang a shutdown. The socket is closed either way.
   */
  private async logout(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, LOGOUT_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.client.logout().catch(() => undefined), timeout]);
    } finally {
      clearTimeout(timer);
      this.client.close();
    }
  }
}

/**
 * Opens, authenticates and returns a store; every failure is a MailshiftError from the catalog.
 * `prepare` names extra connections (as MailStore.prepare) to open alongside the control
 * connection instead of after it: over a WAN that is 3–4 round trips (TCP, TLS, LOGIN) sooner.
 */
export async function openMailStore(
  settings: ConnectionSettings, context: { side: Side }, options: MailStoreOptions = {}, prepare: ReadonlyArray<'fetch' | 'append'> = [],
): Promise<MailStore> {
  const ctx: ErrorContext = {
    host: settings.host, port: settings.port, user: settings.user, side: context.side,
    timeoutMs: connectTimeoutOf(settings), secrets: [settings.password],
  };
  const withSystemStore = trustsSystemStore(settings);
  const logger = new LastErrorLogger();
  const client = new ImapFlow({ ...imapFlowOptionsFor(settings), logger });
  // imapflow emits 'error' on connection failures; an EventEmitter without a listener would throw
  // it as an uncaught exception. The failing command's promise reports it to the caller.
  client.on('error', () => undefined);
  // Started before the control connection's first await: their TCP and TLS run alongside it, and
  // they log in once it has (one failed login for a wrong password, not one per connection).
  let loggedIn: (ok: boolean) => void = () => undefined;
  const loginAfter = new Promise<void>((resolve, reject) => {
    loggedIn = (ok) => (ok ? resolve() : reject(new Error('control connection failed')));
  });
  loginAfter.catch(() => undefined);
  const aheadContext = { side: context.side, loginAfter };
  const ahead: OpenedAhead = {
    reader: prepare.includes('fetch') && (options.fetchMode ?? 'raw') === 'raw' ? FetchReader.open(settings, aheadContext, options.fetch ?? {}) : null,
    writer: prepare.includes('append') ? AppendWriter.open(settings, aheadContext, options.append ?? {}) : null,
  };
  // A failure of theirs is reported by the store's first call that needs the connection.
  ahead.reader?.catch(() => undefined);
  ahead.writer?.catch(() => undefined);
  try {
    await client.connect();
    loggedIn(true);
  } catch (err) {
    loggedIn(false);
    client.close();
    ahead.reader?.then((r) => r.destroy(), () => undefined);
    ahead.writer?.then((w) => w.close(), () => undefined).catch(() => undefined);
    const classified = classifyError(err, ctx);
    if (retryWithSystemStore(settings, classified, withSystemStore)) return openMailStore(settings, context, options, prepare);
    throw classified;
  }
  return new ImapFlowMailStore(client, logger, settings, ctx, options, ahead);
}

export type { AppendWriter };
