/** IMAP vocabulary shared by every layer. Times are epoch milliseconds; uidValidity/modseq are bigint. */

export type SpecialUse = '\\Sent' | '\\Trash' | '\\Junk' | '\\Drafts' | '\\Archive' | '\\All' | '\\Flagged' | '\\Important';

export const SPECIAL_USES: readonly SpecialUse[] = ['\\Sent', '\\Trash', '\\Junk', '\\Drafts', '\\Archive', '\\All', '\\Flagged', '\\Important'];

export interface FolderInfo {
  /** Full path as the server names it (decoded from modified UTF-7), with the server's own delimiter. */
  path: string;
  /** Hierarchy delimiter of this folder; null for a flat namespace. */
  delimiter: string | null;
  /** LIST attributes, e.g. \Noselect, \HasChildren. */
  flags: string[];
  specialUse: SpecialUse | null;
  /** False for \Noselect / \NonExistent placeholders: they hold no messages but may need creating for hierarchy. */
  selectable: boolean;
  /** Messages in the folder, when the listing was asked for counts (LIST-STATUS or STATUS); else absent. */
  messages?: number;
}

export interface FolderStatus {
  path: string;
  uidValidity: bigint;
  uidNext: number;
  messages: number;
  /** Present when the server supports CONDSTORE and the folder has it enabled. */
  highestModseq: bigint | null;
  /** PERMANENTFLAGS of the folder; contains '\\*' when new keywords may be created. */
  permanentFlags: string[];
}

export interface MessageMeta {
  uid: number;
  flags: string[];
  internalDate: number;
  size: number;
  modseq: bigint | null;
}

export interface MessageHeader {
  uid: number;
  size: number;
  /** The header section exactly as BODY.PEEK[HEADER] returned it. */
  header: Buffer;
}

export interface FetchedMessage extends MessageMeta {
  /** The header section (BODY.PEEK[HEADER]) — the input of the content key. */
  header: Buffer;
  /** The exact RFC 822 bytes (BODY.PEEK[]). */
  raw: Buffer;
}

export interface AppendItem {
  raw: Buffer;
  flags: string[];
  internalDate: number;
}

export interface AppendOutcome {
  /** Target UID from APPENDUID (RFC 4315), or null when the server does not report it. */
  uid: number | null;
  uidValidity: bigint | null;
}

export type SecurityMode = 'ssl' | 'starttls' | 'none';

export interface ConnectionSettings {
  host: string;
  port: number;
  security: SecurityMode;
  user: string;
  password: string;
  /**
   * How to log in: IMAP LOGIN or SASL PLAIN (the endpoint's authentication setting). Absent: PLAIN
   * when the server offers it, LOGIN otherwise. An authzid always needs PLAIN.
   */
  loginMethod?: 'login' | 'plain';
  /** SASL PLAIN authorization identity: log in as `user` (an admin) on behalf of `authzid`. */
  authzid?: string;
  /** PEM CA bundle contents trusted in addition to the system store. */
  ca?: string;
  /** Diagnostic escape hatch, recorded and warned about; never the default. */
  acceptUntrustedCertificates?: boolean;
  minTlsVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  ciphers?: string;
  servername?: string;
  /** Connection and greeting timeout in milliseconds (the seeds' 15 s by default). */
  connectTimeoutMs?: number;
  /**
   * COMPRESS=DEFLATE (RFC 4978) when the server offers it. Off by default: it costs CPU on both
   * ends and pays only where bandwidth, not latency, is the limit (docs/performance.md).
   */
  compress?: boolean;
  /** Restrict to this folder subtree on the source (the CSV's UserRoot). */
  userRoot?: string;
}
