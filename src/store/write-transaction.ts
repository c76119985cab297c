/**
 * A transaction that reads and then writes. On SQLite it takes the write lock first (BEGIN
 * IMMEDIATE), waiting for another process's writer like any single write does: a deferred
 * transaction that has already read cannot wait, and fails at once with "database is locked"
 * when another connection writes in between (SQLITE_BUSY_SNAPSHOT). `serve` and the CLI commands
 * an admin runs beside it are such connections.
 */
import { sql, type Kysely } from 'kysely';
import { rawSqliteOf } from './raw-sqlite.js';
import type { Database } from './schema.js';

export async function writeTransaction<T>(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  if (!rawSqliteOf(db)) return db.transaction().execute(work);
  return db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const result = await work(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (err) {
      await sql`rollback`.execute(conn);
      throw err;
    }
  });
}
