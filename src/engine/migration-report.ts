/** What a mailbox migration did, for summaries, JSON output and reports. */
import type { ErrorCode, ErrorScope } from '../domain/errors.js';

export interface SkippedItem {
  folder: string;
  uid: number;
  date: number;
  subject: string | null;
  size: number;
  reason: string;
}

export interface ReportedError {
  code: ErrorCode;
  scope: ErrorScope;
  message: string;
  remediation: string;
  folder?: string;
}

export interface FolderReport {
  sourcePath: string;
  targetPath: string;
  sourceMessages: number;
  transferred: number;
  /** Found on the target already: copied by an earlier run, or present from elsewhere (adopted). */
  alreadyPresent: number;
  adopted: number;
  skipped: number;
  filtered: number;
  flagsUpdated: number;
  bytes: number;
  created: boolean;
  error?: ReportedError;
}

export interface VerifyFolderResult {
  sourcePath: string;
  targetPath: string;
  expected: number;
  found: number;
  missing: number;
  duplicated: number;
  extra: number;
  flagMismatches: number;
  dateMismatches: number;
  /** Up to a few examples of each problem, for humans. */
  examples: string[];
}

export interface VerifyResult {
  consistent: boolean;
  expected: number;
  missing: number;
  duplicated: number;
  extra: number;
  flagMismatches: number;
  dateMismatches: number;
  folders: VerifyFolderResult[];
}

export interface MigrationReport {
  source: string;
  target: string;
  dryRun: boolean;
  startedAt: number;
  finishedAt: number;
  status: 'completed' | 'completed-with-errors' | 'failed';
  folders: FolderReport[];
  excludedFolders: Array<{ sourcePath: string; rule: string }>;
  totals: {
    folders: number;
    foldersCreated: number;
    sourceMessages: number;
    transferred: number;
    alreadyPresent: number;
    adopted: number;
    skipped: number;
    skippedByReason: Record<string, number>;
    filtered: number;
    flagsUpdated: number;
    keywordsDropped: number;
    bytes: number;
    retries: number;
  };
  skippedItems: SkippedItem[];
  warnings: string[];
  errors: ReportedError[];
  verification: VerifyResult | null;
}
