/**
 * What the engine needs from the outside world. Nothing here knows about imapflow, SQL, HTTP,
 * process.* or Date.now(): adapters implement these, tests substitute in-memory versions.
 */
import type {
  AppendItem, AppendOutcome, FetchedMessage, FolderInfo, FolderStatus, MessageHeader, MessageMeta,
} from '../domain/mail-types.js';

/** One side of a migration: an IMAP account. A store is single-use: after a connection error it is discarded. */
export interface MailStore {
  /** Upper-cased capability names, e.g. 'CONDSTORE', 'UIDPLUS', 'LITERAL+', 'MULTIAPPEND', 'SPECIAL-USE'. */
  readonly capabilities: ReadonlySet<string>;
  /** Hierarchy delimiter of the personal namespace ('/' or '.'), null if flat. */
  readonly delimiter: string | null;
  /** The personal namespace prefix, e.g. 'INBOX.' on Courier-style servers, '' on most. */
  readonly namespacePrefix: string;
  /**
   * The server refused this store a connection beside its own (an account's connection limit), so
   * it read messages over that one: slower, the same bytes. What the server said, for the report.
   */
  readonly readRefusal?: { host: string; detail: string } | null;

  /**
   * LIST. With `messageCounts`, every selectable folder also carries its message count: one round
   * trip with LIST-STATUS (RFC 5819), one STATUS per folder without it.
   */
  listFolders(options?: { messageCounts?: boolean }): Promise<FolderInfo[]>;
  /** CREATE; succeeds when the folder already exists. */
  createFolder(path: string): Promise<void>;
  /** STATUS (MESSAGES UIDNEXT UIDVALIDITY): counts without selecting, e.g. for progress totals. */
  folderMessageCount(path: string): Promise<number>;
  /** SELECT (readOnly=false) or EXAMINE (readOnly=true) the folder; later message calls apply to it. */
  openFolder(path: string, options: { readOnly: boolean }): Promise<FolderStatus>;
  /** UID SEARCH ALL in the open folder, ascending. */
  listUids(): Promise<number[]>;
  /** UID FETCH (UID FLAGS INTERNALDATE RFC822.SIZE [MODSEQ]) [(CHANGEDSINCE n)] in the open folder. */
  fetchMeta(uids: readonly number[] | 'all', options?: { changedSince?: bigint }): AsyncIterable<MessageMeta>;
  /** UID FETCH (UID RFC822.SIZE BODY.PEEK[HEADER]) — enough to compute content keys. */
  fetchHeaders(uids: readonly number[]): AsyncIterable<MessageHeader>;
  /** UID FETCH (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER] BODY.PEEK[]) — never sets \Seen. */
  fetchMessages(uids: readonly number[]): AsyncIterable<FetchedMessage>;
  /** UID STORE +FLAGS/-FLAGS.SILENT in the open folder. */
  updateFlags(uid: number, add: readonly string[], remove: readonly string[]): Promise<void>;
  /**
   * APPEND the items to `folder`, pipelined; resolves with one outcome per item in order once the
   * server has accepted all of them. Rejects with a MailshiftError (e.g. TARGET_OVERQUOTA) if any fails;
   * items before the failing one may have been stored, which the caller's ledger must tolerate.
   * Once it has resolved, the items' bytes are the caller's again: the engine then releases large
   * message buffers (domain/message-bytes.ts), so a store must not keep them.
   */
  append(folder: string, items: readonly AppendItem[]): Promise<AppendOutcome[]>;
  /**
   * Starts opening, in the background, a connection that `fetch` or `append` calls will need, so
   * that the first such call does not wait for TCP, TLS and LOGIN (3–4 round trips). Optional: a
   * store without extra connections has nothing to prepare. A failure here is not reported; the
   * call that needs the connection opens it again and reports its own failure.
   */
  prepare?(use: 'fetch' | 'append'): void;
  close(): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}
