/** Parsers for command-line values; each throws USAGE_INVALID_OPTION with a specific message. */
import { MailshiftError } from '../domain/errors.js';

export { formatBytes } from '../domain/format.js';

const invalid = (detail: string): MailshiftError => new MailshiftError('USAGE_INVALID_OPTION', { detail });

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

export function parseSize(value: string, option: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const factor = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) throw invalid(`${option}: "${value}" is not a size (examples: 35MB, 500KB, 1048576).`);
  return Math.round(Number(match[1]) * factor);
}

export function parseDate(value: string, option: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  if (!match) throw invalid(`${option}: "${value}" is not a date in the form YYYY-MM-DD.`);
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(y, m - 1, d);
  const check = new Date(ms);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d) {
    throw invalid(`${option}: "${value}" is not a valid calendar date.`);
  }
  return ms;
}

export function parsePositiveInt(value: string, option: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || Number(value) > max) {
    throw invalid(`${option}: "${value}" must be a whole number from 1 to ${max}.`);
  }
  return Number(value);
}

export function parsePort(value: string, option: string): number {
  return parsePositiveInt(value, option, 65535);
}

export function parseMapping(value: string): { from: string; to: string } {
  const at = value.indexOf('=');
  if (at <= 0 || at === value.length - 1) throw invalid(`--map: "${value}" must look like "Old folder=New folder".`);
  return { from: value.slice(0, at).trim(), to: value.slice(at + 1).trim() };
}

export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}` : `${m}:${String(s).padStart(2, '0')}`;
}
