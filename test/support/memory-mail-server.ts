/**
 * An in-memory model of an IMAP account for engine-level tests (the isync style: abort after every
 * step, resume, compare). Real-server behaviour is covered by the Dovecot suites; this model only has
 * to be faithful to the MailStore contract. Every call is a "step" at which a fault can be injected.
 */
import type { AppendItem, AppendOutcome, FetchedMessage, FolderInfo, FolderStatus, MessageHeader, MessageMeta, SpecialUse } from '../../src/domain/mail-types.js';
import { MailshiftError } from '../../src/domain/errors.js';
import type { MailStore } from '../../src/engine/ports.js';

export interface StoredMessage {
  uid: number;
  raw: Buffer;
  flags: Set<string>;
  internalDate: number;
  modseq: bigint;
}

export interface MemoryFolder {
  path: string;
  specialUse: SpecialUse | null;
  uidValidity: bigint;
  uidNext: number;
  messages: Map<number, StoredMessage>;
}

export class StepFaults {
  private steps = 0;
  /** Steps at which a transient, retryable failure (a dropped connection) is thrown instead. */
  transientAt: Set<number> = new Set();
  constructor(private readonly crashAt: number | null, private readonly controller?: AbortController) {}
  get count(): number {
    return this.steps;
  }
  /** Called before each externally visible step; throws once the crash point is reached. */
  step(): void {
    this.steps++;
    if (this.crashAt !== null && this.steps >= this.crashAt) {
      this.controller?.abort();
      throw new Error(`simulated crash at step ${this.steps}`);
    }
    if (this.transientAt.delete(this.steps)) {
      throw new MailshiftError('CONN_LOST', { host: 'memory', detail: `simulated connection reset at step ${this.steps}` });
    }
  }
}

export function headerOf(raw: Buffer): Buffer {
  const end = raw.indexOf('\r\n\r\n');
  return end < 0 ? raw : raw.subarray(0, end + 4);
}

export class MemoryMailServer {
  readonly folders = new Map<string, MemoryFolder>();
  private modseq = 1n;
  private validity = 1000n;
  constructor(readonly capabilities: Set<string> = new Set(['IMAP4REV1', 'UIDPLUS', 'CONDSTORE', 'SPECIAL-USE', 'LITERAL+', 'MULTIAPPEND']), readonly permanentFlags: string[] = ['\\Seen', '\\Answered', '\\Flagged', '\\Draft', '\\Deleted', '\\*']) {
    this.addFolder('INBOX');
  }

  addFolder(path: string, specialUse: SpecialUse | null = null): MemoryFolder {
    const existing = this.folders.get(path);
    if (existing) return existing;
    const folder: MemoryFolder = { path, specialUse, uidValidity: this.validity++, uidNext: 1, messages: new Map() };
    this.folders.set(path, folder);
    return folder;
  }

  nextModseq(): bigint {
    return ++this.modseq;
  }

  add(path: string, raw: Buffer, flags: string[] = [], internalDate = Date.UTC(2024, 0, 1)): number {
    const folder = this.addFolder(path);
    const uid = folder.uidNext++;
    folder.messages.set(uid, { uid, raw, flags: new Set(flags), internalDate, modseq: this.nextModseq() });
    return uid;
  }

  /** Simulates a server that rebuilt its index: same messages, new UIDs, new UIDVALIDITY. */
  renumber(path: string): void {
    const folder = this.folders.get(path)!;
    const old = [...folder.messages.values()];
    folder.uidValidity = this.validity++;
    folder.messages.clear();
    folder.uidNext = 1;
    for (const m of old) {
      const uid = folder.uidNext++;
      folder.messages.set(uid, { ...m, uid });
    }
  }

  highestModseq(): bigint {
    return this.modseq;
  }

  store(faults: StepFaults = new StepFaults(null)): MailStore {
    return new MemoryMailStore(this, faults);
  }
}

class MemoryMailStore implements MailStore {
  private selected: MemoryFolder | null = null;
  constructor(private readonly server: MemoryMailServer, private readonly faults: StepFaults) {}

  get capabilities(): ReadonlySet<string> {
    return this.server.capabilities;
  }
  readonly delimiter = '/';
  readonly namespacePrefix = '';

  private open(): MemoryFolder {
    if (!this.selected) throw new Error('no folder selected');
    return this.selected;
  }

  private pick(uids: readonly number[] | 'all'): StoredMessage[] {
    const folder = this.open();
    const all = [...folder.messages.values()].sort((a, b) => a.uid - b.uid);
    if (uids === 'all') return all;
    const wanted = new Set(uids);
    return all.filter((m) => wanted.has(m.uid));
  }

  async listFolders(options: { messageCounts?: boolean } = {}): Promise<FolderInfo[]> {
    this.faults.step();
    return [...this.server.folders.values()].map((f) => ({
      path: f.path, delimiter: '/', flags: [], specialUse: f.specialUse, selectable: true,
      ...(options.messageCounts ? { messages: f.messages.size } : {}),
    }));
  }

  async createFolder(path: string): Promise<void> {
    this.faults.step();
    this.server.addFolder(path);
  }

  async folderMessageCount(path: string): Promise<number> {
    this.faults.step();
    return this.server.folders.get(path)?.messages.size ?? 0;
  }

  async openFolder(path: string): Promise<FolderStatus> {
    this.faults.step();
    const folder = this.server.folders.get(path);
    if (!folder) throw new MailshiftError('SOURCE_FOLDER_VANISHED', { folder: path, detail: `Mailbox doesn't exist: ${path}` });
    this.selected = folder;
    const highest = [...folder.messages.values()].reduce((max, m) => (m.modseq > max ? m.modseq : max), 1n);
    return {
      path, uidValidity: folder.uidValidity, uidNext: folder.uidNext, messages: folder.messages.size,
      highestModseq: this.server.capabilities.has('CONDSTORE') ? highest : null, permanentFlags: this.server.permanentFlags,
    };
  }

  async listUids(): Promise<number[]> {
    this.faults.step();
    return this.pick('all').map((m) => m.uid);
  }

  async *fetchMeta(uids: readonly number[] | 'all', options?: { changedSince?: bigint }): AsyncIterable<MessageMeta> {
    this.faults.step();
    for (const m of this.pick(uids)) {
      if (options?.changedSince !== undefined && m.modseq <= options.changedSince) continue;
      yield { uid: m.uid, flags: [...m.flags], internalDate: m.internalDate, size: m.raw.length, modseq: m.modseq };
    }
  }

  async *fetchHeaders(uids: readonly number[]): AsyncIterable<MessageHeader> {
    this.faults.step();
    for (const m of this.pick(uids)) yield { uid: m.uid, size: m.raw.length, header: headerOf(m.raw) };
  }

  async *fetchMessages(uids: readonly number[]): AsyncIterable<FetchedMessage> {
    this.faults.step();
    for (const m of this.pick(uids)) {
      yield { uid: m.uid, flags: [...m.flags], internalDate: m.internalDate, size: m.raw.length, modseq: m.modseq, header: headerOf(m.raw), raw: m.raw };
    }
  }

  async updateFlags(uid: number, add: readonly string[], remove: readonly string[]): Promise<void> {
    this.faults.step();
    const m = this.open().messages.get(uid);
    if (!m) return;
    for (const f of add) m.flags.add(f);
    for (const f of remove) for (const existing of [...m.flags]) if (existing.toLowerCase() === f.toLowerCase()) m.flags.delete(existing);
    m.modseq = this.server.nextModseq();
  }

  async append(path: string, items: readonly AppendItem[]): Promise<AppendOutcome[]> {
    const folder = this.server.folders.get(path);
    if (!folder) throw new MailshiftError('IMAP_PROTOCOL', { host: 'memory', detail: '[TRYCREATE] Mailbox does not exist', responseCode: 'TRYCREATE' });
    const out: AppendOutcome[] = [];
    for (const item of items) {
      // A crash can fall between any two messages of a pipelined batch.
      this.faults.step();
      const uid = folder.uidNext++;
      // Its own copy, as a real server has: the engine may release the caller's buffer afterwards.
      folder.messages.set(uid, { uid, raw: Buffer.from(item.raw), flags: new Set(item.flags), internalDate: item.internalDate, modseq: this.server.nextModseq() });
      out.push({ uid: this.server.capabilities.has('UIDPLUS') ? uid : null, uidValidity: folder.uidValidity });
    }
    this.faults.step();
    return out;
  }

  async close(): Promise<void> {
    this.selected = null;
  }
}
