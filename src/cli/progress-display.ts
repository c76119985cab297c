/**
 * Live progress: on a TTY a redrawn block with one line per mailbox (folder, done/total, MB, msg/s,
 * ETA); on a pipe, plain log lines at folder boundaries so CI logs and files stay readable.
 */
import type { FolderPlanEntry } from '../engine/folder-mapping.js';
import type { FolderReport } from '../engine/migration-report.js';
import type { MigrationObserver } from '../engine/sync-options.js';
import type { MailshiftError } from '../domain/errors.js';
import { formatBytes, formatDuration } from './parse-values.js';

interface Line {
  label: string;
  folder: string;
  /** Source messages accounted for: copied, already on the target, skipped or filtered. */
  done: number;
  /** Source messages in all planned folders once known (STATUS), else the sum of what is to copy. */
  total: number;
  totalKnown: boolean;
  copied: number;
  bytes: number;
  startedAt: number;
  finished: string | null;
}

export class ProgressDisplay {
  private readonly lines: Line[] = [];
  private drawn = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly out: NodeJS.WriteStream, private readonly live: boolean, private readonly quiet = false) {
    if (live) {
      this.timer = setInterval(() => this.draw(), 250);
      this.timer.unref();
    }
  }

  private log(text: string): void {
    if (this.quiet) return;
    if (this.live) {
      this.clear();
      this.out.write(`${text}\n`);
      this.draw();
    } else {
      this.out.write(`${new Date().toISOString()} ${text}\n`);
    }
  }

  observer(label: string): MigrationObserver {
    const line: Line = { label, folder: 'connecting', done: 0, total: 0, totalKnown: false, copied: 0, bytes: 0, startedAt: Date.now(), finished: null };
    this.lines.push(line);
    return {
      onPlan: (plan) => {
        line.folder = 'planning';
        if (!this.live) this.log(`${label}: ${plan.folders.length} folders to sync, ${plan.toCreate.length} to create, ${plan.excluded.length} excluded`);
      },
      onSourceTotal: (messages) => {
        line.total = messages;
        line.totalKnown = true;
      },
      onFolderStart: (folder: FolderPlanEntry, counts) => {
        line.folder = folder.displayPath;
        if (line.totalKnown) line.done += Math.max(0, counts.sourceMessages - counts.toCopy);
        else line.total += counts.toCopy;
        if (!this.live && counts.toCopy > 0) this.log(`${label}: ${folder.displayPath} -> ${folder.targetPath}: ${counts.toCopy} of ${counts.sourceMessages} messages to copy`);
      },
      onProgress: (_folder, delta) => {
        line.done += delta.messages;
        if (delta.bytes > 0) line.copied += delta.messages;
        line.bytes += delta.bytes;
      },
      onFolderDone: (folder: FolderPlanEntry, report: FolderReport) => {
        if (!this.live && (report.transferred > 0 || report.flagsUpdated > 0 || report.skipped > 0)) {
          this.log(`${label}: ${folder.displayPath} done: ${report.transferred} copied, ${report.alreadyPresent} already there, ${report.skipped} skipped, ${report.flagsUpdated} flag updates`);
        }
      },
      onRetry: (error: MailshiftError, attempt, delayMs) => {
        this.log(`${label}: ${error.message} — reconnecting in ${Math.round(delayMs / 1000)} s (attempt ${attempt})`);
      },
      onWarning: (message) => this.log(`${label}: warning: ${message}`),
    };
  }

  finish(label: string, status: string): void {
    const line = this.lines.find((l) => l.label === label);
    if (line) line.finished = status;
    if (!this.live) this.log(`${label}: ${status}`);
  }

  private render(line: Line): string {
    const elapsed = Math.max(1, Date.now() - line.startedAt);
    const rate = (line.copied * 1000) / elapsed;
    const width = 24;
    const fraction = line.total > 0 ? Math.min(1, line.done / line.total) : line.finished ? 1 : 0;
    const filled = Math.round(fraction * width);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const eta = rate > 0 && line.total > line.done ? formatDuration(((line.total - line.done) / rate) * 1000) : '-';
    const state = line.finished ?? line.folder;
    return `${line.label.slice(0, 40).padEnd(40)} ${bar} ${String(line.done).padStart(6)}/${String(line.total).padEnd(6)} ${formatBytes(line.bytes).padStart(9)} ${rate.toFixed(0).padStart(5)} msg/s ETA ${eta.padStart(7)}  ${state.slice(0, 30)}`;
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private draw(): void {
    if (!this.live || this.quiet) return;
    this.clear();
    const visible = this.lines.slice(-20);
    for (const line of visible) this.out.write(`${this.render(line)}\n`);
    this.drawn = visible.length;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.live && !this.quiet) this.draw();
  }
}
