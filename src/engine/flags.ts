/** Flag handling: what the target accepts, and what changed since the last sync. */

/** The system flags a migration carries over. */
export const COPIED_SYSTEM_FLAGS: readonly string[] = ['\\Seen', '\\Answered', '\\Flagged', '\\Draft'];

const SYSTEM_FLAGS = new Set([...COPIED_SYSTEM_FLAGS, '\\Deleted'].map((f) => f.toLowerCase()));

/** \Recent can never be set by a client; \Deleted is not migrated (we never copy a pending expunge's intent). */
const NEVER_COPIED = new Set(['\\recent', '\\deleted']);

export function isSystemFlag(flag: string): boolean {
  return flag.startsWith('\\');
}

export interface FlagFilterResult {
  flags: string[];
  dropped: string[];
}

/**
 * Keeps the flags the target folder will store permanently. Keywords need '\*' in PERMANENTFLAGS
 * (or to be listed there); an empty PERMANENTFLAGS list means the server did not say, and we try.
 */
export function filterFlagsForTarget(flags: readonly string[], permanentFlags: readonly string[]): FlagFilterResult {
  const permanent = new Set(permanentFlags.map((f) => f.toLowerCase()));
  const unknown = permanent.size === 0;
  const anyKeyword = unknown || permanent.has('\\*');
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const flag of flags) {
    const lower = flag.toLowerCase();
    if (NEVER_COPIED.has(lower)) continue;
    if (SYSTEM_FLAGS.has(lower)) {
      if (unknown || permanent.has(lower)) kept.push(flag); else dropped.push(flag);
    } else if (isSystemFlag(flag)) {
      dropped.push(flag);
    } else if (anyKeyword || permanent.has(lower)) {
      kept.push(flag);
    } else {
      dropped.push(flag);
    }
  }
  return { flags: normalizeFlags(kept), dropped };
}

/** Sorted, de-duplicated (case-insensitively), without \Recent: a canonical form for comparing. */
export function normalizeFlags(flags: Iterable<string>): string[] {
  const byLower = new Map<string, string>();
  for (const flag of flags) {
    if (flag.toLowerCase() === '\\recent') continue;
    const lower = flag.toLowerCase();
    if (!byLower.has(lower)) byLower.set(lower, flag);
  }
  return [...byLower.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, f]) => f);
}

export function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  const na = normalizeFlags(a).map((f) => f.toLowerCase());
  const nb = normalizeFlags(b).map((f) => f.toLowerCase());
  return na.length === nb.length && na.every((f, i) => f === nb[i]);
}

/** The changes to apply on the target so that a source change from `before` to `after` is mirrored. */
export function flagDelta(before: readonly string[], after: readonly string[]): { add: string[]; remove: string[] } {
  const b = new Set(before.map((f) => f.toLowerCase()));
  const a = new Set(after.map((f) => f.toLowerCase()));
  return {
    add: normalizeFlags(after.filter((f) => !b.has(f.toLowerCase()) && !NEVER_COPIED.has(f.toLowerCase()))),
    remove: normalizeFlags(before.filter((f) => !a.has(f.toLowerCase()) && !NEVER_COPIED.has(f.toLowerCase()))),
  };
}
