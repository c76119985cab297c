/**
 * Naming the cause of a failed login from what the server said: response codes (RFC 5530) first,
 * because they are stable, then the texts real servers use when they have no code.
 */
import type { DiagnoseCode } from './diagnose-codes.ts';

export interface LoginFailureEvidence {
  /** The response code of the tagged NO/BAD, or of the BYE that closed the connection. */
  code: string | null;
  /** Server text (tagged response, or the BYE). */
  text: string;
}

// Dovecot: "Maximum number of connections from user+IP exceeded"; Exchange: "Too many simultaneous
// connections"; Gmail: "Too many simultaneous connections. (Failure)"; others: "connection limit".
const TOO_MANY = /maximum number of connections|too many (simultaneous |concurrent )?connections|connection limit|too many sessions/i;
// Exchange Online answers "User is authenticated but not connected." when IMAP is off for the mailbox.
const IMAP_DISABLED = /imap (access |use )?(is )?(disabled|not enabled|not allowed|turned off)|not enabled for imap|imap.{0,40}(disabled|not permitted) for|user is authenticated but not connected|your account is not enabled for imap|imap service.{0,20}disabled/i;
const APP_PASSWORD = /application-specific password|app password|log in via your web browser|web login required|WEBALERT/i;
const CLEARTEXT = /plaintext authentication (disallowed|not allowed)|cleartext|PRIVACYREQUIRED|encryption required/i;

export function classifyLoginFailure(e: LoginFailureEvidence): DiagnoseCode {
  const code = (e.code ?? '').toUpperCase().split(' ')[0] ?? '';
  const all = `${e.code ?? ''} ${e.text}`;
  if (code === 'LIMIT' || TOO_MANY.test(all)) return 'CONN_TOO_MANY';
  if (code === 'PRIVACYREQUIRED' || CLEARTEXT.test(all)) return 'AUTH_LOGIN_DISABLED';
  if (IMAP_DISABLED.test(all)) return 'AUTH_IMAP_DISABLED';
  if (APP_PASSWORD.test(all)) return 'AUTH_APP_PASSWORD_REQUIRED';
  if (code === 'UNAVAILABLE' || /temporary (authentication )?failure/i.test(all)) return 'AUTH_UNAVAILABLE';
  return 'AUTH_FAILED';
}

/**
 * Splits the admin-impersonation user formats into (admin, mailbox) so a failure can be re-tried
 * as the admin alone: Dovecot "user*admin", Exchange "Domain/Admin/User", Mirapoint "#user@domain#admin#".
 */
export function splitImpersonation(user: string): { admin: string; mailbox: string } | null {
  const mirapoint = /^#([^#]+)#([^#]+)#$/.exec(user);
  if (mirapoint) return { mailbox: mirapoint[1]!, admin: mirapoint[2]! };
  const star = user.indexOf('*');
  if (star > 0 && star < user.length - 1) return { mailbox: user.slice(0, star), admin: user.slice(star + 1) };
  const parts = user.split('/');
  if (parts.length === 3 && parts.every(Boolean)) return { admin: `${parts[0]}/${parts[1]}`, mailbox: parts[2]! };
  return null;
}
