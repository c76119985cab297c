/**
 * Migrates one mailbox: plans folders, creates what is missing, syncs folder by folder, and on a
 * transient failure reconnects and resumes from the ledger (imapflow connections are single-use).
 */
import { MailshiftError, isConnectionLimit, isMailshiftError } from '../domain/errors.js';
import type { FolderPlan, FolderPlanEntry, FolderRules } from './folder-mapping.js';
import { planFolders } from './folder-mapping.js';
import type { FolderReport, MigrationReport, ReportedError, SkippedItem, VerifyResult } from './migration-report.js';
import type { Clock, Logger, MailStore } from './ports.js';
import type { MigrationState } from './state-port.js';
import { DEFAULT_BYTE_BUDGET, ItemBudget } from './sync-options.js';
import { ByteBudget } from './byte-budget.js';
import type { WorkerBudget, WorkerLease } from './connection-budget.js';
import type { MigrationObserver, SyncOptions } from './sync-options.js';
import { RestartFolder, emptyReport, syncFolder } from './folder-sync.js';
import { verifyMailbox } from './verify.js';

/** Extra connections a store opened by the engine will need at once (as MailStore.prepare). */
export interface OpenOptions {
  /** Opened alongside the store's own connection rather than after it, where the adapter can. */
  prepare?: ReadonlyArray<'fetch' | 'append'>;
  /** APPEND over the store's own connection: the server allows the account no second one. */
  appendOnControl?: boolean;
}

export interface MigrationDeps {
  openSource(options?: OpenOptions): Promise<MailStore>;
  openTarget(options?: OpenOptions): Promise<MailStore>;
  state: MigrationState;
  clock: Clock;
  logger?: Logger;
  observer?: MigrationObserver;
  signal?: AbortSignal;
  /** Shared by every mailbox of the process; a private one is made when absent. */
  byteBudget?: ByteBudget;
  /** Connections the mailboxes of the process may hold on this mailbox's servers; absent: as many as the work wants. */
  connectionBudget?: WorkerBudget;
}

export interface MigrationOptions extends SyncOptions {
  rules: FolderRules;
  dryRun: boolean;
  /** Verify by content after copying (header section + size per message). */
  verify: boolean;
  /** Reconnect attempts after transient failures before the mailbox is failed. */
  maxRetries: number;
  /** At most this many folders copied at once, each on its own source and target connections. */
  folderConcurrency: number;
  /**
   * New messages that justify one more folder worker (default 500): each worker opens 4
   * connections, and with message counts known (LIST-STATUS) a small mailbox, or a re-run with
   * little new, uses fewer than `folderConcurrency`.
   */
  messagesPerFolderWorker?: number;
  sourceLabel: string;
  targetLabel: string;
}

const RESTARTS_PER_FOLDER = 25;
/**
 * Every folder's metadata is read on a source store's fetch connection: it opens alongside the
 * store's control connection (while the folders are listed, for the first store).
 */
const FETCH_AHEAD: OpenOptions = { prepare: ['fetch'] };
const MESSAGES_PER_FOLDER_WORKER = 500;

/**
 * Folder workers for a run: up to `folderConcurrency`, one per `messagesPerFolderWorker` messages
 * the ledger does not know yet. A worker is 4 connections (TLS and LOGIN each: 30–40 ms of the
 * machine's CPU against Dovecot here, more than copying a hundred small messages), so 200 new
 * messages get one worker, not three. Without counts for every folder, `folderConcurrency`.
 */
function folderWorkers(
  folders: readonly FolderPlanEntry[], counts: ReadonlyMap<string, number>, known: ReadonlyMap<string, number>, options: MigrationOptions,
): number {
  const cap = Math.min(options.folderConcurrency, folders.length);
  if (folders.some((f) => !counts.has(f.sourcePath))) return cap;
  const fresh = folders.reduce((n, f) => n + Math.max(0, (counts.get(f.sourcePath) ?? 0) - (known.get(f.sourcePath) ?? 0)), 0);
  return Math.max(1, Math.min(cap, Math.ceil(fresh / (options.messagesPerFolderWorker ?? MESSAGES_PER_FOLDER_WORKER))));
}

function toReported(err: MailshiftError, folder?: string): ReportedError {
  return { code: err.code, scope: err.spec.scope, message: err.message, remediation: err.remediation, ...(folder ? { folder } : {}) };
}

export function asMailshiftError(err: unknown): MailshiftError {
  if (isMailshiftError(err)) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new MailshiftError('INTERNAL', { detail }, { cause: err });
}

/** Exponential backoff from 1 s to 60 s, unless the server suggested a wait. */
export function backoffDelay(attempt: number, err: MailshiftError): number {
  if (err.retryAfterMs !== null) return Math.min(err.retryAfterMs, 15 * 60_000);
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

async function closeQuietly(store: MailStore | null): Promise<void> {
  if (!store) return;
  try {
    await store.close();
  } catch {
    // The connection is being discarded anyway.
  }
}

function mergeFolderReport(previous: FolderReport | undefined, next: FolderReport): FolderReport {
  if (!previous) return next;
  // Messages copied by an interrupted attempt count as transferred, not as "already present".
  return {
    ...next,
    transferred: previous.transferred + next.transferred,
    bytes: previous.bytes + next.bytes,
    flagsUpdated: previous.flagsUpdated + next.flagsUpdated,
    adopted: previous.adopted + next.adopted,
    alreadyPresent: Math.max(0, next.alreadyPresent - previous.transferred - previous.adopted) + previous.adopted,
    skipped: Math.max(previous.skipped, next.skipped),
  };
}

export async function migrateMailbox(deps: MigrationDeps, options: MigrationOptions): Promise<MigrationReport> {
  const { clock, observer = {}, state } = deps;
  const bytes = deps.byteBudget ?? new ByteBudget(DEFAULT_BYTE_BUDGET);
  const startedAt = clock.now();
  const folderReports = new Map<string, FolderReport>();
  const intentsThisRun = new Set<string>();
  const done = new Set<string>();
  const skippedItems: SkippedItem[] = [];
  const droppedKeywords = new Map<string, Set<string>>();
  const warnings: string[] = [];
  const errors: ReportedError[] = [];
  const created = new Set<string>();
  let plan: FolderPlan | null = null;
  let verification: VerifyResult | null = null;
  let retries = 0;
  let fatal: MailshiftError | null = null;
  const restarts = new Map<string, number>();
  // Folder workers the servers gave connections to, once one was refused: later attempts of this
  // run ask for no more than that.
  let workerLimit = Number.POSITIVE_INFINITY;
  // The target refused an APPEND connection (CONN_TOO_MANY; throttling is not about the number of
  // connections) to a worker that held nothing but its control connection: from the next attempt
  // on, APPENDs go over that one.
  let appendOnControl = false;
  const warn = (message: string): void => {
    if (!warnings.includes(message)) warnings.push(message);
    observer.onWarning?.(message);
  };

  for (let attempt = 0; ; attempt++) {
    let source: MailStore | null = null;
    let target: MailStore | null = null;
    const extraStores: MailStore[] = [];
    let lease: WorkerLease | null = null;
    /** Connections still being opened: waited for before the stores are closed, so none leaks. */
    const pendingOpens: Array<Promise<unknown>> = [];
    // Both at once: on a WAN each connect is several round trips (TCP, TLS, capabilities, LOGIN).
    const openBoth = () => Promise.allSettled([deps.openSource(FETCH_AHEAD), deps.openTarget(appendOnControl ? { appendOnControl } : undefined)]);
    const openPair = (): Promise<{ source: MailStore; target: MailStore }> => {
      const opening = (async () => {
        const [extraSource, extraTarget] = await openBoth();
        if (extraSource.status === 'fulfilled' && extraTarget.status === 'fulfilled') {
          extraStores.push(extraSource.value, extraTarget.value);
          return { source: extraSource.value, target: extraTarget.value };
        }
        // Half a pair is of no use to a worker: its connections go back to the server at once.
        await Promise.all([extraSource, extraTarget].map((opened) => (opened.status === 'fulfilled' ? closeQuietly(opened.value) : undefined)));
        throw extraSource.status === 'rejected' ? extraSource.reason : (extraTarget as PromiseRejectedResult).reason;
      })();
      pendingOpens.push(opening.catch(() => undefined));
      return opening;
    };
    try {
      deps.signal?.throwIfAborted();
      const [openedSource, openedTarget] = await openBoth();
      if (openedSource.status === 'fulfilled') source = openedSource.value;
      if (openedTarget.status === 'fulfilled') target = openedTarget.value;
      if (openedSource.status === 'rejected') throw openedSource.reason;
      if (openedTarget.status === 'rejected') throw openedTarget.reason;
      if (!source || !target) throw new MailshiftError('INTERNAL', { detail: 'a connection was not opened' });
      // Counts order the folders (largest first) and make the progress total; with LIST-STATUS they
      // come with the listing in one round trip, without it only the total is worth a STATUS each.
      const messageCounts = source.capabilities.has('LIST-STATUS') || (!plan && observer.onSourceTotal !== undefined);
      const [sourceFolders, targetFolders] = await Promise.all([source.listFolders({ messageCounts }), target.listFolders()]);
      const counts = new Map(sourceFolders.flatMap((f) => (f.messages === undefined ? [] : [[f.path, f.messages] as const])));
      if (!plan) {
        plan = planFolders(
          { folders: sourceFolders, delimiter: source.delimiter, namespacePrefix: source.namespacePrefix },
          { folders: targetFolders, delimiter: target.delimiter, namespacePrefix: target.namespacePrefix },
          options.rules,
        );
        for (const w of plan.warnings) warn(w);
        if (source.capabilities.has('X-GM-EXT-1') && plan.folders.some((f) => f.sourcePath.startsWith('[Gmail]'))) {
          warn('The source is Gmail: a message with several labels appears in several folders and is copied once per folder. Exclude "[Gmail]" (or "[Gmail]/All Mail") to avoid duplicates.');
        }
        observer.onPlan?.(plan);
        if (observer.onSourceTotal) {
          let total = 0;
          for (const folder of plan.folders) if (folder.selectable) total += counts.get(folder.sourcePath) ?? await source.folderMessageCount(folder.sourcePath);
          observer.onSourceTotal(total);
        }
      }
      // The other folder workers connect while the folders are being created.
      const toSync = plan.folders.filter((f) => f.selectable && !done.has(f.sourcePath));
      const wantedWorkers = Math.min(workerLimit, folderWorkers(toSync, counts, counts.size > 0 ? await state.entryCounts() : new Map(), options));
      lease = deps.connectionBudget?.lease(wantedWorkers) ?? null;
      const expectedWorkers = lease?.workers ?? wantedWorkers;
      const extraPairs = Array.from({ length: Math.max(0, expectedWorkers - 1) }, () => {
        const opening = openPair();
        opening.catch(() => undefined);
        return opening;
      });
      const existing = new Set(targetFolders.filter((f) => f.selectable).map((f) => f.path.toLowerCase()));
      const createTargetFolder = async (store: MailStore, path: string): Promise<boolean> => {
        try {
          await store.createFolder(path);
          created.add(path);
          return true;
        } catch (err) {
          const e = asMailshiftError(err);
          if (e.spec.class !== 'protocol') throw e;
          errors.push(toReported(new MailshiftError('TARGET_FOLDER_CREATE_FAILED', { folder: path, detail: e.message }, { cause: e }), path));
          return false;
        }
      };
      const delimiter = target.delimiter ?? '/';
      const missing = plan.toCreate.filter((path) => !existing.has(path.toLowerCase()));
      // A missing folder a worker will copy into, with nothing to create below it, is created by
      // that worker: one CREATE per folder on parallel connections instead of a serial round trip
      // each before any copy starts. Parents and placeholders are created here, parents first.
      const copiedInto = new Set(plan.folders.filter((f) => f.selectable && !done.has(f.sourcePath)).map((f) => f.targetPath));
      const deferred = new Set(missing.filter((path) => copiedInto.has(path) && !missing.some((other) => other.startsWith(path + delimiter))));
      for (const path of missing) {
        if (deferred.has(path) || await createTargetFolder(target, path)) continue;
        // Everything that would have gone into it (and below it) cannot be copied this run.
        for (const f of plan.folders) if (f.targetPath === path || f.targetPath.startsWith(path + delimiter)) done.add(f.sourcePath);
      }

      const budget = new ItemBudget(options.maxItems);
      const queue: FolderPlanEntry[] = [];
      for (const folder of plan.folders) {
        if (done.has(folder.sourcePath)) {
          budget.consume((folderReports.get(folder.sourcePath)?.alreadyPresent ?? 0) + (folderReports.get(folder.sourcePath)?.transferred ?? 0));
        } else if (!folder.selectable) {
          done.add(folder.sourcePath);
        } else {
          queue.push(folder);
        }
      }
      // Largest folders first: the biggest one is the longest single job, and it must not start
      // last while the other workers sit idle. Unknown counts keep their plan order, after.
      queue.sort((a, b) => (counts.get(b.sourcePath) ?? -1) - (counts.get(a.sourcePath) ?? -1));

      // Folders are copied in parallel, each on its own pair of connections: several writers into
      // the same folder slow Dovecot down (folder locks), different folders do not.
      const attemptAbort = new AbortController();
      const onOuterAbort = (): void => attemptAbort.abort(deps.signal?.reason);
      deps.signal?.addEventListener('abort', onOuterAbort, { once: true });
      const workerCount = Math.max(1, Math.min(expectedWorkers, queue.length));
      const pairs: Array<{ source: MailStore; target: MailStore }> = [{ source, target }];
      let firstFailure: MailshiftError | null = null;
      let refused: MailshiftError | null = null;
      // Workers that gave up their connections after a refusal, and the closing of those.
      const retired = new Set<number>();
      const releases: Array<Promise<unknown>> = [];
      const working = (i: number): boolean => pairs[i] !== undefined && !retired.has(i);
      const noteRefusal = (e: MailshiftError): void => {
        refused ??= e;
        deps.logger?.log('warn', 'a server refused a folder worker\'s connections; the other workers take its folders', { code: e.code, message: e.message });
      };
      const runWorker = async (index: number): Promise<void> => {
        if (index > 0 && !pairs[index]) {
          try {
            pairs[index] = await (extraPairs[index - 1] ?? openPair());
          } catch (err) {
            // A server that allows fewer connections per account than the workers want (a
            // per-user limit, throttling) still serves the ones it accepted: this worker takes no
            // folder, and the others copy them all.
            const e = asMailshiftError(err);
            if (!isConnectionLimit(e)) throw e;
            noteRefusal(e);
            lease?.shrink(lease.workers - 1);
            return;
          }
        }
        const pair = pairs[index]!;
        let releasesSeen = 0;
        for (let folder = queue.shift(); folder; folder = queue.shift()) {
          if (attemptAbort.signal.aborted) return;
          try {
            await syncWithRestarts(pair.source, pair.target, folder, attemptAbort.signal);
          } catch (err) {
            // The same refusal can come later, from a connection a store opens on first use (its
            // fetch or APPEND connection, which the other workers' logins may have beaten to the
            // server's limit). Unless this is the last worker with connections, the folder goes
            // back to the queue, to be resumed by another worker from the ledger as a restart
            // would (nothing is in flight any more).
            const e = asMailshiftError(err);
            if (!isConnectionLimit(e)) throw err;
            queue.unshift(folder);
            noteRefusal(e);
            const others = pairs.some((_, i) => i !== index && working(i));
            if (!others) {
              // The last worker: connections other workers gave up since its last try may have
              // been what the server was counting. Once they are closed, it tries again.
              if (releases.length === releasesSeen) {
                if (e.code === 'CONN_TOO_MANY' && e.params.side === 'target' && !appendOnControl) {
                  appendOnControl = true;
                  warn(new MailshiftError('CONN_SINGLE_CONNECTION', { host: String(e.params.host ?? ''), detail: String(e.params.detail ?? e.message) }).message);
                }
                throw err;
              }
              releasesSeen = releases.length;
              await Promise.all(releases);
              continue;
            }
            retired.add(index);
            const release = Promise.all([closeQuietly(pair.source), closeQuietly(pair.target)]);
            releases.push(release);
            await release;
            lease?.shrink(lease.workers - 1);
            return;
          }
        }
      };
      const syncWithRestarts = async (from: MailStore, to: MailStore, folder: FolderPlanEntry, signal: AbortSignal): Promise<void> => {
        if (deferred.delete(folder.targetPath) && !(await createTargetFolder(to, folder.targetPath))) {
          done.add(folder.sourcePath);
          return;
        }
        for (;;) {
          const partial = emptyReport(folder);
          try {
            const report = await syncFolder({
              source: from, target: to, state, folder, options, budget, bytes, clock, observer, skippedItems, droppedKeywords, signal, report: partial, intentsThisRun,
            });
            report.created = created.has(folder.targetPath);
            const merged = mergeFolderReport(folderReports.get(folder.sourcePath), report);
            folderReports.set(folder.sourcePath, merged);
            done.add(folder.sourcePath);
            observer.onFolderDone?.(folder, merged);
            return;
          } catch (err) {
            // What the interrupted attempt copied stays counted as transferred by this run.
            if (partial.transferred > 0 || partial.adopted > 0) folderReports.set(folder.sourcePath, mergeFolderReport(folderReports.get(folder.sourcePath), partial));
            if (err instanceof RestartFolder) {
              const n = (restarts.get(folder.sourcePath) ?? 0) + 1;
              restarts.set(folder.sourcePath, n);
              if (n <= RESTARTS_PER_FOLDER) continue;
            }
            const e = err instanceof RestartFolder ? new MailshiftError('IMAP_PROTOCOL', { host: options.targetLabel, detail: err.why }) : asMailshiftError(err);
            if (e.spec.scope === 'folder') {
              errors.push(toReported(e, folder.sourcePath));
              done.add(folder.sourcePath);
              return;
            }
            throw e;
          }
        }
      };
      const settle = (i: number): Promise<void> => runWorker(i).catch((err: unknown) => {
        // The first failure stops the other workers between batches; the attempt is then retried or failed as a whole.
        firstFailure ??= asMailshiftError(err);
        attemptAbort.abort(firstFailure);
        throw err;
      });
      let outcomes = await Promise.allSettled(Array.from({ length: workerCount }, (_, i) => settle(i)));
      // A folder handed back by a worker that lost its connections after the others had finished.
      const survivor = (): number => pairs.findIndex((_, i) => working(i));
      while (queue.length > 0 && !attemptAbort.signal.aborted && outcomes.every((o) => o.status === 'fulfilled') && survivor() >= 0) {
        outcomes = await Promise.allSettled([settle(survivor())]);
      }
      deps.signal?.removeEventListener('abort', onOuterAbort);
      if (refused) {
        // Workers still holding connections: neither refused at open (no pair) nor retired.
        const accepted = Array.from({ length: workerCount }, (_, i) => i).filter(working).length;
        workerLimit = Math.min(workerLimit, accepted);
        const e: MailshiftError = refused;
        warn(new MailshiftError('CONN_LIMIT_REACHED', { host: String(e.params.host ?? ''), detail: String(e.params.detail ?? e.message), workers: accepted, wanted: workerCount }).message);
      }
      // Never report a run complete with folders it did not copy (workers stop between folders
      // when the run is stopped).
      if (queue.length > 0 && outcomes.every((o) => o.status === 'fulfilled')) {
        throw asMailshiftError(attemptAbort.signal.reason ?? new Error(`${queue.length} folder(s) were left uncopied`));
      }
      if (outcomes.some((o) => o.status === 'rejected')) throw firstFailure ?? new MailshiftError('INTERNAL', { detail: 'a folder worker failed' });

      for (const [folder, keywords] of droppedKeywords) {
        warn(new MailshiftError('MSG_KEYWORDS_DROPPED', { folder, keywords: [...keywords].join(' ') }).message);
      }
      // The other folder workers' connections sit idle from here on (the verification below uses
      // one pair, the first unless it gave its connections up): give them back to the servers now,
      // not after a long verification.
      const kept = pairs[survivor()] ?? { source, target };
      await Promise.all(pendingOpens);
      await Promise.all(extraStores.splice(0).filter((store) => store !== kept.source && store !== kept.target).map(closeQuietly));
      lease?.shrink(1);
      extraStores.push(...[kept.source, kept.target].filter((store) => store !== source && store !== target));
      if (options.verify && !options.dryRun) {
        const expectedAbsent = new Map<string, Set<number>>();
        for (const item of skippedItems) {
          const set = expectedAbsent.get(item.folder) ?? new Set<number>();
          set.add(item.uid);
          expectedAbsent.set(item.folder, set);
        }
        const verified = plan.folders.filter((f) => done.has(f.sourcePath) && !errors.some((e) => e.folder === f.sourcePath));
        verification = await verifyMailbox(kept.source, kept.target, verified, {
          deep: false, since: options.since, maxMessageSize: options.maxMessageSize, expectedAbsent,
        });
      }
      for (const pair of pairs) {
        const refusal = pair?.source.readRefusal;
        if (refusal) warn(new MailshiftError('CONN_READ_ON_CONTROL', refusal).message);
      }
      break;
    } catch (err) {
      const e = asMailshiftError(err);
      if (deps.signal?.aborted) {
        fatal = e;
        break;
      }
      if (e.retry === 'never' || attempt >= options.maxRetries) {
        fatal = e;
        break;
      }
      retries++;
      const delay = backoffDelay(attempt + 1, e);
      deps.logger?.log('warn', `transient failure, reconnecting in ${Math.round(delay / 1000)} s`, { code: e.code, message: e.message });
      observer.onRetry?.(e, attempt + 1, delay);
      await Promise.all(pendingOpens);
      await closeQuietly(source);
      await closeQuietly(target);
      await Promise.all(extraStores.map(closeQuietly));
      source = null;
      target = null;
      extraStores.length = 0;
      lease?.release();
      await clock.sleep(delay, deps.signal);
    } finally {
      await Promise.all(pendingOpens);
      await closeQuietly(source);
      await closeQuietly(target);
      await Promise.all(extraStores.map(closeQuietly));
      lease?.release();
    }
  }

  if (fatal) errors.push(toReported(fatal));
  const folders = plan ? plan.folders.filter((f) => folderReports.has(f.sourcePath)).map((f) => folderReports.get(f.sourcePath)!) : [];
  const sum = (pick: (r: FolderReport) => number): number => folders.reduce((n, r) => n + pick(r), 0);
  // A folder restarted or retried records its skipped items again.
  const uniqueSkipped = [...new Map(skippedItems.map((i) => [`${i.folder}\0${i.uid}`, i])).values()];
  const skippedByReason: Record<string, number> = {};
  for (const item of uniqueSkipped) skippedByReason[item.reason] = (skippedByReason[item.reason] ?? 0) + 1;
  const filtered = sum((r) => r.filtered);
  if (filtered > 0) skippedByReason['before-start-date'] = filtered;
  let keywordsDropped = 0;
  for (const set of droppedKeywords.values()) keywordsDropped += set.size;

  const status: MigrationReport['status'] = fatal
    ? 'failed'
    : errors.length > 0 || (verification !== null && !verification.consistent) ? 'completed-with-errors' : 'completed';
  return {
    source: options.sourceLabel,
    target: options.targetLabel,
    dryRun: options.dryRun,
    startedAt,
    finishedAt: clock.now(),
    status,
    folders,
    excludedFolders: plan?.excluded ?? [],
    totals: {
      folders: folders.length,
      foldersCreated: created.size,
      sourceMessages: sum((r) => r.sourceMessages),
      transferred: sum((r) => r.transferred),
      alreadyPresent: sum((r) => r.alreadyPresent),
      adopted: sum((r) => r.adopted),
      skipped: sum((r) => r.skipped),
      skippedByReason,
      filtered,
      flagsUpdated: sum((r) => r.flagsUpdated),
      keywordsDropped,
      bytes: sum((r) => r.bytes),
      retries,
    },
    skippedItems: uniqueSkipped,
    warnings,
    errors,
    verification,
  };
}
