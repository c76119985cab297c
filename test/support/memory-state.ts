/** MigrationState in memory, with the same semantics as the SQL repository; every write is a fault step. */
import type { CommitRecord, FolderSyncState, LedgerEntry, MigrationState } from '../../src/engine/state-port.js';
import { StepFaults } from './memory-mail-server.js';

export class MemoryState implements MigrationState {
  readonly folders = new Map<string, FolderSyncState>();
  readonly ledger = new Map<string, LedgerEntry>();
  faults: StepFaults = new StepFaults(null);

  private key(path: string, uid: number): string {
    return `${path}\0${uid}`;
  }

  async getFolder(path: string): Promise<FolderSyncState | null> {
    const f = this.folders.get(path);
    return f ? { ...f } : null;
  }
  async putFolder(state: FolderSyncState): Promise<void> {
    this.faults.step();
    this.folders.set(state.sourcePath, { ...state });
  }
  async entries(path: string): Promise<LedgerEntry[]> {
    return [...this.ledger.values()].filter((e) => e.sourcePath === path).map((e) => ({ ...e, flags: [...e.flags] }));
  }
  async entryCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const e of this.ledger.values()) counts.set(e.sourcePath, (counts.get(e.sourcePath) ?? 0) + 1);
    return counts;
  }
  async claimedTargetUids(targetPath: string): Promise<Set<number>> {
    return new Set([...this.ledger.values()].filter((e) => e.targetPath === targetPath && e.status === 'copied' && e.targetUid !== null).map((e) => e.targetUid!));
  }
  async upsert(entries: readonly LedgerEntry[]): Promise<void> {
    this.faults.step();
    for (const e of entries) this.ledger.set(this.key(e.sourcePath, e.sourceUid), { ...e, flags: [...e.flags] });
  }
  async commit(path: string, commits: readonly CommitRecord[]): Promise<void> {
    this.faults.step();
    for (const c of commits) {
      const e = this.ledger.get(this.key(path, c.sourceUid));
      if (e) { e.status = 'copied'; e.targetUid = c.targetUid; }
    }
  }
  async discard(path: string, uids: readonly number[]): Promise<void> {
    this.faults.step();
    for (const uid of uids) this.ledger.delete(this.key(path, uid));
  }
  async updateFlags(path: string, updates: ReadonlyArray<{ sourceUid: number; flags: string[] }>): Promise<void> {
    this.faults.step();
    for (const u of updates) {
      const e = this.ledger.get(this.key(path, u.sourceUid));
      if (e) e.flags = [...u.flags];
    }
  }
  async resetFolder(path: string): Promise<void> {
    this.faults.step();
    for (const [k, e] of this.ledger) if (e.sourcePath === path) this.ledger.delete(k);
    this.folders.delete(path);
  }
  async forgetTargetUids(targetPath: string): Promise<void> {
    this.faults.step();
    for (const e of this.ledger.values()) if (e.targetPath === targetPath && e.status === 'copied') { e.status = 'pending'; e.targetUid = null; }
  }
}
