/**
 * Target messages nobody has claimed yet, by content key. A multiset: two identical messages are
 * two entries, so each source message can claim at most one target message.
 */
export class KeyPool {
  private readonly byKey = new Map<string, number[]>();
  private count = 0;

  add(key: string, uid: number): void {
    const list = this.byKey.get(key);
    if (list) list.push(uid); else this.byKey.set(key, [uid]);
    this.count++;
  }

  /** Removes and returns the lowest unclaimed UID with this key. */
  take(key: string): number | undefined {
    const list = this.byKey.get(key);
    if (!list || list.length === 0) return undefined;
    this.count--;
    list.sort((a, b) => a - b);
    const uid = list.shift();
    if (list.length === 0) this.byKey.delete(key);
    return uid;
  }

  get size(): number {
    return this.count;
  }
}
