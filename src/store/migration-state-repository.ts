/** MigrationState (the engine's ledger port) over the Kysely store, with the hot ledger writes on prepared better-sqlite3 statements when the store is SQLite; one instance per mailbox pair. */
import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import type { CommitRecord, FolderSyncState, LedgerEntry, LedgerStatus, MigrationState, SkipReason } from '../engine/state-port.js';
import { rawSqliteOf } from './raw-sqlite.js';
import type { Database, MessageLedgerTable } from './schema.js';

const CHUNK = 400;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const toBig = (value: string | null): bigint | null => (value === null ? null : BigInt(value));

function rowToEntry(row: MessageLedgerTable): LedgerEntry {
  return {
    sourcePath: row.source_path,
    sourceUid: Number(row.source_uid),
    targetPath: row.target_path,
    targetUid: row.target_uid === null ? null : Number(row.target_uid),
    contentKey: row.content_key,
    size: Number(row.size),
    internalDate: Number(row.internal_date),
    flags: JSON.parse(row.flags) as string[],
    status: row.status as LedgerStatus,
    skipReason: row.skip_reason as SkipReason | null,
    subject: row.subject,
    detail: row.detail,
  };
}

type FlagUpdate = { sourceUid: number; flags: string[] };

/** The per-batch ledger writes as single-row statements, each run over a whole batch in one transaction. */
interface LedgerStatements {
  upsert: BetterSqlite3.Transaction<(mailboxId: number, entries: readonly LedgerEntry[], now: number) => void>;
  commit: BetterSqlite3.Transaction<(mailboxId: number, sourcePath: string, commits: readonly CommitRecord[], now: number) => void>;
  discard: BetterSqlite3.Transaction<(mailboxId: number, sourcePath: string, sourceUids: readonly number[]) => void>;
  updateFlags: BetterSqlite3.Transaction<(mailboxId: number, sourcePath: string, updates: readonly FlagUpdate[], now: number) => void>;
}

// Per database rather than per repository: a batch opens a repository per mailbox pair on one store,
// and they can all share the prepared statements (the mailbox id is a parameter).
const statementsByDatabase = new WeakMap<BetterSqlite3.Database, LedgerStatements>();

function ledgerStatements(raw: BetterSqlite3.Database): LedgerStatements {
  const cached = statementsByDatabase.get(raw);
  if (cached) return cached;
  // The same conflict target and updated columns as the Kysely upsert below.
  const insert = raw.prepare<unknown[]>(`INSERT INTO message_ledger (mailbox_id, source_path, source_uid, target_path, target_uid,
      content_key, size, internal_date, flags, status, skip_reason, subject, detail, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (mailbox_id, source_path, source_uid) DO UPDATE SET target_path = excluded.target_path,
      target_uid = excluded.target_uid, content_key = excluded.content_key, size = excluded.size,
      internal_date = excluded.internal_date, flags = excluded.flags, status = excluded.status,
      skip_reason = excluded.skip_reason, subject = excluded.subject, detail = excluded.detail,
      updated_at = excluded.updated_at`);
  const commitOne = raw.prepare<unknown[]>(`UPDATE message_ledger SET status = 'copied', updated_at = ?, target_uid = ?
    WHERE mailbox_id = ? AND source_path = ? AND source_uid = ?`);
  const discardOne = raw.prepare<unknown[]>('DELETE FROM message_ledger WHERE mailbox_id = ? AND source_path = ? AND source_uid = ?');
  const flagsOne = raw.prepare<unknown[]>(`UPDATE message_ledger SET flags = ?, updated_at = ?
    WHERE mailbox_id = ? AND source_path = ? AND source_uid = ?`);
  const statements: LedgerStatements = {
    // `?? null`: better-sqlite3 refuses undefined, where Kysely would have written NULL.
    upsert: raw.transaction((mailboxId: number, entries: readonly LedgerEntry[], now: number) => {
      for (const e of entries) {
        insert.run(mailboxId, e.sourcePath, e.sourceUid, e.targetPath, e.targetUid ?? null, e.contentKey, e.size, e.internalDate,
          JSON.stringify(e.flags), e.status, e.skipReason ?? null, e.subject ?? null, e.detail ?? null, now);
      }
    }),
    commit: raw.transaction((mailboxId: number, sourcePath: string, commits: readonly CommitRecord[], now: number) => {
      for (const c of commits) commitOne.run(now, c.targetUid ?? null, mailboxId, sourcePath, c.sourceUid);
    }),
    discard: raw.transaction((mailboxId: number, sourcePath: string, sourceUids: readonly number[]) => {
      for (const uid of sourceUids) discardOne.run(mailboxId, sourcePath, uid);
    }),
    updateFlags: raw.transaction((mailboxId: number, sourcePath: string, updates: readonly FlagUpdate[], now: number) => {
      for (const u of updates) flagsOne.run(JSON.stringify(u.flags), now, mailboxId, sourcePath, u.sourceUid);
    }),
  };
  statementsByDatabase.set(raw, statements);
  return statements;
}

export class MigrationStateRepository implements MigrationState {
  /** Set for the SQLite store: the hot ledger writes bypass Kysely's query compilation. Null: Kysely for everything. */
  private readonly raw: BetterSqlite3.Database | null;

  constructor(
    private readonly db: Kysely<Database>,
    readonly mailboxId: number,
    private readonly now: () => number,
  ) {
    this.raw = rawSqliteOf(db);
  }

  /**
   * Runs synchronous work on the raw handle while holding Kysely's lock on its single SQLite
   * connection. Without it, the work could run while another caller's Kysely transaction is open
   * across an await on that same connection, and would commit or roll back with that transaction.
   */
  private async onRaw(raw: BetterSqlite3.Database, work: (statements: LedgerStatements) => void): Promise<void> {
    await this.db.connection().execute(async () => { work(ledgerStatements(raw)); });
  }

  async getFolder(sourcePath: string): Promise<FolderSyncState | null> {
    const row = await this.db.selectFrom('folder_states').selectAll()
      .where('mailbox_id', '=', this.mailboxId).where('source_path', '=', sourcePath).executeTakeFirst();
    if (!row) return null;
    return {
      sourcePath: row.source_path,
      targetPath: row.target_path,
      sourceUidValidity: BigInt(row.source_uid_validity),
      targetUidValidity: toBig(row.target_uid_validity),
      highestModseq: toBig(row.highest_modseq),
      lastSyncAt: row.last_sync_at === null ? null : Number(row.last_sync_at),
      scanSignature: row.scan_signature,
    };
  }

  async putFolder(state: FolderSyncState): Promise<void> {
    const values = {
      target_path: state.targetPath,
      source_uid_validity: state.sourceUidValidity.toString(),
      target_uid_validity: state.targetUidValidity?.toString() ?? null,
      highest_modseq: state.highestModseq?.toString() ?? null,
      last_sync_at: state.lastSyncAt,
      scan_signature: state.scanSignature,
    };
    await this.db.insertInto('folder_states')
      .values({ mailbox_id: this.mailboxId, source_path: state.sourcePath, ...values })
      .onConflict((oc) => oc.columns(['mailbox_id', 'source_path']).doUpdateSet(values))
      .execute();
  }

  async entries(sourcePath: string): Promise<LedgerEntry[]> {
    const rows = await this.db.selectFrom('message_ledger').selectAll()
      .where('mailbox_id', '=', this.mailboxId).where('source_path', '=', sourcePath).execute();
    return rows.map(rowToEntry);
  }

  async entryCounts(): Promise<Map<string, number>> {
    const rows = await this.db.selectFrom('message_ledger')
      .select(['source_path', (eb) => eb.fn.countAll<number>().as('entries')])
      .where('mailbox_id', '=', this.mailboxId).groupBy('source_path').execute();
    return new Map(rows.map((r) => [r.source_path, Number(r.entries)]));
  }

  async claimedTargetUids(targetPath: string): Promise<Set<number>> {
    const rows = await this.db.selectFrom('message_ledger').select('target_uid')
      .where('mailbox_id', '=', this.mailboxId).where('target_path', '=', targetPath)
      .where('status', '=', 'copied').where('target_uid', 'is not', null).execute();
    return new Set(rows.map((r) => Number(r.target_uid)));
  }

  async upsert(entries: readonly LedgerEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const now = this.now();
    if (this.raw) {
      await this.onRaw(this.raw, (s) => s.upsert(this.mailboxId, entries, now));
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(entries, CHUNK)) {
        await trx.insertInto('message_ledger').values(part.map((e) => ({
          mailbox_id: this.mailboxId, source_path: e.sourcePath, source_uid: e.sourceUid, target_path: e.targetPath,
          target_uid: e.targetUid, content_key: e.contentKey, size: e.size, internal_date: e.internalDate,
          flags: JSON.stringify(e.flags), status: e.status, skip_reason: e.skipReason, subject: e.subject,
          detail: e.detail, updated_at: now,
        }))).onConflict((oc) => oc.columns(['mailbox_id', 'source_path', 'source_uid']).doUpdateSet((eb) => ({
          target_path: eb.ref('excluded.target_path'), target_uid: eb.ref('excluded.target_uid'),
          content_key: eb.ref('excluded.content_key'), size: eb.ref('excluded.size'),
          internal_date: eb.ref('excluded.internal_date'), flags: eb.ref('excluded.flags'), status: eb.ref('excluded.status'),
          skip_reason: eb.ref('excluded.skip_reason'), subject: eb.ref('excluded.subject'), detail: eb.ref('excluded.detail'),
          updated_at: eb.ref('excluded.updated_at'),
        }))).execute();
      }
    });
  }

  async commit(sourcePath: string, commits: readonly CommitRecord[]): Promise<void> {
    if (commits.length === 0) return;
    const now = this.now();
    if (this.raw) {
      await this.onRaw(this.raw, (s) => s.commit(this.mailboxId, sourcePath, commits, now));
      return;
    }
    // One statement per chunk: preparing an UPDATE per message cost more than the copy itself.
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(commits, CHUNK)) {
        const cases = sql.join(part.map((c) => sql`WHEN ${c.sourceUid} THEN ${c.targetUid}`), sql` `);
        await trx.updateTable('message_ledger')
          .set({ status: 'copied', updated_at: now, target_uid: sql<number | null>`CASE source_uid ${cases} END` })
          .where('mailbox_id', '=', this.mailboxId).where('source_path', '=', sourcePath)
          .where('source_uid', 'in', part.map((c) => c.sourceUid))
          .execute();
      }
    });
  }

  async discard(sourcePath: string, sourceUids: readonly number[]): Promise<void> {
    if (this.raw) {
      await this.onRaw(this.raw, (s) => s.discard(this.mailboxId, sourcePath, sourceUids));
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(sourceUids, CHUNK)) {
        await trx.deleteFrom('message_ledger').where('mailbox_id', '=', this.mailboxId)
          .where('source_path', '=', sourcePath).where('source_uid', 'in', part).execute();
      }
    });
  }

  async updateFlags(sourcePath: string, updates: readonly FlagUpdate[]): Promise<void> {
    const now = this.now();
    if (this.raw) {
      await this.onRaw(this.raw, (s) => s.updateFlags(this.mailboxId, sourcePath, updates, now));
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      for (const u of updates) {
        await trx.updateTable('message_ledger').set({ flags: JSON.stringify(u.flags), updated_at: now })
          .where('mailbox_id', '=', this.mailboxId).where('source_path', '=', sourcePath).where('source_uid', '=', u.sourceUid)
          .execute();
      }
    });
  }

  async resetFolder(sourcePath: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('message_ledger').where('mailbox_id', '=', this.mailboxId).where('source_path', '=', sourcePath).execute();
      await trx.deleteFrom('folder_states').where('mailbox_id', '=', this.mailboxId).where('source_path', '=', sourcePath).execute();
    });
  }

  async forgetTargetUids(targetPath: string): Promise<void> {
    await this.db.updateTable('message_ledger').set({ status: 'pending', target_uid: null, updated_at: this.now() })
      .where('mailbox_id', '=', this.mailboxId).where('target_path', '=', targetPath).where('status', '=', 'copied').execute();
  }
}
