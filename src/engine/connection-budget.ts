/**
 * Connections to each server that the mailboxes of one process may hold at once. A folder worker is
 * two connections to each server (control and fetch on the source, control and APPEND on the
 * target). A mailbox always gets its first worker, so `--concurrency` alone decides how many
 * mailboxes run; its extra workers come from what is left, so that 20 mailboxes at once do not open
 * 20 × 3 workers' connections to one server (a default Dovecot serves 100 TLS connections at once
 * and drops the ones beyond; other servers cap connections per client address).
 *
 * The count is per process, not per server: mailboxes of different servers count against the same
 * number, which errs on the side of fewer connections.
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

export class ConnectionBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  /** Connections counted as held right now (for tests and logs). */
  get inUse(): number {
    return this.used;
  }

  /**
   * Up to `wanted` workers, never fewer than one: the first is always granted (even over the
   * capacity), each further one only while its connections fit. Never waits.
   */
  lease(wanted: number): WorkerLease {
    const free = Math.floor((this.capacity - this.used) / CONNECTIONS_PER_WORKER);
    let held = Math.max(1, Math.min(wanted, free));
    this.used += held * CONNECTIONS_PER_WORKER;
    const shrink = (workers: number): void => {
      const keep = Math.max(0, Math.min(held, workers));
      this.used -= (held - keep) * CONNECTIONS_PER_WORKER;
      held = keep;
    };
    return {
      get workers() {
        return held;
      },
      shrink,
      release: () => shrink(0),
    };
  }
}
