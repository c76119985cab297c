/**
 * Plans which source folder goes to which target folder. Pure: it sees two folder lists and the
 * user's rules, nothing else.
 */
import type { FolderInfo, SpecialUse } from '../domain/mail-types.js';
import { EXCLUSION_TOKENS, guessSpecialUse } from './special-folder-names.js';

export interface FolderRules {
  /** "Old=New" pairs, written with '/' between levels; a rule applies to the folder's subfolders too. */
  map?: ReadonlyArray<{ from: string; to: string }>;
  /** Exact names, globs (* and ?), or tokens like #JunkEmail#; case-insensitive; a match excludes the subtree. */
  exclude?: readonly string[];
  /** When given, only these folders (and their subfolders) are migrated. */
  include?: readonly string[];
  /** Only this source subtree is migrated, and it becomes the target's root (the CSV's UserRoot). */
  userRoot?: string;
}

export interface StoreLayout {
  folders: readonly FolderInfo[];
  delimiter: string | null;
  namespacePrefix: string;
}

export type MappingReason = 'inbox' | 'special-use' | 'name-guess' | 'user-map' | 'same-name';

export interface FolderPlanEntry {
  sourcePath: string;
  targetPath: string;
  /** Logical path with '/' between levels, as shown to users. */
  displayPath: string;
  selectable: boolean;
  specialUse: SpecialUse | null;
  reason: MappingReason;
}

export interface FolderPlan {
  folders: FolderPlanEntry[];
  excluded: Array<{ sourcePath: string; rule: string }>;
  /** Target folders that must be created, parents before children. */
  toCreate: string[];
  /** Two source folders that would land in one target folder: the second one is renamed. */
  warnings: string[];
}

const MIGRATABLE_SPECIAL_USES: ReadonlySet<SpecialUse> = new Set(['\\Sent', '\\Trash', '\\Junk', '\\Drafts', '\\Archive']);

function splitPath(path: string, delimiter: string | null, prefix: string): string[] {
  let rest = path;
  if (prefix && rest.toUpperCase() !== 'INBOX' && rest.startsWith(prefix)) rest = rest.slice(prefix.length);
  if (!delimiter) return [rest];
  return rest.split(delimiter);
}

function joinPath(segments: readonly string[], delimiter: string | null, prefix: string): string {
  if (segments.length === 1 && segments[0]!.toUpperCase() === 'INBOX') return 'INBOX';
  const sep = delimiter ?? '/';
  // A level name that contains the target's delimiter would silently create an extra level.
  const safe = segments.map((s) => (delimiter ? s.split(delimiter).join('_') : s));
  return prefix + safe.join(sep);
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

/** True when `pattern` names this folder or one of its ancestors. */
function matchesSubtree(pattern: string, logical: readonly string[]): boolean {
  const re = globToRegExp(pattern.replace(/\/+$/, ''));
  for (let depth = 1; depth <= logical.length; depth++) {
    if (re.test(logical.slice(0, depth).join('/'))) return true;
  }
  return false;
}

function startsWithSegments(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((seg, i) => seg.toLowerCase() === path[i]!.toLowerCase());
}

function sourceSpecialUse(folder: FolderInfo, logical: readonly string[], serverHasSpecialUse: boolean): { use: SpecialUse | null; guessed: boolean } {
  if (folder.specialUse) return { use: folder.specialUse, guessed: false };
  if (serverHasSpecialUse || logical.length !== 1) return { use: null, guessed: false };
  return { use: guessSpecialUse(logical[0]!), guessed: true };
}

export function planFolders(source: StoreLayout, target: StoreLayout, rules: FolderRules = {}): FolderPlan {
  const rootSegments = rules.userRoot ? rules.userRoot.split(/[/.]/).filter(Boolean) : [];
  const sourceHasSpecialUse = source.folders.some((f) => f.specialUse !== null);
  const targetHasSpecialUse = target.folders.some((f) => f.specialUse !== null);

  // Where each special use lives on the target: by its SPECIAL-USE attribute, else by a name guess.
  const targetSpecial = new Map<SpecialUse, string[]>();
  for (const folder of target.folders) {
    const logical = splitPath(folder.path, target.delimiter, target.namespacePrefix);
    const use = folder.specialUse ?? (!targetHasSpecialUse && logical.length === 1 ? guessSpecialUse(logical[0]!) : null);
    if (use && !targetSpecial.has(use)) targetSpecial.set(use, logical);
  }

  const userMaps = (rules.map ?? []).map((m) => ({
    from: m.from.split('/').filter(Boolean),
    to: m.to.split('/').filter(Boolean),
    text: `${m.from}=${m.to}`,
  }));

  const plan: FolderPlan = { folders: [], excluded: [], toCreate: [], warnings: [] };
  const claimedTargets = new Map<string, string>();
  const specialBySource = new Map<string, { use: SpecialUse | null; guessed: boolean }>();

  /** The folder's levels below the namespace prefix and the UserRoot; null when outside the root. */
  const relative = (folder: FolderInfo): string[] | null => {
    const logical = splitPath(folder.path, source.delimiter, source.namespacePrefix);
    if (rootSegments.length === 0) return logical;
    if (!startsWithSegments(logical, rootSegments) || logical.length === rootSegments.length) return null;
    return logical.slice(rootSegments.length);
  };

  // First pass: which source folders carry a special use, so subfolders can follow their parent.
  for (const folder of source.folders) {
    const logical = relative(folder);
    if (logical) specialBySource.set(logical.join('/').toLowerCase(), sourceSpecialUse(folder, logical, sourceHasSpecialUse));
  }

  const sorted = [...source.folders].sort((a, b) => a.path.localeCompare(b.path));
  for (const folder of sorted) {
    const logical = relative(folder);
    if (!logical) continue;
    const display = logical.join('/');
    const own = specialBySource.get(display.toLowerCase()) ?? { use: null, guessed: false };

    const exclusion = (rules.exclude ?? []).find((pattern) => {
      const token = EXCLUSION_TOKENS[pattern.toLowerCase()];
      if (token) {
        // A token excludes the special folder and its subtree.
        for (let depth = 1; depth <= logical.length; depth++) {
          const ancestor = specialBySource.get(logical.slice(0, depth).join('/').toLowerCase());
          if (ancestor?.use === token) return true;
        }
        return false;
      }
      return matchesSubtree(pattern, logical);
    });
    if (exclusion !== undefined) {
      plan.excluded.push({ sourcePath: folder.path, rule: exclusion });
      continue;
    }
    if (rules.include && rules.include.length > 0 && !rules.include.some((p) => matchesSubtree(p, logical))) {
      plan.excluded.push({ sourcePath: folder.path, rule: '(not in --folder)' });
      continue;
    }

    let targetLogical: string[] = logical;
    let reason: MappingReason = 'same-name';
    const userMap = [...userMaps].sort((a, b) => b.from.length - a.from.length).find((m) => startsWithSegments(logical, m.from));
    if (logical.length === 1 && logical[0]!.toUpperCase() === 'INBOX') {
      targetLogical = ['INBOX'];
      reason = 'inbox';
    }
    if (userMap) {
      targetLogical = [...userMap.to, ...logical.slice(userMap.from.length)];
      reason = 'user-map';
    } else if (reason !== 'inbox') {
      // Follow the nearest ancestor (or the folder itself) that has a special use.
      for (let depth = logical.length; depth >= 1; depth--) {
        const ancestorPath = logical.slice(0, depth);
        const info = depth === logical.length ? own : specialBySource.get(ancestorPath.join('/').toLowerCase());
        if (!info?.use || !MIGRATABLE_SPECIAL_USES.has(info.use)) continue;
        const targetRoot = targetSpecial.get(info.use);
        if (!targetRoot) break;
        targetLogical = [...targetRoot, ...logical.slice(depth)];
        reason = info.guessed ? 'name-guess' : 'special-use';
        break;
      }
    }

    let targetPath = joinPath(targetLogical, target.delimiter, target.namespacePrefix);
    const clash = claimedTargets.get(targetPath.toLowerCase());
    if (clash !== undefined) {
      // Merging two source folders into one would hide which messages came from where.
      const renamed = joinPath([...targetLogical.slice(0, -1), `${targetLogical[targetLogical.length - 1]} (${display.replace(/\//g, '-')})`], target.delimiter, target.namespacePrefix);
      plan.warnings.push(`Both "${clash}" and "${folder.path}" map to "${targetPath}"; "${folder.path}" goes to "${renamed}" instead.`);
      targetPath = renamed;
    }
    claimedTargets.set(targetPath.toLowerCase(), folder.path);
    plan.folders.push({ sourcePath: folder.path, targetPath, displayPath: display, selectable: folder.selectable, specialUse: own.use, reason });
  }

  const existing = new Set(target.folders.filter((f) => f.selectable).map((f) => f.path.toLowerCase()));
  const create = new Set<string>();
  for (const entry of plan.folders) {
    if (entry.targetPath.toUpperCase() === 'INBOX') continue;
    const levels = splitPath(entry.targetPath, target.delimiter, target.namespacePrefix);
    for (let depth = 1; depth <= levels.length; depth++) {
      const path = joinPath(levels.slice(0, depth), target.delimiter, target.namespacePrefix);
      if (path.toUpperCase() !== 'INBOX' && !existing.has(path.toLowerCase())) create.add(path);
    }
  }
  plan.toCreate = [...create].sort((a, b) => a.split(target.delimiter ?? '/').length - b.split(target.delimiter ?? '/').length || a.localeCompare(b));
  return plan;
}
