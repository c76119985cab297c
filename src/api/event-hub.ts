/**
 * Live events for /api/events. One poller for every connection: about once a second (only while
 * someone listens) it reads the batches' summaries (one GROUP BY) and the users changed since the
 * last poll (by updated_at), compares them with what it last saw, and sends the differences as
 * Server-Sent Events. A comment line every 15 s keeps proxies from closing idle connections.
 * Nothing sent holds a password: events are built from the same views as the REST responses.
 */
import type { ServerResponse } from 'node:http';
import type { BatchContext } from '../app/batch-context.js';
import { USER_VIEW_COLUMNS, batchSummaries, toBatchUser } from './views.js';
import type { BatchSummaryJson, BatchUserJson } from './views.js';

export interface EventClient {
  res: ServerResponse;
  /** Only events of this batch (lower-case name), or all. */
  batch: string | null;
  /** Only these event types (`?types=`), or all. */
  types?: ReadonlySet<EventType> | null;
}

export const EVENT_TYPES = ['snapshot', 'batch', 'batch-removed', 'user'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

interface UserSeen {
  fingerprint: string;
  status: string;
  items: number;
  at: number;
}

export interface EventHubOptions {
  pollMs?: number;
  heartbeatMs?: number;
  now?: () => number;
  log?: (line: string) => void;
}

export class EventHub {
  private readonly clients = new Set<EventClient>();
  private readonly batches = new Map<string, { fingerprint: string; status: string }>();
  private readonly users = new Map<number, UserSeen>();
  private cursor = 0;
  private nextId = 1;
  private pollTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private primed = false;
  private readonly pollMs: number;
  private readonly heartbeatMs: number;
  private readonly now: () => number;

  constructor(private readonly ctx: BatchContext, private readonly options: EventHubOptions = {}) {
    this.pollMs = options.pollMs ?? 1000;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.now = options.now ?? Date.now;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Adds a connection (headers already written): sends the snapshot, starts polling if needed. */
  async add(client: EventClient): Promise<void> {
    this.clients.add(client);
    client.res.on('close', () => this.remove(client));
    if (!this.primed) await this.prime();
    const batches = await batchSummaries(this.ctx);
    this.send(client, 'snapshot', { time: this.now(), batches: batches.filter((b) => this.wants(client, b.name)) });
    this.startTimers();
  }

  remove(client: EventClient): void {
    this.clients.delete(client);
    if (this.clients.size === 0) this.stopTimers();
  }

  /** Ends every connection (server shutdown). */
  close(): void {
    this.stopTimers();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private wants(client: EventClient, batch: string): boolean {
    return client.batch === null || client.batch === batch.toLowerCase();
  }

  private send(client: EventClient, event: EventType, data: unknown): void {
    if (client.res.writableEnded || client.res.destroyed) return;
    if (client.types && !client.types.has(event)) return;
    client.res.write(`id: ${this.nextId++}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private broadcast(batch: string, event: EventType, data: unknown): void {
    for (const c of this.clients) if (this.wants(c, batch)) this.send(c, event, data);
  }

  private startTimers(): void {
    this.pollTimer ??= setInterval(() => { void this.poll(); }, this.pollMs);
    this.heartbeatTimer ??= setInterval(() => {
      for (const c of this.clients) if (!c.res.writableEnded) c.res.write(`: heartbeat ${this.now()}\n\n`);
    }, this.heartbeatMs);
  }

  private stopTimers(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.pollTimer = null;
    this.heartbeatTimer = null;
    // The next listener starts from a fresh baseline (its snapshot), not from stale diffs.
    this.primed = false;
  }

  /** The baseline: what every batch and user looks like now (no events for it). */
  private async prime(): Promise<void> {
    this.batches.clear();
    this.users.clear();
    for (const b of await batchSummaries(this.ctx)) this.batches.set(b.name, { fingerprint: JSON.stringify(b), status: b.status });
    const rows = await this.ctx.db.selectFrom('batch_users').select([...USER_VIEW_COLUMNS]).execute();
    const now = this.now();
    this.cursor = 0;
    for (const r of rows) {
      const u = toBatchUser(r);
      this.users.set(r.id, { fingerprint: JSON.stringify(u), status: u.status, items: u.itemsSynced, at: now });
      this.cursor = Math.max(this.cursor, Number(r.updated_at));
    }
    this.primed = true;
  }

  /** One poll; overlapping calls share the one in flight. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().catch((err: unknown) => {
      this.options.log?.(`events: ${err instanceof Error ? err.message : String(err)}`);
    }).finally(() => { this.polling = null; });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    if (this.clients.size === 0 || !this.primed) return;
    const time = this.now();
    const summaries = await batchSummaries(this.ctx);
    const seen = new Set<string>();
    const names = new Map<number, string>();
    for (const b of await this.ctx.repo.listBatches()) names.set(b.id, b.name);
    for (const b of summaries) {
      seen.add(b.name);
      const fingerprint = JSON.stringify(b);
      const before = this.batches.get(b.name);
      if (before?.fingerprint === fingerprint) continue;
      this.batches.set(b.name, { fingerprint, status: b.status });
      this.broadcast(b.name, 'batch', { time, batch: b, previousStatus: before?.status ?? null } satisfies { time: number; batch: BatchSummaryJson; previousStatus: string | null });
    }
    let removed = false;
    for (const name of [...this.batches.keys()]) {
      if (seen.has(name)) continue;
      removed = true;
      this.batches.delete(name);
      this.broadcast(name, 'batch-removed', { time, name });
    }

    // Users changed since the last poll. `>=` with the previous maximum: rows written in the same
    // millisecond after the last poll are not missed (the fingerprints drop the repeats).
    const rows = await this.ctx.db.selectFrom('batch_users').select([...USER_VIEW_COLUMNS])
      .where('updated_at', '>=', this.cursor).orderBy('updated_at').execute();
    for (const r of rows) {
      this.cursor = Math.max(this.cursor, Number(r.updated_at));
      const user = toBatchUser(r);
      const fingerprint = JSON.stringify(user);
      const before = this.users.get(r.id);
      if (before?.fingerprint === fingerprint) continue;
      if (!before && user.status === 'Queued' && !user.running) {
        // A user just added (new batch, add-users): the batch event's counts announce it; no
        // per-user flood for a 50,000-row CSV. One that has already moved on between two polls (a
        // small mailbox syncs in under a second) is sent, or a page that fetched it while Queued
        // would never learn that it finished.
        this.users.set(r.id, { fingerprint, status: user.status, items: user.itemsSynced, at: time });
        continue;
      }
      let itemsPerSecond: number | null = null;
      if (before && user.running && user.itemsSynced > before.items && time > before.at) {
        itemsPerSecond = Math.round(((user.itemsSynced - before.items) * 1000 / (time - before.at)) * 10) / 10;
      }
      this.users.set(r.id, { fingerprint, status: user.status, items: user.itemsSynced, at: time });
      const batch = names.get(r.batch_id);
      if (!batch) continue;
      this.broadcast(batch, 'user', { time, batch, user, previousStatus: before?.status ?? null, itemsPerSecond } satisfies { time: number; batch: string; user: BatchUserJson; previousStatus: string | null; itemsPerSecond: number | null });
    }
    if (removed) {
      // Forget the users of removed batches.
      const live = new Set((await this.ctx.db.selectFrom('batch_users').select('id').execute()).map((r) => r.id));
      for (const id of this.users.keys()) if (!live.has(id)) this.users.delete(id);
    }
  }
}
