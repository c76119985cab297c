/**
 * Connections to each server that the mailboxes of one process may hold at once. A folder worker is
 * two connections to each side (control and fetch on the source, control and APPEND on the target).
 * A mailbox always gets its first worker, so `--concurrency` alone decides how many mailboxes run;
 * its extra workers come from what is left on both its servers, so that 20 mailboxes at once do not
 * open 20 × 3 workers' connections to one server (a default Dovecot serves 100 TLS connections at
 * once and drops the ones beyond; other servers cap connections per client address).
 */
export const CONNECTIONS_PER_WORKER = 2;

/** Default for `--max-connections`: below Dovecot's default of 100 TLS connections at once. */
export const DEFAULT_MAX_CONNECTIONS = 64;

/** Workers a mailbox holds; `shrink` gives back the extra ones early, `release` all of them. */
export interface WorkerLease {
  readonly workers: number;
  shrink(workers: number): void;
  release(): void;
}

/** What the engine asks of the budget for one mailbox: folder workers between its two servers. */
export interface WorkerBudget {
  /**
   * Up to `wanted` workers, never fewer than one: the first is always granted (even over the
   * capacity), each further one only while its connections fit on both servers. Never waits.
   */
  lease(wanted: number): WorkerLease;
}

export class ConnectionBudget {
  private readonly used = new Map<string, number>();

  constructor(readonly capacity: number) {}

  /** Connections counted as held on `server` right now. */
  inUse(server: string): number {
    return this.used.get(server) ?? 0;
  }

  /**
   * The budget as the mailboxes from `source` to `target` see it (servers named as `host:port`). A
   * migration between two accounts of one server puts both sides' connections on it.
   */
  between(source: string, target: string): WorkerBudget {
    const perWorker = new Map<string, number>();
    for (const server of [source, target]) perWorker.set(server, (perWorker.get(server) ?? 0) + CONNECTIONS_PER_WORKER);
    return { lease: (wanted) => this.lease(wanted, perWorker) };
  }

  private lease(wanted: number, perWorker: ReadonlyMap<string, number>): WorkerLease {
    let free = Number.POSITIVE_INFINITY;
    for (const [server, n] of perWorker) free = Math.min(free, Math.floor((this.capacity - this.inUse(server)) / n));
    let held = 0;
    const shrink = (workers: number): void => {
      const keep = Math.max(0, Math.min(held, workers));
      for (const [server, n] of perWorker) {
        const left = this.inUse(server) - (held - keep) * n;
        if (left > 0) this.used.set(server, left);
        else this.used.delete(server);
      }
      held = keep;
    };
    const take = Math.max(1, Math.min(wanted, free));
    for (const [server, n] of perWorker) this.used.set(server, this.inUse(server) + take * n);
    held = take;
    return {
      get workers() {
        return held;
      },
      shrink,
      release: () => shrink(0),
    };
  }
}
