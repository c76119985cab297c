/**
 * Dry run as wrappers, not as branches in the engine: the target accepts nothing, the state
 * remembers nothing, and the source's message bodies are never downloaded.
 */
import type { AppendItem, AppendOutcome, FetchedMessage, FolderInfo, FolderStatus, MessageHeader, MessageMeta } from '../domain/mail-types.js';
import type { MailStore } from './ports.js';
import type { CommitRecord, FolderSyncState, LedgerEntry, MigrationState } from './state-port.js';

export function dryRunSource(inner: MailStore): MailStore {
  return {
    get capabilities() { return inner.capabilities; },
    get delimiter() { return inner.delimiter; },
    get namespacePrefix() { return inner.namespacePrefix; },
    listFolders: (options) => inner.listFolders(options),
    createFolder: async () => undefined,
    folderMessageCount: (path) => inner.folderMessageCount(path),
    openFolder: (path, options) => inner.openFolder(path, { ...options, readOnly: true }),
    listUids: () => inner.listUids(),
    fetchMeta: (uids, options) => inner.fetchMeta(uids, options),
    fetchHeaders: (uids) => inner.fetchHeaders(uids),
    async *fetchMessages(uids: readonly number[]): AsyncIterable<FetchedMessage> {
      const metas = new Map<number, MessageMeta>();
      for await (const m of inner.fetchMeta(uids)) metas.set(m.uid, m);
      for await (const h of inner.fetchHeaders(uids)) {
        const meta = metas.get(h.uid);
        if (meta) yield { ...meta, header: h.header, raw: Buffer.alloc(0) };
      }
    },
    updateFlags: async () => undefined,
    append: async (_folder: string, items: readonly AppendItem[]) => items.map((): AppendOutcome => ({ uid: null, uidValidity: null })),
    // Only the fetch connection: a dry run reads metadata and headers there, and never appends.
    prepare: (use) => {
      if (use === 'fetch') inner.prepare?.(use);
    },
    close: () => inner.close(),
  };
}

export function dryRunTarget(inner: MailStore): MailStore {
  const virtual = new Set<string>();
  let current: string | null = null;
  const isVirtual = (): boolean => current !== null && virtual.has(current);
  return {
    get capabilities() { return inner.capabilities; },
    get delimiter() { return inner.delimiter; },
    get namespacePrefix() { return inner.namespacePrefix; },
    listFolders: async (options): Promise<FolderInfo[]> => inner.listFolders(options),
    async createFolder(path: string): Promise<void> {
      virtual.add(path);
    },
    folderMessageCount: async (path: string) => (virtual.has(path) ? 0 : inner.folderMessageCount(path)),
    async openFolder(path: string): Promise<FolderStatus> {
      current = path;
      if (virtual.has(path)) return { path, uidValidity: 0n, uidNext: 1, messages: 0, highestModseq: null, permanentFlags: ['\\*'] };
      return inner.openFolder(path, { readOnly: true });
    },
    listUids: async () => (isVirtual() ? [] : inner.listUids()),
    async *fetchMeta(uids, options): AsyncIterable<MessageMeta> {
      if (!isVirtual()) yield* inner.fetchMeta(uids, options);
    },
    async *fetchHeaders(uids): AsyncIterable<MessageHeader> {
      if (!isVirtual()) yield* inner.fetchHeaders(uids);
    },
    async *fetchMessages(uids): AsyncIterable<FetchedMessage> {
      if (!isVirtual()) yield* inner.fetchMessages(uids);
    },
    updateFlags: async () => undefined,
    append: async (_folder: string, items: readonly AppendItem[]) => items.map((): AppendOutcome => ({ uid: null, uidValidity: null })),
    close: () => inner.close(),
  };
}

export function dryRunState(inner: MigrationState): MigrationState {
  return {
    getFolder: (path: string): Promise<FolderSyncState | null> => inner.getFolder(path),
    putFolder: async () => undefined,
    entries: (path: string): Promise<LedgerEntry[]> => inner.entries(path),
    entryCounts: () => inner.entryCounts(),
    claimedTargetUids: (path: string) => inner.claimedTargetUids(path),
    upsert: async (_e: readonly LedgerEntry[]) => undefined,
    commit: async (_p: string, _c: readonly CommitRecord[]) => undefined,
    discard: async () => undefined,
    updateFlags: async () => undefined,
    resetFolder: async () => undefined,
    forgetTargetUids: async () => undefined,
  };
}
