/**
 * How an endpoint's admin signs in on behalf of a mailbox, in the formats of the seeds
 * ("Format mailbox admin credentials for different IMAP servers") plus SASL PLAIN authzid and a
 * free template. Pure: no I/O, no secrets (the password is always the admin's, added by the caller).
 */
import type { AdminLoginFormat } from './endpoint-model.js';

export const ADMIN_LOGIN_FORMATS: readonly AdminLoginFormat[] = ['authzid', 'dovecot', 'exchange', 'mirapoint', 'template'];

/** Placeholders a login template may use. */
export const TEMPLATE_PLACEHOLDERS = ['user', 'admin', 'domain', 'localpart'] as const;

export interface AdminIdentity {
  user: string;
  format: AdminLoginFormat;
  loginTemplate: string | null;
}

/** What goes on the wire: the LOGIN/AUTHENTICATE user name and, for 'authzid', the authorization identity. */
export interface AdminLogin {
  user: string;
  authzid?: string;
}

function splitAddress(mailbox: string): { localpart: string; domain: string } {
  const at = mailbox.lastIndexOf('@');
  return at > 0 ? { localpart: mailbox.slice(0, at), domain: mailbox.slice(at + 1) } : { localpart: mailbox, domain: '' };
}

/**
 * Exchange's `Domain/Admin_UserName/User_UserName`. The admin may be given as `DOMAIN\admin` or
 * `DOMAIN/admin` (the Windows domain); otherwise Domain is the mailbox's e-mail domain. User is the
 * mailbox's local part when the mailbox is an address, else the mailbox as given.
 */
function exchangeLogin(admin: string, mailbox: string): string {
  const { localpart, domain } = splitAddress(mailbox);
  const sep = admin.search(/[\\/]/);
  if (sep > 0) return `${admin.slice(0, sep)}/${admin.slice(sep + 1)}/${localpart}`;
  return `${domain}/${admin}/${localpart}`;
}

export function fillLoginTemplate(template: string, admin: string, mailbox: string): string {
  const { localpart, domain } = splitAddress(mailbox);
  const values: Record<string, string> = { user: mailbox, admin, domain, localpart };
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** The login for `mailbox` through the admin account. */
export function adminLoginFor(admin: AdminIdentity, mailbox: string): AdminLogin {
  switch (admin.format) {
    case 'authzid': return { user: admin.user, authzid: mailbox };
    case 'dovecot': return { user: `${mailbox}*${admin.user}` };
    case 'exchange': return { user: exchangeLogin(admin.user, mailbox) };
    case 'mirapoint': return { user: `#${mailbox}#${admin.user}#` };
    case 'template': return { user: fillLoginTemplate(admin.loginTemplate ?? '', admin.user, mailbox) };
  }
}

/** Problems with a login template, or null when it is usable. */
export function loginTemplateProblem(template: string): string | null {
  if (template.trim() === '') return 'the login template is empty';
  const names = [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!);
  const unknown = names.filter((n) => !(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    return `the login template uses unknown placeholder(s) ${unknown.map((n) => `{${n}}`).join(', ')}; allowed: ${TEMPLATE_PLACEHOLDERS.map((n) => `{${n}}`).join(', ')}`;
  }
  if (!names.includes('user') && !names.includes('localpart')) return 'the login template must contain {user} or {localpart}, or every mailbox would sign in as the same account';
  if (/[\r\n\0]/.test(template)) return 'the login template contains a line break or NUL';
  return null;
}

/** A human description of the format, for `endpoint show`. */
export function describeAdminFormat(admin: AdminIdentity): string {
  switch (admin.format) {
    case 'authzid': return 'authzid (SASL PLAIN: admin credentials, mailbox as authorization identity)';
    case 'dovecot': return 'dovecot (user*admin)';
    case 'exchange': return 'exchange (Domain/Admin/User)';
    case 'mirapoint': return 'mirapoint (#user@domain#admin#)';
    case 'template': return `template (${admin.loginTemplate ?? ''})`;
  }
}
