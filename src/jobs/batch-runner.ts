/**
 * The batch runner: polls the store, claims due users with leases (never more per source endpoint
 * than it allows), runs each mailbox through `runMigration` (ledger, lock, run record), heartbeats
 * the lease while it runs, and writes the outcome back as data: status, counters, error with its
 * remediation, and when to sync next (backoff after a transient failure, the incremental interval
 * after a success).
 *
 * A runner that dies leaves leases behind; the next runner reclaims them (the owner's pid is gone on
 * this host, or the lease expired) and the ledger makes the copy resume exactly where it was.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ERROR_CATALOG, MailshiftError, isMailshiftError } from '../domain/errors.js';
import type { ErrorCode } from '../domain/errors.js';
import type { MigrationOptions } from '../engine/mailbox-migration.js';
import type { MigrationReport, ReportedError } from '../engine/migration-report.js';
import { DEFAULT_SYNC_OPTIONS } from '../engine/sync-options.js';
import type { MigrationObserver } from '../engine/sync-options.js';
import { FINISHED_BATCH_STATUSES, MAX_TRANSIENT_ATTEMPTS, userBackoffMs } from '../batch/batch-status.js';
import type { BatchStatus, UserStatus } from '../batch/batch-status.js';
import { describeAccount, pairKey, runMigration } from '../app/run-migration.js';
import { ByteBudget } from '../engine/byte-budget.js';
import { ConnectionBudget, DEFAULT_MAX_CONNECTIONS } from '../engine/connection-budget.js';
import { processAlive } from '../store/mailbox-registry.js';
import { DEFAULT_BYTE_BUDGET } from '../engine/sync-options.js';
import type { BatchContext } from '../app/batch-context.js';
import { userConnections } from '../app/batch-connections.js';
import type { UserConnections } from '../app/batch-connections.js';
import { buildBatchReport, completeBatch, settleStatus } from '../app/batch-service.js';
import { openMailStore } from '../imap/imapflow-mail-store.js';
import { ensureMailbox } from '../store/mailbox-registry.js';
import type { ClaimedUser, EndpointLimits } from '../store/batch-repository.js';
import type { BatchUserTable } from '../store/batch-schema.js';
import { warningsColumn } from '../store/batch-schema.js';
import type { Updateable } from 'kysely';

export interface BatchRunnerOptions {
  /** How often the store is polled for work and commands. */
  pollMs: number;
  /** Lease length; heartbeats renew it every third of it (and refresh Items Synced from the ledger). */
  leaseMs: number;
  /**
   * While a mailbox copies, Items Synced, bytes and the measured rate are refreshed from the ledger
   * on the engine's progress callbacks, at most this often (besides the heartbeats).
   */
  progressMs: number;
  /** Mailboxes at once in this process, over all endpoints (each endpoint's own limits apply too). */
  maxParallel: number;
  /** Connections to each server at once over the mailboxes this runner copies (ConnectionBudget). */
  maxConnections: number;
  /** Only this batch (`mailshift batch run`). */
  onlyBatchId?: number;
  /** Overrides every batch's incremental interval (tests, or an operator's global setting). */
  incrementalIntervalMs?: number | null;
  /** Reconnect attempts inside one mailbox run before it counts as one failed attempt. */
  engineRetries: number;
  /** First backoff after a transient mailbox failure (doubling, up to 1 h). */
  backoffBaseMs: number;
  observerFor?: (address: string, batch: string) => MigrationObserver;
  onUserFinished?: (address: string, status: UserStatus) => void;
  log?: (line: string) => void;
}

export const DEFAULT_RUNNER_OPTIONS: BatchRunnerOptions = {
  pollMs: 2000, leaseMs: 60_000, progressMs: 2000, maxParallel: 100, maxConnections: DEFAULT_MAX_CONNECTIONS, engineRetries: 3, backoffBaseMs: 30_000,
};

/** Calls every observer's callback; one that throws never reaches the engine nor the others. */
function combineObservers(...observers: MigrationObserver[]): MigrationObserver {
  const each = <K extends keyof MigrationObserver>(key: K) => (...args: Parameters<NonNullable<MigrationObserver[K]>>): void => {
    for (const o of observers) {
      try {
        (o[key] as ((...a: unknown[]) => void) | undefined)?.(...args);
      } catch {
        // An observer is never allowed to break a migration.
      }
    }
  };
  return {
    onPlan: each('onPlan'), onSourceTotal: each('onSourceTotal'), onFolderStart: each('onFolderStart'), onProgress: each('onProgress'),
    onFolderDone: each('onFolderDone'), onRetry: each('onRetry'), onWarning: each('onWarning'),
  };
}

/** Items per second with one decimal. */
const rateOf = (items: number, ms: number): number => Math.round((Math.max(0, items) * 1000 / ms) * 10) / 10;

type AbortReason = 'stop' | 'shutdown' | 'remove';

interface Running {
  claim: ClaimedUser;
  controller: AbortController;
  reason: AbortReason | null;
  done: Promise<void>;
}


/** `host:pid:nonce` — a lease of a process that no longer exists on this host is dead. */
export function isDeadOwner(owner: string): boolean {
  const [host, pid] = owner.split(':');
  if (host !== hostname() || !pid) return false;
  return !processAlive(Number(pid));
}

const INTERRUPTED: ErrorCode = 'BATCH_SYNC_INTERRUPTED';

export class BatchRunner {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly running = new Map<number, Running>();
  /** One allowance of in-memory message bytes for every mailbox this runner copies at once. */
  private readonly byteBudget = new ByteBudget(DEFAULT_BYTE_BUDGET);
  /** Extra folder workers of the mailboxes copied at once come out of one count of connections. */
  private readonly connectionBudget: ConnectionBudget;
  private stopping = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  readonly options: BatchRunnerOptions;

  constructor(private readonly ctx: BatchContext, options: Partial<BatchRunnerOptions> = {}) {
    this.options = { ...DEFAULT_RUNNER_OPTIONS, ...options };
    this.connectionBudget = new ConnectionBudget(this.options.maxConnections);
  }

  get activeCount(): number {
    return this.running.size;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  /** Runs until stop(); resolves when every running mailbox has been aborted and written back. */
  start(): Promise<void> {
    this.loop ??= (async () => {
      while (!this.stopping) {
        try {
          await this.tick();
        } catch (err) {
          this.log(`runner: ${err instanceof Error ? err.message : String(err)}`);
        }
        if (this.stopping) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.pollMs);
          this.wake = () => { clearTimeout(timer); resolve(); };
        });
        this.wake = null;
      }
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
    })();
    return this.loop;
  }

  /** Graceful: stop claiming, abort running mailboxes (they resume later), release their leases. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const r of this.running.values()) this.abort(r, 'shutdown');
    this.wake?.();
    if (this.loop) await this.loop;
    else await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  private abort(r: Running, reason: AbortReason): void {
    if (r.reason) return;
    r.reason = reason;
    r.controller.abort(new MailshiftError(INTERRUPTED, { address: r.claim.user.email_address, reason: reason === 'stop' ? 'the batch was stopped' : reason === 'remove' ? 'the batch is being removed' : 'the service is shutting down' }));
  }

  /** One pass: reclaim dead leases, apply commands, settle statuses, claim and start due users. */
  async tick(): Promise<void> {
    const { repo, clock } = this.ctx;
    await repo.reapLeases(clock.now(), isDeadOwner);
    const batches = this.options.onlyBatchId !== undefined
      ? [await repo.batchById(this.options.onlyBatchId)].filter((b) => b !== null)
      : await repo.listBatches();
    const limits = new Map<number, EndpointLimits>();
    for (const batch of batches) {
      const mine = [...this.running.values()].filter((r) => r.claim.batch.id === batch.id);
      if (batch.status === 'Removing') {
        for (const r of mine) this.abort(r, 'remove');
        const { leased } = await repo.statusCounts(batch.id);
        if (leased === 0) {
          await repo.deleteBatch(batch.id);
          this.log(`batch ${batch.name}: removed`);
        }
        continue;
      }
      if (batch.status === 'Stopping') for (const r of mine) this.abort(r, 'stop');
      if (batch.complete_after !== null && batch.complete_after <= clock.now() && (batch.status === 'Synced' || batch.status === 'SyncedWithErrors')) {
        await completeBatch(this.ctx, batch.name);
        this.log(`batch ${batch.name}: completing (scheduled)`);
      }
      await this.settle(batch.id);
      for (const id of [batch.source_endpoint_id]) {
        if (limits.has(id)) continue;
        const ep = await this.ctx.endpoints.byId(id);
        if (ep) limits.set(id, { maxConcurrentMigrations: ep.maxConcurrentMigrations, maxConcurrentIncrementalSyncs: ep.maxConcurrentIncrementalSyncs });
      }
    }
    if (this.stopping) return;
    const free = this.options.maxParallel - this.running.size;
    if (free <= 0) return;
    const claims = await repo.claim({
      owner: this.owner, now: clock.now(), leaseMs: this.options.leaseMs, max: free,
      ...(this.options.onlyBatchId !== undefined ? { onlyBatchId: this.options.onlyBatchId } : {}),
      limitsFor: (id) => limits.get(id) ?? null,
    });
    for (const claim of claims) this.launch(claim);
    // A claim moves a Starting batch to Syncing at once, rather than on the next poll.
    for (const id of new Set(claims.map((c) => c.batch.id))) await this.settle(id);
  }

  /** Derives the batch status from its users; a batch that finishes a phase is mailed once. */
  private async settle(batchId: number): Promise<void> {
    const [before, after] = await settleStatus(this.ctx, batchId);
    if (before === after) return;
    const batch = await this.ctx.repo.batchById(batchId);
    if (!batch) return;
    this.log(`batch ${batch.name}: ${before} -> ${after}`);
    if (!(FINISHED_BATCH_STATUSES as readonly string[]).includes(after)) return;
    const now = this.ctx.clock.now();
    await this.ctx.repo.updateBatch(batchId, { finished_at: now, notified_status: after }, now);
    const to = JSON.parse(batch.notify) as string[];
    if (to.length === 0 || !this.ctx.notifier) return;
    try {
      await this.ctx.notifier.batchFinished(to, await buildBatchReport(this.ctx, { ...batch, status: after }));
      this.log(`batch ${batch.name}: notification sent to ${to.join(', ')}`);
    } catch (err) {
      this.log(`batch ${batch.name}: the notification mail could not be sent: ${isMailshiftError(err) ? `${err.message} ${err.remediation}` : String(err)}`);
    }
  }

  private launch(claim: ClaimedUser): void {
    const controller = new AbortController();
    const entry: Running = { claim, controller, reason: null, done: Promise.resolve() };
    this.running.set(claim.user.id, entry);
    entry.done = this.runUser(entry).catch((err: unknown) => {
      this.log(`${claim.user.email_address}: ${err instanceof Error ? err.message : String(err)}`);
    }).finally(() => {
      this.running.delete(claim.user.id);
      this.wake?.();
    });
  }

  private migrationOptions(claim: ClaimedUser, conns: UserConnections): MigrationOptions {
    const { batch, user } = claim;
    // Written as a cast so the options stay valid while the engine grows new ones (folderConcurrency).
    return {
      ...DEFAULT_SYNC_OPTIONS,
      folderConcurrency: 2,
      since: batch.since,
      maxMessageSize: batch.max_message_size,
      rules: { exclude: JSON.parse(batch.exclude_folders) as string[], ...(user.user_root ? { userRoot: user.user_root } : {}) },
      dryRun: false,
      verify: true,
      maxRetries: this.options.engineRetries,
      sourceLabel: describeAccount(conns.source),
      targetLabel: describeAccount(conns.target),
    } as MigrationOptions;
  }

  private async runUser(entry: Running): Promise<void> {
    const { claim } = entry;
    const { repo, clock } = this.ctx;
    const { user, batch } = claim;
    let mailboxId = user.mailbox_id;
    // Live counters: Items Synced, skipped and bytes from the ledger (the engine commits to it before
    // it reports progress), and the rate between two refreshes (wall-clock time, at least 1 s apart).
    const writes = new Set<Promise<unknown>>();
    const track = (p: Promise<unknown>): void => {
      const q = p.catch(() => undefined).finally(() => writes.delete(q));
      writes.add(q);
    };
    let measured: { items: number; at: number } | null = null;
    let refreshing: Promise<void> | null = null;
    let lastRefresh = 0;
    let trailing: NodeJS.Timeout | null = null;
    const refresh = (): void => {
      if (mailboxId === null || refreshing) return;
      const id = mailboxId;
      lastRefresh = Date.now();
      refreshing = (async () => {
        const t = await repo.ledgerTotals(id);
        const at = Date.now();
        const patch: Updateable<BatchUserTable> = { items_synced: t.synced, items_skipped: t.skipped, bytes_synced: t.bytes };
        if (measured === null) measured = { items: t.synced, at };
        else if (at - measured.at >= 1000) {
          patch.items_per_second = rateOf(t.synced - measured.items, at - measured.at);
          measured = { items: t.synced, at };
        }
        await repo.updateLeasedUser(user.id, this.owner, patch, clock.now());
      })().finally(() => { refreshing = null; });
      track(refreshing);
    };
    const onProgress = (): void => {
      const wait = lastRefresh + this.options.progressMs - Date.now();
      if (wait <= 0 && !refreshing) refresh();
      else trailing ??= setTimeout(() => { trailing = null; refresh(); }, Math.max(wait, 50));
    };
    const progressObserver: MigrationObserver = {
      onSourceTotal: (messages) => track(repo.updateLeasedUser(user.id, this.owner, { items_total: messages }, clock.now())),
      onProgress,
    };
    const beat = setInterval(() => {
      track((async () => {
        await repo.heartbeat(this.owner, [user.id], clock.now() + this.options.leaseMs);
        refresh();
      })());
    }, Math.max(200, Math.floor(this.options.leaseMs / 3)));
    let report: MigrationReport | null = null;
    let failure: MailshiftError | null = null;
    let conns: UserConnections | null = null;
    try {
      conns = await userConnections(this.ctx, batch, user);
      mailboxId = await ensureMailbox(this.ctx.db, {
        pairKey: pairKey(conns.source, conns.target), sourceLabel: describeAccount(conns.source), targetLabel: describeAccount(conns.target),
      }, clock.now());
      await repo.updateLeasedUser(user.id, this.owner, { mailbox_id: mailboxId, items_per_second: null }, clock.now());
      refresh();
      this.log(`${user.email_address}: ${claim.kind} sync started`);
      const observer = this.options.observerFor
        ? combineObservers(progressObserver, this.options.observerFor(user.email_address, batch.name))
        : progressObserver;
      report = await runMigration({
        db: this.ctx.db, statePath: this.ctx.statePath, source: conns.source, target: conns.target,
        options: this.migrationOptions(claim, conns), signal: entry.controller.signal, byteBudget: this.byteBudget, connectionBudget: this.connectionBudget,
        observer,
        ...(this.ctx.openStore ? { openStore: this.ctx.openStore } : {}),
      });
    } catch (err) {
      failure = isMailshiftError(err) ? err : new MailshiftError('INTERNAL', { detail: err instanceof Error ? err.message : String(err) });
    } finally {
      clearInterval(beat);
      if (trailing) clearTimeout(trailing);
      // The live writes land before the outcome (which releases the lease) is written.
      while (writes.size > 0) await Promise.all([...writes]);
    }
    await this.finish(entry, report, failure, conns, mailboxId);
  }

  private async finish(entry: Running, report: MigrationReport | null, thrown: MailshiftError | null, conns: UserConnections | null, mailboxId: number | null): Promise<void> {
    const { claim } = entry;
    const { repo, clock } = this.ctx;
    const { user } = claim;
    const now = clock.now();
    const batch = await repo.batchById(claim.batch.id);
    const patch: Updateable<BatchUserTable> = { lease_owner: null, lease_until: null, sync_started_at: null, items_per_second: null };
    // The last sync's warnings replace the ones before (a folder renamed then is warned again by
    // every sync that copies into it); a sync that ended without a report leaves them.
    if (report) patch.warnings = warningsColumn(report.warnings);
    if (mailboxId !== null) {
      const t = await repo.ledgerTotals(mailboxId);
      Object.assign(patch, { items_synced: t.synced, items_skipped: t.skipped, bytes_synced: t.bytes });
    }
    if (!batch || entry.reason === 'remove') {
      await repo.updateLeasedUser(user.id, this.owner, patch, now);
      return;
    }
    const interval = this.options.incrementalIntervalMs ?? batch.incremental_interval_ms;
    const failed = report ? report.status === 'failed' : true;
    const reportError: ReportedError | undefined = report ? (failed ? report.errors[report.errors.length - 1] : report.errors[0]) : undefined;
    let status: UserStatus;
    // A sync that did not end the user's migration (an incremental or initial one) turns into a
    // request for the final sync when the batch is Completing by the time this is written.
    let toCompleting = false;

    if (entry.reason === 'stop' || batch.status === 'Stopping') {
      status = 'Stopped';
      Object.assign(patch, { sync_requested: 0 });
    } else if (entry.reason === 'shutdown') {
      // Back to where the next runner picks it up at once; the ledger resumes the copy exactly.
      status = claim.kind === 'initial' ? 'Queued' : claim.kind === 'final' ? 'Completing' : claim.previousStatus === 'IncrementalFailed' ? 'IncrementalFailed' : claim.previousStatus;
      Object.assign(patch, { sync_requested: claim.kind === 'initial' ? 0 : 1 });
    } else if (!failed && report) {
      status = claim.kind === 'initial' ? 'Synced' : claim.kind === 'final' ? 'Completed' : 'IncrementalSynced';
      toCompleting = claim.kind !== 'final';
      const e = report.errors[0];
      Object.assign(patch, {
        last_sync_at: now, next_sync_at: now + interval, attempts: 0,
        error_code: e?.code ?? null, error_message: e ? (e.folder ? `${e.folder}: ${e.message}` : e.message) : null, error_remediation: e?.remediation ?? null,
      });
      if (report.warnings.some((w) => w.includes('source is Gmail'))) await this.addBatchWarning(batch.id, new MailshiftError('BATCH_GMAIL_LABELS').message);
    } else {
      let error: { code: ErrorCode; message: string; remediation: string } = thrown
        ? { code: thrown.code, message: thrown.message, remediation: thrown.remediation }
        : reportError ? { code: reportError.code, message: reportError.message, remediation: reportError.remediation }
        : { code: 'INTERNAL', message: 'The sync failed without an error.', remediation: ERROR_CATALOG.INTERNAL.remediation };
      if (error.code === 'AUTH_FAILED' && conns?.targetViaAdmin && await this.recipientMissing(claim, conns)) {
        const e = new MailshiftError('AUTH_RECIPIENT_NOT_FOUND', { address: user.email_address });
        error = { code: e.code, message: e.message, remediation: e.remediation };
      }
      const attempts = user.attempts + 1;
      const permanent = ERROR_CATALOG[error.code].retry === 'never' || attempts >= MAX_TRANSIENT_ATTEMPTS;
      Object.assign(patch, { error_code: error.code, error_message: error.message, error_remediation: error.remediation, attempts });
      if (permanent) {
        status = claim.kind === 'incremental' ? 'IncrementalFailed' : 'Failed';
        // An incremental sync that failed is tried again at the next interval (or on retry/sync-now).
        Object.assign(patch, { next_sync_at: claim.kind === 'incremental' ? now + interval : null, sync_requested: 0 });
        toCompleting = claim.kind === 'incremental';
      } else {
        status = claim.kind === 'initial' ? 'Queued' : claim.kind === 'final' ? 'Completing' : claim.previousStatus;
        Object.assign(patch, { next_sync_at: now + userBackoffMs(attempts, this.options.backoffBaseMs), sync_requested: 0 });
      }
    }
    patch.status = status;
    status = (await repo.finishLeasedUser(user.id, batch.id, this.owner, patch, now, toCompleting)).status ?? status;
    this.log(`${user.email_address}: ${status}${patch.error_code ? ` (${String(patch.error_code)})` : ''}`);
    this.options.onUserFinished?.(user.email_address, status);
    await this.settle(batch.id);
  }

  /**
   * The target refused the impersonated login. If the admin's credentials work — it signs in by
   * itself, or on behalf of another mailbox of the batch (Dovecot master users cannot sign in alone)
   * — then the mailbox named by EmailAddress does not exist on the target: the seeds' "A recipient
   * wasn't found for X on the target".
   */
  private async recipientMissing(claim: ClaimedUser, conns: UserConnections): Promise<boolean> {
    const admin = conns.targetEndpoint.admin;
    if (!admin) return false;
    const open = this.ctx.openStore ?? ((s, side) => openMailStore(s, { side }));
    const works = async (settings: UserConnections['target']): Promise<boolean> => {
      try {
        const store = await open(settings, 'target');
        await store.close().catch(() => undefined);
        return true;
      } catch {
        return false;
      }
    };
    // The failed sign-in may have been the source's: then the target login works as it is.
    if (await works(conns.target)) return false;
    const { authzid: _ignored, ...alone } = conns.target;
    if (await works({ ...alone, user: admin.user })) return true;
    const others = (await this.ctx.repo.listUsers(claim.batch.id))
      .filter((u) => u.id !== claim.user.id && !u.target_user_name)
      .sort((a, b) => Number(b.last_sync_at !== null) - Number(a.last_sync_at !== null))
      .slice(0, 2);
    for (const other of others) {
      const settings = await this.ctx.endpoints.resolver.connectionFor(conns.targetEndpoint, { user: other.email_address, password: null, mailbox: other.email_address });
      if (await works(settings)) return true;
    }
    return false;
  }

  private async addBatchWarning(batchId: number, warning: string): Promise<void> {
    const batch = await this.ctx.repo.batchById(batchId);
    if (!batch) return;
    const warnings = JSON.parse(batch.warnings) as string[];
    if (warnings.includes(warning)) return;
    await this.ctx.repo.updateBatch(batchId, { warnings: JSON.stringify([...warnings, warning]) }, this.ctx.clock.now());
  }
}

/** For `batch run`: the batch has nothing left to do in the foreground. */
export function isSettled(status: BatchStatus): boolean {
  return !['Starting', 'Syncing', 'IncrementalSyncing', 'Completing', 'Stopping', 'Removing'].includes(status);
}
