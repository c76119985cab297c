/**
 * Copies one folder, exactly once per message, resumable at any point.
 *
 * Order of events for every message (the isync journal idea):
 *   1. ledger: intent ('pending', with the content key)          ← crash here: nothing on the target
 *   2. target: APPEND                                             ← crash here: maybe on the target
 *   3. ledger: commit ('copied', with the APPENDUID)              ← crash here: on the target, in doubt
 * On the next pass, target UIDs that no ledger entry claims are indexed by content key; every
 * in-doubt intent claims its message from that pool if it is there, and is copied again only if not.
 * The same pool adopts messages that another tool (or a lost state file) already put on the target.
 */
import type { AppendOutcome, FetchedMessage, FolderStatus, MessageMeta } from '../domain/mail-types.js';
import { MailshiftError, isMailshiftError } from '../domain/errors.js';
import { releaseMessageBytes } from '../domain/message-bytes.js';
import type { FolderPlanEntry } from './folder-mapping.js';
import type { FolderReport, SkippedItem } from './migration-report.js';
import type { Clock, MailStore } from './ports.js';
import type { CommitRecord, LedgerEntry, MigrationState } from './state-port.js';
import type { ItemBudget, MigrationObserver, SyncOptions } from './sync-options.js';
import { contentKey, headerField } from './content-key.js';
import { COPIED_SYSTEM_FLAGS, filterFlagsForTarget, flagDelta, normalizeFlags, sameFlags } from './flags.js';
import { KeyPool } from './key-pool.js';
import type { ByteBudget } from './byte-budget.js';

export interface FolderSyncContext {
  source: MailStore;
  target: MailStore;
  state: MigrationState;
  folder: FolderPlanEntry;
  options: SyncOptions;
  budget: ItemBudget;
  bytes: ByteBudget;
  clock: Clock;
  observer: MigrationObserver;
  /** Shared across folders for the mailbox report. */
  skippedItems: SkippedItem[];
  droppedKeywords: Map<string, Set<string>>;
  signal?: AbortSignal;
  /** Filled as the folder goes; the caller keeps what an interrupted attempt did. */
  report?: FolderReport;
  /** This run's intents not yet committed ("path\0uid"): found on the target after an interruption, they count as transferred. */
  intentsThisRun?: Set<string>;
}

/** Thrown when the folder must be re-reconciled before continuing (e.g. one message was rejected). */
export class RestartFolder extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

export function emptyReport(folder: FolderPlanEntry): FolderReport {
  return {
    sourcePath: folder.sourcePath, targetPath: folder.targetPath, sourceMessages: 0, transferred: 0,
    alreadyPresent: 0, adopted: 0, skipped: 0, filtered: 0, flagsUpdated: 0, bytes: 0, created: false,
  };
}

/** A signature of the options that decide which messages are candidates: when it changes, a full rescan is due. */
export function scanSignature(options: SyncOptions): string {
  return `since=${options.since ?? ''};max=${options.maxMessageSize};items=${options.maxItems}`;
}

function newestFirst(a: MessageMeta, b: MessageMeta): number {
  return b.internalDate - a.internalDate || b.uid - a.uid;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

function batchesOf(metas: readonly MessageMeta[], maxMessages: number, maxBytes: number): MessageMeta[][] {
  const batches: MessageMeta[][] = [];
  let current: MessageMeta[] = [];
  let bytes = 0;
  for (const meta of metas) {
    if (current.length > 0 && (current.length >= maxMessages || bytes + meta.size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(meta);
    bytes += meta.size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export async function syncFolder(ctx: FolderSyncContext): Promise<FolderReport> {
  const { source, target, state, folder, options, clock, observer } = ctx;
  const report = ctx.report ?? emptyReport(folder);

  // Source and target are different connections: their round trips overlap.
  const [openedSource, openedTarget] = await Promise.allSettled([
    source.openFolder(folder.sourcePath, { readOnly: true }),
    openOrCreateTarget(target, folder.targetPath),
  ]);
  if (openedSource.status === 'rejected') {
    const err: unknown = openedSource.reason;
    if (isMailshiftError(err) && err.code === 'IMAP_PROTOCOL') {
      throw new MailshiftError('SOURCE_FOLDER_VANISHED', { folder: folder.sourcePath, detail: err.message }, { cause: err });
    }
    throw err;
  }
  if (openedTarget.status === 'rejected') throw openedTarget.reason;
  const sourceStatus = openedSource.value;
  const targetStatus = openedTarget.value;

  let saved = await state.getFolder(folder.sourcePath);
  if (saved && saved.sourceUidValidity !== sourceStatus.uidValidity) {
    // Every UID we recorded now names a different message (or none): re-derive from content.
    observer.onWarning?.(`UIDVALIDITY of source folder "${folder.sourcePath}" changed; re-indexing it by content.`);
    await state.resetFolder(folder.sourcePath);
    saved = null;
  }
  if (saved && saved.targetUidValidity !== null && saved.targetUidValidity !== targetStatus.uidValidity) {
    observer.onWarning?.(`UIDVALIDITY of target folder "${folder.targetPath}" changed; re-finding copied messages by content.`);
    await state.forgetTargetUids(folder.targetPath);
  }
  const signature = scanSignature(options);
  await state.putFolder({
    sourcePath: folder.sourcePath, targetPath: folder.targetPath,
    sourceUidValidity: sourceStatus.uidValidity, targetUidValidity: targetStatus.uidValidity,
    highestModseq: saved?.highestModseq ?? null, lastSyncAt: saved?.lastSyncAt ?? null,
    scanSignature: saved?.scanSignature ?? null,
  });

  const entries = new Map<number, LedgerEntry>();
  for (const entry of await state.entries(folder.sourcePath)) entries.set(entry.sourceUid, entry);
  // More messages than the ledger knows of: something will likely be copied, so the APPEND
  // connection opens now, alongside the scan, not after the first batch has been fetched. A re-run
  // with nothing new opens none.
  if (sourceStatus.messages > entries.size) target.prepare?.('append');

  const condstore = sourceStatus.highestModseq !== null && source.capabilities.has('CONDSTORE');
  const incremental = condstore && saved?.highestModseq != null && saved.scanSignature === signature;
  // A full scan does not depend on the reconcile below: read the source while the target is listed.
  const fullScan = incremental ? null : collect(source.fetchMeta('all'));
  fullScan?.catch(() => undefined);

  // --- Reconcile with what is really on the target -------------------------------------------
  const targetUids = await target.listUids();
  const claimed = await state.claimedTargetUids(folder.targetPath);
  const unknown = targetUids.filter((uid) => !claimed.has(uid));
  const pool = new KeyPool();
  if (unknown.length > 0) {
    for await (const h of target.fetchHeaders(unknown)) pool.add(contentKey(h.header, h.size), h.uid);
  }
  // Entries committed without a UID (no UIDPLUS) were there before anything in doubt: they claim first.
  for (const entry of entries.values()) {
    if (entry.status === 'copied' && entry.targetUid === null) pool.take(entry.contentKey);
  }
  const resolved: CommitRecord[] = [];
  const lost: number[] = [];
  // Byte-identical messages in doubt together (twins of one batch, or of two pipelined batches):
  // which twin's APPEND landed is unknowable, so a twin that claims one gets its own flags set.
  const twins = new Map<string, LedgerEntry[]>();
  for (const entry of entries.values()) {
    if (entry.status !== 'pending') continue;
    const same = twins.get(entry.contentKey);
    if (same) same.push(entry); else twins.set(entry.contentKey, [entry]);
  }
  const reflag: LedgerEntry[] = [];
  for (const entry of entries.values()) {
    if (entry.status !== 'pending') continue;
    const uid = pool.take(entry.contentKey);
    if (uid !== undefined) {
      resolved.push({ sourceUid: entry.sourceUid, targetUid: uid });
      entry.status = 'copied';
      entry.targetUid = uid;
      if ((twins.get(entry.contentKey)?.length ?? 0) > 1) reflag.push(entry);
    } else {
      lost.push(entry.sourceUid);
      entries.delete(entry.sourceUid);
    }
  }
  for (const entry of reflag) {
    // From whatever a twin (or the server) may have left on it, to this entry's own flags.
    const own = filterFlagsForTarget(entry.flags, targetStatus.permanentFlags).flags;
    const possible = [...twins.get(entry.contentKey)!.flatMap((t) => t.flags), ...COPIED_SYSTEM_FLAGS];
    const { remove } = flagDelta(possible, own);
    await target.updateFlags(entry.targetUid!, own, filterFlagsForTarget(remove, targetStatus.permanentFlags).flags);
  }
  if (resolved.length > 0) await state.commit(folder.sourcePath, resolved);
  // In-doubt messages of this run found on the target were copied by an interrupted attempt:
  // transferred, not "already there" (those of an earlier run, or re-found after a target
  // UIDVALIDITY change, are already there).
  const ours = resolved.filter((r) => ctx.intentsThisRun?.has(`${folder.sourcePath}\0${r.sourceUid}`) ?? false);
  const resolvedBytes = ours.reduce((n, r) => n + (entries.get(r.sourceUid)?.size ?? 0), 0);
  if (lost.length > 0) await state.discard(folder.sourcePath, lost);

  // --- What is on the source -------------------------------------------------------------------
  let metas: MessageMeta[];
  if (incremental && saved?.highestModseq != null) {
    const recheck = [...entries.values()].filter((e) => e.status === 'skipped').map((e) => e.sourceUid).concat(lost);
    const byUid = new Map<number, MessageMeta>();
    if (sourceStatus.highestModseq !== saved.highestModseq) {
      for (const m of await collect(source.fetchMeta('all', { changedSince: saved.highestModseq }))) byUid.set(m.uid, m);
    }
    if (recheck.length > 0) for (const m of await collect(source.fetchMeta(recheck))) byUid.set(m.uid, m);
    metas = [...byUid.values()];
    report.sourceMessages = sourceStatus.messages;
    report.alreadyPresent = [...entries.values()].filter((e) => e.status === 'copied').length;
  } else {
    metas = await fullScan!;
    report.sourceMessages = metas.length;
  }

  const flagUpdates: Array<{ entry: LedgerEntry; meta: MessageMeta }> = [];
  const candidates: MessageMeta[] = [];
  const tooLarge: MessageMeta[] = [];
  let presentCounted = 0;
  for (const meta of metas) {
    const entry = entries.get(meta.uid);
    if (entry && entry.status === 'copied') {
      presentCounted++;
      if (!sameFlags(entry.flags, meta.flags)) flagUpdates.push({ entry, meta });
      continue;
    }
    if (entry && entry.status === 'skipped' && entry.skipReason === 'target-rejected') {
      // The target refused it once; offering it again every pass would only repeat the refusal.
      report.skipped++;
      ctx.skippedItems.push({ folder: folder.sourcePath, uid: meta.uid, date: meta.internalDate, subject: entry.subject, size: meta.size, reason: 'target-rejected' });
      continue;
    }
    if (options.since !== null && meta.internalDate < options.since) {
      report.filtered++;
      continue;
    }
    if (meta.size > options.maxMessageSize) {
      tooLarge.push(meta);
      continue;
    }
    candidates.push(meta);
  }
  if (!incremental) report.alreadyPresent = presentCounted;

  candidates.sort(newestFirst);
  ctx.budget.consume(report.alreadyPresent);
  report.alreadyPresent = Math.max(0, report.alreadyPresent - ours.length);
  report.transferred += ours.length;
  report.bytes += resolvedBytes;
  const granted = ctx.budget.grant(candidates.length);
  const overLimit = candidates.splice(granted);

  await recordSkipped(ctx, report, tooLarge, 'too-large', `larger than ${options.maxMessageSize} bytes`);
  await recordSkipped(ctx, report, overLimit, 'item-limit', `over the limit of ${options.maxItems} items`);

  observer.onFolderStart?.(folder, { sourceMessages: report.sourceMessages, toCopy: candidates.length });

  // --- Mirror source flag changes on messages copied earlier -----------------------------------
  const flagRecords: Array<{ sourceUid: number; flags: string[] }> = [];
  for (const { entry, meta } of flagUpdates) {
    const delta = flagDelta(entry.flags, meta.flags);
    const add = filterFlagsForTarget(delta.add, targetStatus.permanentFlags).flags;
    const remove = filterFlagsForTarget(delta.remove, targetStatus.permanentFlags).flags;
    if (entry.targetUid !== null && (add.length > 0 || remove.length > 0)) {
      await target.updateFlags(entry.targetUid, add, remove);
      report.flagsUpdated++;
    }
    flagRecords.push({ sourceUid: entry.sourceUid, flags: normalizeFlags(meta.flags) });
  }
  if (flagRecords.length > 0) await state.updateFlags(folder.sourcePath, flagRecords);

  // --- Copy, newest first; fetching batch n+1 while batch n is being appended -------------------
  const batches = batchesOf(candidates, options.batchMessages, options.batchBytes);
  // Each batch holds its share of the byte budget from before its fetch until its append is committed.
  type Fetched = { messages: FetchedMessage[]; release: () => void };
  const fetchBatch = async (metasOfBatch: MessageMeta[]): Promise<Fetched> => {
    const release = await ctx.bytes.acquire(metasOfBatch.reduce((n, m) => n + m.size, 0), ctx.signal);
    try {
      return { messages: await collect(source.fetchMessages(metasOfBatch.map((m) => m.uid))), release };
    } catch (err) {
      release();
      throw err;
    }
  };
  // A batch's bytes and budget are given back once its copy is done. Appended (every byte written,
  // the server said OK) and committed, nothing reads the bytes again, so a large message's memory
  // goes back at once instead of at the next full GC. (A function of its own, so that no variable
  // of the loop below holds the batch.)
  const releaseWhenCopied = (done: Promise<void>, batch: Fetched): Promise<void> => done.then(
    () => {
      for (const m of batch.messages) releaseMessageBytes(m.raw);
      batch.release();
    },
    (err: unknown) => {
      batch.release();
      throw err;
    },
  );
  // Two appends in flight: batch n+1 is written while batch n waits for its tagged OK and commit,
  // so the target connection never idles for a round trip between batches.
  let next: Promise<Fetched> | null = batches[0] ? fetchBatch(batches[0]) : null;
  let previous: Promise<void> | null = null;
  // Outside the loop so it can be cleared: V8 keeps a block-scoped `const` of a suspended async
  // function alive in its frame, so while this worker waited for the next batch's byte budget it
  // held the previous batch (a 30 MB message) beyond the budget — 20 mailboxes with 30 MB messages
  // kept ~300 MB alive that way.
  let fetched: Fetched | null = null;
  try {
    for (let i = 0; i < batches.length; i++) {
      ctx.signal?.throwIfAborted();
      fetched = await next!;
      next = batches[i + 1] ? fetchBatch(batches[i + 1]!) : null;
      let copying: Promise<void>;
      const release = fetched.release;
      try {
        copying = releaseWhenCopied((await startCopy(ctx, report, targetStatus, pool, fetched.messages, entries)).done, fetched);
      } catch (err) {
        release();
        throw err;
      } finally {
        // The copy under way holds what it still needs; from here on the batch is its alone.
        fetched = null;
      }
      // Handled here so a failure that comes while the loop awaits something else is not an
      // unhandled rejection; awaiting `copying` below still throws it.
      copying.catch(() => undefined);
      const before = previous;
      previous = copying;
      if (before) await before;
    }
    if (previous) await previous;
  } catch (err) {
    // Nothing may still be on its way to the target when the caller reconciles or retries: an
    // append landing after the target was listed would look lost and be copied again.
    if (previous) await previous.catch(() => undefined);
    throw err;
  } finally {
    // A prefetch still in flight must give its bytes back and not surface as an unhandled rejection.
    next?.then((f) => f.release(), () => undefined);
  }

  await state.putFolder({
    sourcePath: folder.sourcePath, targetPath: folder.targetPath,
    sourceUidValidity: sourceStatus.uidValidity, targetUidValidity: targetStatus.uidValidity,
    highestModseq: sourceStatus.highestModseq, lastSyncAt: clock.now(), scanSignature: signature,
  });
  return report;
}

/** Opens the target folder read-write, creating it first if it does not exist (any more). */
async function openOrCreateTarget(target: MailStore, path: string): Promise<FolderStatus> {
  try {
    return await target.openFolder(path, { readOnly: false });
  } catch (err) {
    if (!isMailshiftError(err) || err.spec.class !== 'protocol' || err.spec.scope !== 'folder') throw err;
    await target.createFolder(path);
    return target.openFolder(path, { readOnly: false });
  }
}

async function recordSkipped(ctx: FolderSyncContext, report: FolderReport, metas: MessageMeta[], reason: 'too-large' | 'item-limit', detail: string): Promise<void> {
  if (metas.length === 0) return;
  const subjects = new Map<number, string | null>();
  for await (const h of ctx.source.fetchHeaders(metas.map((m) => m.uid))) subjects.set(h.uid, headerField(h.header, 'Subject'));
  const records: LedgerEntry[] = metas.map((m) => ({
    sourcePath: ctx.folder.sourcePath, sourceUid: m.uid, targetPath: ctx.folder.targetPath, targetUid: null,
    contentKey: '', size: m.size, internalDate: m.internalDate, flags: normalizeFlags(m.flags), status: 'skipped',
    skipReason: reason, subject: subjects.get(m.uid) ?? null, detail,
  }));
  await ctx.state.upsert(records);
  for (const r of records) {
    ctx.skippedItems.push({ folder: ctx.folder.sourcePath, uid: r.sourceUid, date: r.internalDate, subject: r.subject, size: r.size, reason });
  }
  report.skipped += records.length;
}

/**
 * Records the batch's intents and writes its APPEND; resolves once that is under way, with a
 * promise that settles when the target has answered and the outcome is committed to the ledger.
 */
async function startCopy(
  ctx: FolderSyncContext, report: FolderReport, targetStatus: FolderStatus, pool: KeyPool,
  fetched: FetchedMessage[], entries: Map<number, LedgerEntry>,
): Promise<{ done: Promise<void> }> {
  const { state, target, folder, observer } = ctx;
  fetched.sort(newestFirst);
  const adopted: LedgerEntry[] = [];
  const intents: LedgerEntry[] = [];
  const items: Array<{ raw: Buffer; flags: string[]; internalDate: number }> = [];
  for (const message of fetched) {
    const key = contentKey(message.header, message.size);
    const base: LedgerEntry = {
      sourcePath: folder.sourcePath, sourceUid: message.uid, targetPath: folder.targetPath, targetUid: null,
      contentKey: key, size: message.size, internalDate: message.internalDate, flags: normalizeFlags(message.flags),
      status: 'pending', skipReason: null, subject: null, detail: null,
    };
    const existing = pool.take(key);
    if (existing !== undefined) {
      adopted.push({ ...base, status: 'copied', targetUid: existing });
      continue;
    }
    const filtered = filterFlagsForTarget(message.flags, targetStatus.permanentFlags);
    if (filtered.dropped.length > 0) {
      const set = ctx.droppedKeywords.get(folder.targetPath) ?? new Set<string>();
      for (const k of filtered.dropped) set.add(k);
      ctx.droppedKeywords.set(folder.targetPath, set);
    }
    intents.push(base);
    items.push({ raw: message.raw, flags: filtered.flags, internalDate: message.internalDate });
  }

  if (adopted.length > 0) {
    await state.upsert(adopted);
    for (const entry of adopted) {
      entries.set(entry.sourceUid, entry);
      // Whatever put it there may not have carried the flags; add the source's, never remove.
      const add = filterFlagsForTarget(entry.flags, targetStatus.permanentFlags).flags;
      if (add.length > 0 && entry.targetUid !== null) await target.updateFlags(entry.targetUid, add, []);
    }
    report.adopted += adopted.length;
    report.alreadyPresent += adopted.length;
    observer.onProgress?.(folder, { messages: adopted.length, bytes: 0 });
  }
  if (intents.length === 0) return { done: Promise.resolve() };

  await state.upsert(intents);
  for (const intent of intents) ctx.intentsThisRun?.add(`${folder.sourcePath}\0${intent.sourceUid}`);
  // Called now, so the writes keep batch order; answered and committed in `done`.
  const appended = target.append(folder.targetPath, items);
  return { done: finishCopy(ctx, report, intents, appended, entries) };
}

async function finishCopy(
  ctx: FolderSyncContext, report: FolderReport, intents: LedgerEntry[], appended: Promise<AppendOutcome[]>, entries: Map<number, LedgerEntry>,
): Promise<void> {
  const { state, target, folder, observer } = ctx;
  let outcomes;
  try {
    outcomes = await appended;
  } catch (err) {
    if (isMailshiftError(err) && err.code === 'TARGET_APPEND_REJECTED' && typeof err.params.index === 'number') {
      const rejected = intents[err.params.index];
      if (rejected) {
        await state.upsert([{ ...rejected, status: 'skipped', skipReason: 'target-rejected', detail: err.message }]);
        ctx.skippedItems.push({ folder: folder.sourcePath, uid: rejected.sourceUid, date: rejected.internalDate, subject: null, size: rejected.size, reason: 'target-rejected' });
        report.skipped++;
        entries.delete(rejected.sourceUid);
        // Other messages of the batch may or may not have been stored: reconcile before going on.
        throw new RestartFolder(`message ${rejected.sourceUid} rejected by the target`);
      }
    }
    if (isMailshiftError(err) && err.params.responseCode === 'TRYCREATE') {
      // The folder went away under us (deleted on the target mid-run): recreate it and reconcile.
      await target.createFolder(folder.targetPath);
      throw new RestartFolder(`target folder ${folder.targetPath} had to be created again`);
    }
    throw err;
  }
  const commits: CommitRecord[] = intents.map((intent, i) => ({ sourceUid: intent.sourceUid, targetUid: outcomes[i]?.uid ?? null }));
  await state.commit(folder.sourcePath, commits);
  for (const intent of intents) ctx.intentsThisRun?.delete(`${folder.sourcePath}\0${intent.sourceUid}`);
  let bytes = 0;
  for (let i = 0; i < intents.length; i++) {
    const intent = intents[i]!;
    entries.set(intent.sourceUid, { ...intent, status: 'copied', targetUid: commits[i]!.targetUid });
    bytes += intent.size;
  }
  report.transferred += intents.length;
  report.bytes += bytes;
  observer.onProgress?.(folder, { messages: intents.length, bytes });
}
