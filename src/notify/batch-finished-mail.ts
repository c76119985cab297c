/**
 * The e-mail sent to the batch's --notify addresses when it finishes. Its subject is the one admins
 * of Exchange Online's IMAP migration search their inbox for:
 *   E-mail migration batch "NAME" has finished            (every user synced)
 *   E-mail migration batch "NAME" has finished - with errors
 * The body summarises the batch and every user (errors first, each with what to do), and the CSV
 * error report is attached (the seeds' mail only links to a download).
 */
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { MailshiftError } from '../domain/errors.js';
import { type BatchReport, batchHasErrors, countUsersByStatus, percentSynced, skipKindLabel, userHasError, usersWithWarnings } from '../report/batch-report-model.js';
import {
  formatBytesHuman,
  formatCount,
  formatElapsed,
  formatMegabytes,
  formatUtc,
  renderBatchReportCsv,
  renderTable,
} from '../report/render-batch-report.js';
import type { SmtpConfig } from './smtp-config.js';

export interface BatchFinishedMail {
  subject: string;
  text: string;
  html: string;
  attachment: { filename: string; content: string };
}

/** Control characters (a CR/LF in a name must never reach a header) become spaces. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

export function batchFinishedSubject(report: BatchReport): string {
  const base = `E-mail migration batch "${oneLine(report.batch.name)}" has finished`;
  return batchHasErrors(report) ? `${base} - with errors` : base;
}

/** `mailshift-batch-NAME-report.csv`, with the name reduced to characters safe in any mail client. */
export function reportFilename(batchName: string): string {
  const safe = batchName.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80);
  return `mailshift-batch-${safe || 'report'}-report.csv`;
}

/** What this report does that the seeds' one does not; each line is true of every mailshift batch. */
const STRENGTHS = [
  'Read/unread state, flags and received dates were copied with every message, and later changes are mirrored by each incremental sync.',
  'Each skipped item is listed in the attached report with its folder, date, subject, size and reason.',
  'Each error comes with what to do about it, in this mail and in the report.',
  'Nothing is copied twice: a retried or resumed user continues where it stopped.',
];

function timings(report: BatchReport): string[] {
  const b = report.batch;
  const out = [`Created:   ${formatUtc(b.createdAt)} UTC`];
  if (b.startedAt !== null) out.push(`Started:   ${formatUtc(b.startedAt)} UTC`);
  if (b.completedAt !== null) out.push(`Finished:  ${formatUtc(b.completedAt)} UTC`);
  if (b.startedAt !== null && b.completedAt !== null) out.push(`Duration:  ${formatElapsed(b.completedAt - b.startedAt)}`);
  return out;
}

function buildText(report: BatchReport, subject: string): string {
  const b = report.batch;
  const t = b.totals;
  const failing = report.users.filter(userHasError);
  const lines: string[] = [`${subject}.`, ''];
  lines.push(`Batch:     ${oneLine(b.name)} (${b.status})`);
  lines.push(`Source:    ${b.source}`);
  lines.push(`Target:    ${b.target}`);
  lines.push(...timings(report));
  lines.push(`Users:     ${formatCount(t.users)} total, ${formatCount(t.synced)} synced (${percentSynced(report).toFixed(1)}%), ${formatCount(t.failed)} failed`);
  const byStatus = countUsersByStatus(report);
  if (byStatus.length > 0) lines.push(`           ${byStatus.map(([s, n]) => `${s}: ${formatCount(n)}`).join(', ')}`);
  lines.push(`Items:     ${formatCount(t.itemsSynced)} synced (${formatBytesHuman(t.bytesSynced)}), ${formatCount(t.itemsSkipped)} skipped`);
  for (const w of b.warnings) lines.push(`Warning:   ${w}`);

  if (failing.length > 0) {
    lines.push('', `Users with errors (${failing.length}):`);
    for (const u of failing) {
      lines.push(`- ${u.emailAddress}: ${u.status}`);
      if (u.error) {
        lines.push(`  ${u.error.message} (${u.error.code})`);
        if (u.error.remediation) lines.push(`  What to do: ${u.error.remediation}`);
      }
    }
  }
  const warned = usersWithWarnings(report);
  if (warned.length > 0) {
    lines.push('', `Users with warnings (${warned.length}):`);
    for (const u of warned) {
      lines.push(`- ${u.emailAddress}:`);
      for (const w of u.warnings) lines.push(`  ${w}`);
    }
  }

  lines.push('', 'Per-user summary:', '');
  if (report.users.length === 0) {
    lines.push('(no users)');
  } else {
    const rows = report.users.map((u) => [
      u.emailAddress,
      u.status,
      formatCount(u.itemsSynced),
      formatCount(u.itemsSkipped),
      formatMegabytes(u.bytesSynced),
      u.lastSyncAt === null ? '-' : `${formatUtc(u.lastSyncAt).slice(0, 16)} UTC`,
    ]);
    lines.push(renderTable(['User', 'Status', 'Items Synced', 'Items Skipped', 'MB', 'Last sync'], rows, new Set([2, 3, 4])));
  }

  if (report.skippedItems.length > 0) {
    const byKind = new Map<string, number>();
    for (const s of report.skippedItems) byKind.set(s.kind, (byKind.get(s.kind) ?? 0) + 1);
    lines.push('', `Skipped items: ${[...byKind].map(([k, n]) => `${formatCount(n)} ${skipKindLabel(k)}`).join('; ')}. Each one is listed in the attached report.`);
  }

  lines.push('', 'The attached CSV report has one row per user (status, counts, the error and what to do) and one row per skipped item.', '');
  lines.push('In this migration:');
  for (const s of STRENGTHS) lines.push(`- ${s}`);
  lines.push('', `Show the batch at any time with: mailshift batch show "${oneLine(b.name)}"`);
  return `${lines.join('\n')}\n`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function buildHtml(report: BatchReport, subject: string): string {
  const b = report.batch;
  const t = b.totals;
  const failing = report.users.filter(userHasError);
  const td = 'style="padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top"';
  const tdNum = 'style="padding:4px 8px;border-bottom:1px solid #ddd;text-align:right;vertical-align:top"';
  const parts: string[] = [];
  parts.push('<!DOCTYPE html><html><head><meta charset="utf-8"><title>', esc(subject), '</title></head>');
  parts.push('<body style="font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#222">');
  parts.push(`<h2 style="font-size:18px">${esc(subject)}</h2>`);
  parts.push('<table style="border-collapse:collapse">');
  const row = (k: string, v: string) => parts.push(`<tr><th ${td}>${esc(k)}</th><td ${td}>${esc(v)}</td></tr>`);
  row('Batch', `${oneLine(b.name)} (${b.status})`);
  row('Source', b.source);
  row('Target', b.target);
  for (const line of timings(report)) {
    const i = line.indexOf(':');
    row(line.slice(0, i), line.slice(i + 1).trim());
  }
  row('Users', `${formatCount(t.users)} total, ${formatCount(t.synced)} synced (${percentSynced(report).toFixed(1)}%), ${formatCount(t.failed)} failed`);
  const byStatus = countUsersByStatus(report);
  if (byStatus.length > 0) row('By status', byStatus.map(([s, n]) => `${s}: ${formatCount(n)}`).join(', '));
  row('Items', `${formatCount(t.itemsSynced)} synced (${formatBytesHuman(t.bytesSynced)}), ${formatCount(t.itemsSkipped)} skipped`);
  for (const w of b.warnings) row('Warning', w);
  parts.push('</table>');

  if (failing.length > 0) {
    parts.push(`<h3 style="font-size:16px;color:#a4262c">Users with errors (${failing.length})</h3><ul>`);
    for (const u of failing) {
      parts.push(`<li><b>${esc(u.emailAddress)}</b>: ${esc(u.status)}`);
      if (u.error) {
        parts.push(`<br>${esc(u.error.message)} <code>${esc(u.error.code)}</code>`);
        if (u.error.remediation) parts.push(`<br><i>What to do:</i> ${esc(u.error.remediation)}`);
      }
      parts.push('</li>');
    }
    parts.push('</ul>');
  }
  const warned = usersWithWarnings(report);
  if (warned.length > 0) {
    parts.push(`<h3 style="font-size:16px">Users with warnings (${warned.length})</h3><ul>`);
    for (const u of warned) parts.push(`<li><b>${esc(u.emailAddress)}</b>: ${u.warnings.map(esc).join('<br>')}</li>`);
    parts.push('</ul>');
  }

  parts.push('<h3 style="font-size:16px">Per-user summary</h3>');
  if (report.users.length === 0) {
    parts.push('<p>(no users)</p>');
  } else {
    parts.push('<table style="border-collapse:collapse">');
    parts.push(`<tr>${['User', 'Status', 'Items Synced', 'Items Skipped', 'MB', 'Last sync (UTC)', 'Error'].map((h) => `<th ${td}>${h}</th>`).join('')}</tr>`);
    for (const u of report.users) {
      parts.push(
        `<tr><td ${td}>${esc(u.emailAddress)}</td><td ${td}>${esc(u.status)}</td>` +
          `<td ${tdNum}>${formatCount(u.itemsSynced)}</td><td ${tdNum}>${formatCount(u.itemsSkipped)}</td>` +
          `<td ${tdNum}>${formatMegabytes(u.bytesSynced)}</td><td ${td}>${u.lastSyncAt === null ? '-' : esc(formatUtc(u.lastSyncAt).slice(0, 16))}</td>` +
          `<td ${td}>${u.error ? esc(u.error.code) : ''}</td></tr>`,
      );
    }
    parts.push('</table>');
  }
  if (report.skippedItems.length > 0) {
    parts.push(`<p>${formatCount(report.skippedItems.length)} item(s) were skipped; each one is listed in the attached report with its folder, date, subject, size and reason.</p>`);
  }
  parts.push('<p>The attached CSV report has one row per user (status, counts, the error and what to do) and one row per skipped item.</p>');
  parts.push('<p>In this migration:</p><ul>');
  for (const s of STRENGTHS) parts.push(`<li>${esc(s)}</li>`);
  parts.push('</ul>');
  parts.push(`<p style="color:#666">Show the batch at any time with <code>mailshift batch show "${esc(oneLine(b.name))}"</code>.</p>`);
  parts.push('</body></html>');
  return parts.join('');
}

export function buildBatchFinishedMail(report: BatchReport): BatchFinishedMail {
  const subject = batchFinishedSubject(report);
  return {
    subject,
    text: buildText(report, subject),
    html: buildHtml(report, subject),
    attachment: { filename: reportFilename(report.batch.name), content: renderBatchReportCsv(report) },
  };
}

// ---------------------------------------------------------------------------------------------
// Sending

export function smtpTransportOptions(config: SmtpConfig): SMTPTransport.Options {
  return {
    host: config.host,
    port: config.port,
    secure: config.secure,
    requireTLS: !config.secure && config.startTls,
    ignoreTLS: !config.secure && !config.startTls,
    auth: config.user !== null ? { user: config.user, pass: config.password ?? '' } : undefined,
    tls: {
      ...(config.caPem ? { ca: [config.caPem] } : {}),
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
    },
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 60_000,
    dnsTimeout: 15_000,
    logger: false,
    debug: false,
  };
}

/** Removes the password from a server or library message, in case either echoes it. */
function scrub(text: string, password: string | null): string {
  if (!password) return text;
  let out = text.split(password).join('********');
  const b64 = Buffer.from(password).toString('base64');
  if (b64.length >= 4) out = out.split(b64).join('********');
  return out;
}

const TLS_FAILURE = /certificate|self[- ]signed|CERT_|SSL|TLS|handshake|wrong version number/i;

/** nodemailer's error (code EAUTH, ECONNECTION, ETLS, EENVELOPE, …) → the catalog's NOTIFY_SMTP_* case. */
export function classifySmtpError(err: unknown, config: SmtpConfig): MailshiftError {
  const e = err as { code?: string; message?: string; responseCode?: number; response?: string };
  const detail = scrub(oneLine(String(e?.response ?? e?.message ?? err)).trim(), config.password).slice(0, 300);
  const base = { host: config.host, port: config.port, detail };
  const code = e?.code ?? '';
  if (code === 'EAUTH' || e?.responseCode === 535 || e?.responseCode === 534) {
    return new MailshiftError('NOTIFY_SMTP_AUTH', { ...base, user: config.user ?? '(no user)' });
  }
  if (code === 'ETLS' || TLS_FAILURE.test(String(e?.message ?? ''))) {
    return new MailshiftError('NOTIFY_SMTP_TLS', base);
  }
  if (code === 'EENVELOPE' || code === 'EMESSAGE' || (typeof e?.responseCode === 'number' && e.responseCode >= 500)) {
    return new MailshiftError('NOTIFY_SMTP_REJECTED', base);
  }
  return new MailshiftError('NOTIFY_SMTP_UNREACHABLE', base);
}

/**
 * Sends the mail to `to` through the configured SMTP server. Throws a MailshiftError (NOTIFY_SMTP_*)
 * that says what to fix; its message never contains the password. The caller records it as a batch
 * warning: a failed notification never changes the batch's outcome.
 */
export async function sendBatchFinishedMail(config: SmtpConfig, to: string[], report: BatchReport): Promise<{ messageId: string }> {
  const recipients = to.map((a) => a.trim()).filter((a) => a.length > 0);
  if (recipients.length === 0) {
    throw new MailshiftError('NOTIFY_SMTP_CONFIG', { variable: '--notify', detail: 'no recipient address was given' });
  }
  const mail = buildBatchFinishedMail(report);
  const transport = nodemailer.createTransport(smtpTransportOptions(config));
  try {
    const info = await transport.sendMail({
      from: config.from,
      to: recipients,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      attachments: [{ filename: mail.attachment.filename, content: mail.attachment.content, contentType: 'text/csv; charset=utf-8' }],
      headers: { 'Auto-Submitted': 'auto-generated', 'X-Mailshift-Batch': oneLine(report.batch.name) },
    });
    return { messageId: info.messageId };
  } catch (err) {
    throw classifySmtpError(err, config);
  } finally {
    transport.close();
  }
}
