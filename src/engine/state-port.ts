/**
 * The engine's memory of one mailbox migration: per-folder sync state and the per-message ledger.
 * Every side effect on the target is preceded by an intent (status 'pending') and followed by a
 * commit ('copied'), so a crash at any point leaves enough to resume without loss or duplicates.
 */

export type LedgerStatus = 'pending' | 'copied' | 'skipped';

export type SkipReason = 'too-large' | 'item-limit' | 'target-rejected';

export interface LedgerEntry {
  sourcePath: string;
  sourceUid: number;
  targetPath: string;
  /** Null until committed, or when the target did not report APPENDUID, or after a target UIDVALIDITY change. */
  targetUid: number | null;
  contentKey: string;
  size: number;
  internalDate: number;
  /** Source flags as last mirrored to the target: the base for detecting later source changes. */
  flags: string[];
  status: LedgerStatus;
  skipReason: SkipReason | null;
  /** For reports of skipped items. */
  subject: string | null;
  detail: string | null;
}

export interface FolderSyncState {
  sourcePath: string;
  targetPath: string;
  sourceUidValidity: bigint;
  targetUidValidity: bigint | null;
  /** Source HIGHESTMODSEQ after the last complete pass: the CHANGEDSINCE base for the next one. */
  highestModseq: bigint | null;
  lastSyncAt: number | null;
  /** The candidate-deciding options of the last complete pass; a change forces a full rescan. */
  scanSignature: string | null;
}

export interface CommitRecord {
  sourceUid: number;
  targetUid: number | null;
}

/** State of one migration pair (source account → target account). Implementations must make each call atomic. */
export interface MigrationState {
  getFolder(sourcePath: string): Promise<FolderSyncState | null>;
  putFolder(state: FolderSyncState): Promise<void>;
  /** All ledger entries of a source folder. */
  entries(sourcePath: string): Promise<LedgerEntry[]>;
  /** How many ledger entries (any status) each source folder has: what a run already knows of. */
  entryCounts(): Promise<Map<string, number>>;
  /** Target UIDs already accounted for in `targetPath`, by any source folder. */
  claimedTargetUids(targetPath: string): Promise<Set<number>>;
  /** Writes intents (status 'pending') or skip records; replaces existing entries of the same source uid. */
  upsert(entries: readonly LedgerEntry[]): Promise<void>;
  commit(sourcePath: string, commits: readonly CommitRecord[]): Promise<void>;
  /** Forgets entries (a pending intent that never reached the target). */
  discard(sourcePath: string, sourceUids: readonly number[]): Promise<void>;
  updateFlags(sourcePath: string, updates: ReadonlyArray<{ sourceUid: number; flags: string[] }>): Promise<void>;
  /** Source UIDVALIDITY changed: every entry of the folder is keyed on dead UIDs. */
  resetFolder(sourcePath: string): Promise<void>;
  /** Target UIDVALIDITY changed: copied entries become in-doubt and are re-found on the target by content. */
  forgetTargetUids(targetPath: string): Promise<void>;
}
