/**
 * The better-sqlite3 handle behind a Kysely instance opened by openSqliteStore, for the few hot
 * writes where Kysely's per-call query compilation costs more than the statement itself.
 * Instances derived from a store (transactions, connection-bound or plugin-wrapped copies) are not
 * registered, so code handed one of those keeps to Kysely and cannot bypass the transaction it is in.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

const rawHandles = new WeakMap<Kysely<Database>, BetterSqlite3.Database>();

export function rememberRawSqlite(db: Kysely<Database>, raw: BetterSqlite3.Database): void {
  rawHandles.set(db, raw);
}

/** Null for stores without one (another dialect, or a Kysely instance not made by openSqliteStore). */
export function rawSqliteOf(db: Kysely<Database>): BetterSqlite3.Database | null {
  return rawHandles.get(db) ?? null;
}
