/** Mailbox pairs known to the store, and the lock that keeps two processes out of one pair. */
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import { MailshiftError } from '../domain/errors.js';
import type { Database } from './schema.js';
import { writeTransaction } from './write-transaction.js';

export interface MailboxPair {
  pairKey: string;
  sourceLabel: string;
  targetLabel: string;
}

export async function ensureMailbox(db: Kysely<Database>, pair: MailboxPair, now: number): Promise<number> {
  await db.insertInto('mailboxes')
    .values({ pair_key: pair.pairKey, source_label: pair.sourceLabel, target_label: pair.targetLabel, created_at: now })
    .onConflict((oc) => oc.column('pair_key').doNothing()).execute();
  const row = await db.selectFrom('mailboxes').select('id').where('pair_key', '=', pair.pairKey).executeTakeFirstOrThrow();
  return Number(row.id);
}

/** True when a process with this pid exists on this host (EPERM: it exists but is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the pair's lock. A lock held by a live process on this host refuses; a lock left by a
 * process that died (kill -9, crash) is taken over, which is what makes resume-after-crash work.
 */
export async function acquireMailboxLock(db: Kysely<Database>, mailboxId: number, label: string, statePath: string, now: number): Promise<() => Promise<void>> {
  const host = hostname();
  const owner = `${host}:${process.pid}:${now}`;
  await writeTransaction(db, async (trx) => {
    const held = await trx.selectFrom('mailbox_locks').selectAll().where('mailbox_id', '=', mailboxId).executeTakeFirst();
    if (held && held.pid !== process.pid && (held.host !== host || processAlive(Number(held.pid)))) {
      throw new MailshiftError('STATE_LOCKED', { mailbox: label, path: statePath });
    }
    await trx.deleteFrom('mailbox_locks').where('mailbox_id', '=', mailboxId).execute();
    await trx.insertInto('mailbox_locks').values({ mailbox_id: mailboxId, owner, pid: process.pid, host, acquired_at: now }).execute();
  });
  return async () => {
    await db.deleteFrom('mailbox_locks').where('mailbox_id', '=', mailboxId).where('owner', '=', owner).execute();
  };
}
