/**
 * A process-wide allowance for message bytes held in memory (fetched but not yet appended). Every
 * folder worker of every mailbox takes from the same budget before fetching a batch, so memory no
 * longer grows with the number of folders or mailboxes copied at once. A request larger than the
 * whole budget (one huge message) waits until it can have the budget to itself.
 */
export class ByteBudget {
  private available: number;
  private readonly waiters: Array<{ bytes: number; resolve: () => void }> = [];

  constructor(readonly capacity: number) {
    this.available = capacity;
  }

  /** Resolves with a release function once `bytes` (capped at the capacity) are reserved. */
  async acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    const wanted = Math.min(Math.max(0, bytes), this.capacity);
    if (this.waiters.length === 0 && wanted <= this.available) {
      this.available -= wanted;
    } else {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) {
            this.waiters.splice(at, 1);
            reject(signal?.reason);
          }
        };
        // The listener goes when the wait ends: a long run waits thousands of times on one signal.
        const waiter = { bytes: wanted, resolve: () => { signal?.removeEventListener('abort', onAbort); resolve(); } };
        this.waiters.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.available += wanted;
      this.wake();
    };
  }

  private wake(): void {
    // First come, first served: a big request at the head is not overtaken by small ones forever.
    while (this.waiters.length > 0 && this.waiters[0]!.bytes <= this.available) {
      const next = this.waiters.shift()!;
      this.available -= next.bytes;
      next.resolve();
    }
  }
}
