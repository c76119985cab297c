/**
 * Migration endpoints (Exchange Online's model): a named IMAP server usable as a batch's source or
 * target, with its security, authentication, optional admin credentials for impersonation, TLS
 * settings and concurrency limits. Shared contract between the endpoint and batch features.
 */
import type { ConnectionSettings, SecurityMode } from '../domain/mail-types.js';

export type AuthenticationMethod = 'login' | 'plain' | 'xoauth2';

/**
 * How an admin logs in on behalf of a user (the seeds' formats):
 * - 'authzid': SASL PLAIN with the admin's credentials and the user as authorization identity;
 * - 'dovecot': `user*admin` (Dovecot master users);
 * - 'exchange': `Domain/Admin/User`;
 * - 'mirapoint': `#user@domain#admin#`;
 * - 'template': `loginTemplate` with {user}, {admin}, {domain}, {localpart} placeholders.
 */
export type AdminLoginFormat = 'authzid' | 'dovecot' | 'exchange' | 'mirapoint' | 'template';

export interface EndpointTls {
  minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' | null;
  ciphers: string | null;
  /** PEM bundle trusted in addition to the system store. */
  caPem: string | null;
  servername: string | null;
}

export interface Endpoint {
  id: number;
  name: string;
  host: string;
  port: number;
  security: SecurityMode;
  authentication: AuthenticationMethod;
  /** Null when users log in with their own credentials from the CSV. */
  admin: { user: string; format: AdminLoginFormat; loginTemplate: string | null } | null;
  /** Default 20, at most 100. */
  maxConcurrentMigrations: number;
  /** Default 10. */
  maxConcurrentIncrementalSyncs: number;
  tls: EndpointTls;
  /** The seeds' AcceptUntrustedCertificates: recorded and shown as a warning in every report. */
  acceptUntrustedCertificates: boolean;
  /** COMPRESS=DEFLATE when the server offers it: for endpoints across slow links (default off). */
  compress: boolean;
  createdAt: number;
  updatedAt: number;
}

/** What the batch runner needs to open a mailbox through an endpoint. Secrets are decrypted only here. */
export interface EndpointCredentialsResolver {
  /**
   * Settings to log in to `mailbox` on this endpoint: with the admin credentials in the endpoint's
   * format when it has an admin, else with the given per-user credentials (from the CSV).
   */
  connectionFor(endpoint: Endpoint, login: { user: string; password: string | null; mailbox: string }): Promise<ConnectionSettings>;
}
