/**
 * Independent comparison of source and target, folder by folder, by content: what is missing,
 * duplicated or extra, and whether flags and INTERNALDATEs match. It reads both servers and trusts
 * no ledger, so it also checks migrations done by other tools.
 */
import type { MessageMeta } from '../domain/mail-types.js';
import { isMailshiftError } from '../domain/errors.js';
import type { FolderPlanEntry } from './folder-mapping.js';
import type { VerifyFolderResult, VerifyResult } from './migration-report.js';
import type { MailStore } from './ports.js';
import { bodyHash, contentKey } from './content-key.js';
import { filterFlagsForTarget, normalizeFlags, sameFlags } from './flags.js';

export interface VerifyOptions {
  /** Compare full message bytes (SHA-256 of BODY[]) instead of header section + size. */
  deep: boolean;
  since: number | null;
  maxMessageSize: number;
  /** Source UIDs per source folder that are known not to be copied on purpose (skipped items). */
  expectedAbsent?: ReadonlyMap<string, ReadonlySet<number>>;
  onFolder?(result: VerifyFolderResult): void;
}

interface Indexed extends MessageMeta {
  key: string;
}

const CHUNK = 250;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function index(store: MailStore, metas: readonly MessageMeta[], deep: boolean): Promise<Indexed[]> {
  const keys = new Map<number, string>();
  for (const part of chunks(metas.map((m) => m.uid), CHUNK)) {
    if (deep) {
      for await (const m of store.fetchMessages(part)) keys.set(m.uid, bodyHash(m.raw));
    } else {
      for await (const h of store.fetchHeaders(part)) keys.set(h.uid, contentKey(h.header, h.size));
    }
  }
  return metas.filter((m) => keys.has(m.uid)).map((m) => ({ ...m, key: keys.get(m.uid)! }));
}

async function listAll(store: MailStore): Promise<MessageMeta[]> {
  const out: MessageMeta[] = [];
  for await (const m of store.fetchMeta('all')) out.push(m);
  return out;
}

function group(items: readonly Indexed[]): Map<string, Indexed[]> {
  const map = new Map<string, Indexed[]>();
  for (const item of items) {
    const list = map.get(item.key);
    if (list) list.push(item); else map.set(item.key, [item]);
  }
  for (const list of map.values()) list.sort((a, b) => a.internalDate - b.internalDate || a.uid - b.uid);
  return map;
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

export async function verifyFolder(source: MailStore, target: MailStore, folder: FolderPlanEntry, options: VerifyOptions): Promise<VerifyFolderResult> {
  const result: VerifyFolderResult = {
    sourcePath: folder.sourcePath, targetPath: folder.targetPath, expected: 0, found: 0,
    missing: 0, duplicated: 0, extra: 0, flagMismatches: 0, dateMismatches: 0, examples: [],
  };
  const example = (text: string): void => {
    if (result.examples.length < 5) result.examples.push(text);
  };
  await source.openFolder(folder.sourcePath, { readOnly: true });
  const absent = options.expectedAbsent?.get(folder.sourcePath);
  const sourceMetas = (await listAll(source)).filter((m) =>
    !(options.since !== null && m.internalDate < options.since) && m.size <= options.maxMessageSize && !absent?.has(m.uid));
  const sourceIndex = await index(source, sourceMetas, options.deep);
  result.expected = sourceIndex.length;

  let targetIndex: Indexed[] = [];
  let permanentFlags: string[] = [];
  try {
    const status = await target.openFolder(folder.targetPath, { readOnly: true });
    permanentFlags = status.permanentFlags;
    targetIndex = await index(target, await listAll(target), options.deep);
  } catch (err) {
    if (!isMailshiftError(err) || err.spec.class !== 'protocol') throw err;
    example(`target folder "${folder.targetPath}" cannot be opened: ${err.message}`);
  }
  // PERMANENTFLAGS of an EXAMINEd folder can be empty; keywords are only judged where the target keeps them.
  result.found = targetIndex.length;

  const sourceGroups = group(sourceIndex);
  const targetGroups = group(targetIndex);
  for (const [key, sources] of sourceGroups) {
    const targets = targetGroups.get(key) ?? [];
    if (targets.length < sources.length) {
      result.missing += sources.length - targets.length;
      for (const s of sources.slice(targets.length)) example(`missing: source uid ${s.uid} (${new Date(s.internalDate).toISOString()}, ${s.size} bytes)`);
    } else if (targets.length > sources.length) {
      result.duplicated += targets.length - sources.length;
      example(`duplicated: ${targets.length} copies of source uid ${sources[0]!.uid} on the target`);
    }
    // Identical messages may carry different flags: pair exact matches first, then the rest in order.
    const signature = (m: Indexed, flags: readonly string[]): string => `${seconds(m.internalDate)}|${normalizeFlags(flags).map((f) => f.toLowerCase()).join(' ')}`;
    const freeTargets = [...targets];
    const unpaired: Indexed[] = [];
    for (const s of sources) {
      const want = signature(s, filterFlagsForTarget(s.flags, permanentFlags).flags);
      const at = freeTargets.findIndex((t) => signature(t, t.flags) === want);
      if (at >= 0) freeTargets.splice(at, 1); else unpaired.push(s);
    }
    const pairs = Math.min(unpaired.length, freeTargets.length);
    for (let i = 0; i < pairs; i++) {
      const s = unpaired[i]!;
      const t = freeTargets[i]!;
      const expected = filterFlagsForTarget(s.flags, permanentFlags).flags;
      if (!sameFlags(expected, t.flags)) {
        result.flagMismatches++;
        example(`flags differ: source uid ${s.uid} [${expected.join(' ')}] vs target uid ${t.uid} [${t.flags.join(' ')}]`);
      }
      if (seconds(s.internalDate) !== seconds(t.internalDate)) {
        result.dateMismatches++;
        example(`INTERNALDATE differs: source uid ${s.uid} ${new Date(s.internalDate).toISOString()} vs target uid ${t.uid} ${new Date(t.internalDate).toISOString()}`);
      }
    }
  }
  for (const [key, targets] of targetGroups) {
    if (!sourceGroups.has(key)) {
      result.extra += targets.length;
      example(`extra: target uid ${targets[0]!.uid} has no counterpart on the source`);
    }
  }
  options.onFolder?.(result);
  return result;
}

export async function verifyMailbox(source: MailStore, target: MailStore, folders: readonly FolderPlanEntry[], options: VerifyOptions): Promise<VerifyResult> {
  const results: VerifyFolderResult[] = [];
  for (const folder of folders) {
    if (!folder.selectable) continue;
    results.push(await verifyFolder(source, target, folder, options));
  }
  const sum = (pick: (r: VerifyFolderResult) => number): number => results.reduce((n, r) => n + pick(r), 0);
  const missing = sum((r) => r.missing);
  const duplicated = sum((r) => r.duplicated);
  const flagMismatches = sum((r) => r.flagMismatches);
  const dateMismatches = sum((r) => r.dateMismatches);
  return {
    // Extra target messages (mail that arrived on the target, or was there before) are reported but not an inconsistency.
    consistent: missing === 0 && duplicated === 0 && flagMismatches === 0 && dateMismatches === 0,
    expected: sum((r) => r.expected), missing, duplicated, extra: sum((r) => r.extra), flagMismatches, dateMismatches,
    folders: results,
  };
}
