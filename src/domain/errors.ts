/**
 * The one error catalog. Every failure a user can see has a stable code, a scope, a retry policy,
 * the user-facing message (Microsoft's IMAP-migration wording where admins already know it), and
 * remediation text. `docs/errors.md` is generated from this table (scripts/gen-error-docs.ts).
 * `mailshift diagnose` reports codes from this table too (src/diagnose/diagnose-codes.ts): texts of
 * codes shared with migrate name both commands' flags, so there is no second set of texts.
 */

export type ErrorScope = 'message' | 'folder' | 'mailbox' | 'endpoint' | 'input';
export type RetryPolicy = 'never' | 'later' | 'after-backoff';
/** What the CLI exit code and the API status are derived from. */
export type ErrorClass = 'usage' | 'connection' | 'tls' | 'auth' | 'quota' | 'protocol' | 'content' | 'internal' | 'verify';

export interface ErrorSpec {
  scope: ErrorScope;
  retry: RetryPolicy;
  class: ErrorClass;
  /** Message template; `{name}` placeholders are filled from the error's params. */
  message: string;
  remediation: string;
}

export const ERROR_CATALOG = {
  USAGE_INVALID_OPTION: {
    scope: 'input', retry: 'never', class: 'usage',
    message: '{detail}',
    remediation: 'Run the command with --help to see the accepted options and formats.',
  },
  USAGE_PASSWORD_MISSING: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'No password was given for the {side} account {user}.',
    remediation: 'Set MAILSHIFT_{SIDE}_PASSWORD, pass --{side}-password-file FILE, or run on a terminal to be prompted. Passwords are never accepted on the command line.',
  },
  USAGE_FILE_UNREADABLE: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The file {path} could not be read: {reason}.',
    remediation: 'Check the path and that this user may read the file.',
  },
  CSV_EMPTY: {
    scope: 'input', retry: 'never', class: 'usage',
    message: "Upload file can't be empty.",
    remediation: 'The first row must hold the column names EmailAddress,UserName,Password, followed by one row per mailbox.',
  },
  CSV_TOO_MANY_ROWS: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The CSV file contains more than 50,000 rows. Please divide the file into two or more files and submit them separately.',
    remediation: 'Split the users into several files of at most 50,000 rows each; smaller batches are easier to monitor.',
  },
  CSV_TOO_LARGE: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The CSV file is larger than 10 MB ({size}). Please divide the file into two or more files and submit them separately.',
    remediation: 'Split the users into several files of at most 10 MB each.',
  },
  CSV_COLUMN_MISSING: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'Column "{column}" is missing from the CSV file. The import process can\'t continue because this column is required. Please edit the CSV file and re-submit it.',
    remediation: 'The first row must name the columns exactly: EmailAddress,UserName,Password (optionally UserRoot, TargetUserName, TargetPassword).',
  },
  CSV_WRONG_COLUMN_COUNT: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'Row {row} has the wrong number of columns. Expected number: {expected}. Actual number: {actual}. Please edit this row and re-submit the file.',
    remediation: 'Every row needs a value for each column named in the first row; quote values that contain commas.',
  },
  CSV_DUPLICATE_ADDRESS: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'Row {row}: the EmailAddress {address} already appears in row {firstRow}.',
    remediation: 'List each mailbox once per batch.',
  },
  CSV_INVALID_ADDRESS: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'Row {row}: "{value}" is not a valid EmailAddress.',
    remediation: 'EmailAddress must be the address of the target mailbox, e.g. alice@contoso.com.',
  },
  CSV_EMPTY_VALUE: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'Row {row}: the column "{column}" is empty.',
    remediation: 'Fill in the value, or remove the row.',
  },
  CSV_MALFORMED: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'Row {row}: {detail}',
    remediation: 'Fields that contain commas, quotes or line breaks must be enclosed in double quotes, with inner quotes doubled.',
  },
  CONN_DNS: {
    scope: 'endpoint', retry: 'later', class: 'connection',
    message: 'The connection to the server {host} could not be completed.',
    remediation: 'The name {host} does not resolve in DNS. Check the spelling of the server name; it must be a fully qualified domain name with an A (or AAAA) record that this machine can resolve.',
  },
  CONN_REFUSED: {
    scope: 'endpoint', retry: 'later', class: 'connection',
    message: 'The connection to the server {host} could not be completed.',
    remediation: 'Nothing accepts connections on {host} port {port}: make sure the IMAP service is running and the port (993 for SSL, 143 for STARTTLS/plain) is published through the firewall.',
  },
  CONN_UNREACHABLE: {
    scope: 'endpoint', retry: 'later', class: 'connection',
    message: 'The connection to the server {host} could not be completed.',
    remediation: 'There is no network route to {host} ({detail}). Check the address, this machine\'s network and routing, and any VPN the server requires.',
  },
  CONN_TIMEOUT: {
    scope: 'endpoint', retry: 'after-backoff', class: 'connection',
    message: 'The connection to the server {host} timed out after {elapsed}.',
    remediation: 'The server did not answer on port {port}. Allow IMAP connections from this machine through the firewall, and make sure the IMAP service is started.',
  },
  CONN_NOT_IMAP: {
    scope: 'endpoint', retry: 'never', class: 'connection',
    message: 'The server {host} on port {port} does not speak IMAP: it answered "{detail}".',
    remediation: 'Check the port: IMAP is 993 (SSL) or 143 (STARTTLS). Port 110/995 is POP3, 25/587/465 is SMTP, 80/443 is HTTP.',
  },
  CONN_GREETING_BYE: {
    scope: 'endpoint', retry: 'later', class: 'connection',
    message: 'The server {host} closed the connection at once: {detail}',
    remediation: 'The IMAP server refused this client before any login. Check its logs: it may be overloaded, shutting down, or blocking this IP address (fail2ban, intrusion detection, an IP allow list).',
  },
  CONN_LOST: {
    scope: 'mailbox', retry: 'after-backoff', class: 'connection',
    message: 'The connection to the server {host} was lost: {detail}',
    remediation: 'Usually transient; mailshift reconnects and resumes from its ledger. If it keeps happening, check the server logs and network stability.',
  },
  CONN_THROTTLED: {
    scope: 'mailbox', retry: 'after-backoff', class: 'connection',
    message: 'The server {host} is throttling this account: {detail}',
    remediation: 'mailshift backs off and resumes by itself. Lower the endpoint\'s concurrency if it keeps happening.',
  },
  CONN_TOO_MANY: {
    scope: 'mailbox', retry: 'after-backoff', class: 'connection',
    message: 'The server {host} refused the connection: too many connections for this account.',
    remediation: 'Lower the number of concurrent connections (--folder-concurrency, --concurrency, endpoint limits) or raise the server\'s per-user connection limit (Dovecot: mail_max_userip_connections). mailshift copies with as few as 1 connection per account on each server, slower; folder workers beyond what a server allows are dropped with a warning (CONN_LIMIT_REACHED), and a target allowing 1 gets its messages over that one (CONN_SINGLE_CONNECTION).',
  },
  CONN_LIMIT_REACHED: {
    scope: 'mailbox', retry: 'never', class: 'connection',
    message: 'The server {host} refused more connections for this account ({detail}); the migration went on with {workers} folder worker(s) instead of {wanted}.',
    remediation: 'Nothing was lost: every folder was copied over the connections the server accepted, only fewer at a time. Each folder worker uses two connections per server; to avoid the refused logins, lower --folder-concurrency or raise the server\'s per-user limit (Dovecot: mail_max_userip_connections).',
  },
  CONN_READ_ON_CONTROL: {
    scope: 'mailbox', retry: 'never', class: 'connection',
    message: 'The server {host} refused this account a second connection ({detail}); the messages were read over its one connection, which is slower.',
    remediation: 'Nothing was lost. To copy at full speed, allow the migration account at least 2 connections on this server (Dovecot: mail_max_userip_connections), and 2 more per extra folder worker (--folder-concurrency).',
  },
  CONN_SINGLE_CONNECTION: {
    scope: 'mailbox', retry: 'never', class: 'connection',
    message: 'The server {host} allows this account only one connection ({detail}); the messages are appended over it one command at a time, which is slower.',
    remediation: 'Nothing was lost. To copy at full speed, allow the migration account at least 2 connections on this server (Dovecot: mail_max_userip_connections), and 2 more per extra folder worker (--folder-concurrency).',
  },
  TLS_EXPECTED: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} on port {port} expects TLS from the first byte, but the connection was made with --security {security}.',
    remediation: 'Use --security ssl for this port (993 is implicit TLS). STARTTLS and plain connections belong on port 143.',
  },
  TLS_PLAINTEXT_PORT: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} on port {port} answered in plain text, not TLS.',
    remediation: 'This port speaks plain IMAP: use --security starttls (port 143), or --security ssl with port 993.',
  },
  TLS_STARTTLS_UNAVAILABLE: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} does not offer STARTTLS on port {port}.',
    remediation: 'Use --security ssl with port 993 if the server offers implicit TLS, or enable STARTTLS on the server (Dovecot: ssl = yes with a certificate). Only use --security none on a network you trust: the password then travels unencrypted.',
  },
  TLS_UNTRUSTED: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The certificate of {host} is not trusted: {detail}.',
    remediation: 'Install a certificate from a public CA on the server, or pass the CA that signed it (`--ca FILE` for diagnose, `--source-ca FILE`/`--target-ca FILE` for migrate and verify; the endpoint\'s CA bundle). Certificate validation is never turned off.',
  },
  TLS_SELF_SIGNED: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The certificate of {host} is self-signed ({subject}).',
    remediation: 'Install a certificate from a public CA on the server, or, if you trust this certificate, pass it with --ca FILE (the certificate shown above, in PEM). Certificate validation is never turned off.',
  },
  TLS_INCOMPLETE_CHAIN: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} sends an incomplete certificate chain: {sent} certificate(s), and the issuer of the last one ("{missingIssuer}") is neither sent nor trusted.',
    remediation: 'Install the intermediate certificate "{missingIssuer}" on the server alongside its certificate (Dovecot: concatenate the leaf and the intermediates in ssl_cert). Browsers fetch missing intermediates by themselves; IMAP clients do not. If "{missingIssuer}" is your own private CA instead, pass it with --ca FILE.',
  },
  TLS_INTERCEPTED: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The connection to {host} appears to be intercepted: the certificate presented is for "{subject}", issued by "{issuer}", a CA this machine does not trust.',
    remediation: 'A TLS-inspecting proxy or firewall is probably re-signing the connection. Ask the network team to exclude IMAP (ports 993/143) to {host} from TLS inspection, or, if your organisation requires it, pass the proxy\'s root CA with --ca FILE. Confirm by running the same diagnose from outside this network.',
  },
  TLS_NAME_MISMATCH: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The certificate of {host} does not match the name {host}: {detail}.',
    remediation: 'Connect with the name the certificate was issued for, or install a certificate that covers {host}. If an intercepting proxy presents its own certificate, bypass it for IMAP traffic.',
  },
  TLS_EXPIRED: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The certificate of {host} is expired or not yet valid: {detail}.',
    remediation: 'Renew the server certificate (and check the server clock).',
  },
  TLS_HANDSHAKE: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The TLS negotiation with {host} failed: {detail}.',
    remediation: 'The server rejected the TLS negotiation. Run `mailshift diagnose {host}:{port}` to see which TLS versions and ciphers the server accepts: servers limited to TLS 1.0/1.1 (e.g. Exchange 2010) must be upgraded, and a per-endpoint minimum TLS version is a last resort. If diagnose itself reports this code, check the server\'s TLS configuration and its logs and compare with `openssl s_client -connect {host}:{port}`; if the connection was reset, a firewall or NAT device may be cutting it.',
  },
  TLS_LEGACY_ONLY: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} only offers {versions}, which this client refuses (its minimum is {minimum}).',
    remediation: 'Upgrade TLS on the server: every current IMAP server supports TLS 1.2 with a configuration change (Dovecot: ssl_min_protocol = TLSv1.2; Exchange Server 2010\'s IMAP service is hardcoded to TLS 1.0 and cannot: move those mailboxes with a cutover or hybrid migration, or PST import). As a documented last resort, and for this endpoint only, pass --min-tls {lowest} --ciphers "DEFAULT:@SECLEVEL=0", and remove the override after the cutover.',
  },
  TLS_NO_SHARED_CIPHER: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} and this client share no cipher suite (the server only accepted {ciphers}).',
    remediation: 'Enable modern cipher suites on the server (e.g. ECDHE-RSA-AES128-GCM-SHA256 or ECDHE-ECDSA-AES128-GCM-SHA256; Dovecot: ssl_cipher_list). As a last resort for this endpoint only, pass --ciphers with a list that includes the server\'s cipher.',
  },
  AUTH_FAILED: {
    scope: 'mailbox', retry: 'never', class: 'auth',
    message: "We had trouble signing in to this account. Confirm that you're using the correct user name and password.",
    remediation: 'Check the user name and password for {user} on {host}. For admin impersonation use the format the server expects (Dovecot: user*admin, Exchange: Domain/Admin/User, Mirapoint: #user@domain#admin#) and make sure the admin has full access to the mailbox. Also confirm IMAP access is enabled for the account.',
  },
  AUTH_APP_PASSWORD_REQUIRED: {
    scope: 'mailbox', retry: 'never', class: 'auth',
    message: 'The server {host} refuses password sign-in for {user}: {detail}',
    remediation: 'The account uses two-step verification or blocks password sign-in: create an app password for IMAP, or use OAuth (XOAUTH2).',
  },
  AUTH_IMAP_DISABLED: {
    scope: 'mailbox', retry: 'never', class: 'auth',
    message: 'IMAP access is disabled for the account {user} on {host}: {detail}',
    remediation: 'Enable IMAP for this user (and for the organisation). Google Workspace: Admin console > Apps > Gmail > End User Access > POP and IMAP access; Microsoft 365: Set-CASMailbox -ImapEnabled $true; other servers: see their documentation.',
  },
  AUTH_IMPERSONATION_DENIED: {
    scope: 'mailbox', retry: 'never', class: 'auth',
    message: 'The administrator {user} signed in, but may not open the mailbox {authzid} on {host}.',
    remediation: 'Give the admin account access to the users\' mailboxes (Exchange: Full Access or Receive As; Dovecot: a master user in master-users/passdb with master = yes; Google: use OAuth with domain-wide delegation), or use each user\'s own credentials in the CSV.',
  },
  AUTH_UNAVAILABLE: {
    scope: 'mailbox', retry: 'later', class: 'auth',
    message: 'The server {host} could not check the credentials right now: {detail}',
    remediation: 'A temporary failure on the server (its authentication backend is unavailable). Try again later; if it persists, check the server\'s authentication logs.',
  },
  AUTH_LOGIN_DISABLED: {
    scope: 'endpoint', retry: 'never', class: 'auth',
    message: 'The server {host} does not allow signing in without encryption (LOGINDISABLED).',
    remediation: 'The server only accepts passwords over an encrypted connection: use implicit TLS on port 993 or STARTTLS on port 143 (`--security ssl` or `--security starttls` for diagnose, `--source-security`/`--target-security` for migrate and verify).',
  },
  AUTH_RECIPIENT_NOT_FOUND: {
    scope: 'mailbox', retry: 'never', class: 'auth',
    message: "A recipient wasn't found for {address} on the target. Create a recipient of the appropriate type for this migration on the target and try again.",
    remediation: 'Create the target mailbox for {address} (or correct EmailAddress in the CSV: it must be an address of the target mailbox) and retry.',
  },
  TARGET_OVERQUOTA: {
    scope: 'mailbox', retry: 'never', class: 'quota',
    message: 'This mailbox is full. Please free up some space so that email can be downloaded.',
    remediation: 'Raise the quota of the target mailbox {user}, or free space in it, then run the migration again: it resumes where it stopped and copies nothing twice.',
  },
  TARGET_FOLDER_CREATE_FAILED: {
    scope: 'folder', retry: 'never', class: 'protocol',
    message: 'The folder "{folder}" could not be created on the target: {detail}',
    remediation: 'Map the folder to another name with --map "{folder}=NewName", or exclude it with --exclude.',
  },
  TARGET_APPEND_REJECTED: {
    scope: 'message', retry: 'never', class: 'content',
    message: 'The target refused a message in "{folder}": {detail}',
    remediation: 'The message is listed in the report; it may be malformed or violate a target policy. Other messages are unaffected.',
  },
  IMAP_PROTOCOL: {
    scope: 'mailbox', retry: 'after-backoff', class: 'protocol',
    message: 'The server {host} answered unexpectedly: {detail}',
    remediation: 'Retry later. If it persists, run `mailshift diagnose` and report the server type and this message.',
  },
  SOURCE_FOLDER_VANISHED: {
    scope: 'folder', retry: 'later', class: 'protocol',
    message: 'The source folder "{folder}" could not be opened: {detail}',
    remediation: 'The folder may have been renamed or deleted during the migration; run again to pick up the current folder list.',
  },
  MSG_TOO_LARGE: {
    scope: 'message', retry: 'never', class: 'content',
    message: 'The message is larger than the maximum message size ({limit}).',
    remediation: 'Raise --max-message-size if the target accepts larger messages (Microsoft 365 accepts up to 35 MB over IMAP migration by default), or move the message manually.',
  },
  MSG_ITEM_LIMIT: {
    scope: 'message', retry: 'never', class: 'content',
    message: 'The mailbox has more than {limit} items; the oldest messages beyond the limit were not copied.',
    remediation: 'Raise --max-items, or split the mailbox (e.g. archive old folders separately).',
  },
  MSG_KEYWORDS_DROPPED: {
    scope: 'message', retry: 'never', class: 'content',
    message: 'The target folder "{folder}" does not accept the keyword(s) {keywords}; they were not copied.',
    remediation: 'The target does not allow custom keywords (PERMANENTFLAGS has no \\*). The messages themselves were copied.',
  },
  STATE_LOCKED: {
    scope: 'mailbox', retry: 'later', class: 'usage',
    message: 'Another mailshift process is migrating {mailbox} with the state file {path}.',
    remediation: 'Wait for it to finish, or stop it. Running two copies into the same mailbox at once is refused to prevent duplicates.',
  },
  VERIFY_MISMATCH: {
    scope: 'mailbox', retry: 'never', class: 'verify',
    message: 'The target does not match the source: {detail}',
    remediation: 'Run `mailshift migrate` again to copy what is missing; it never copies a message twice. Extra messages on the target are reported, never deleted.',
  },
  INTERNAL: {
    scope: 'mailbox', retry: 'after-backoff', class: 'internal',
    message: 'An unexpected error occurred: {detail}',
    remediation: 'Run again; the migration resumes where it stopped. If it repeats, report it with the log (it contains no passwords).',
  },
  // ---- endpoints and secrets at rest (issue 3 §1: `mailshift endpoint …`, src/app/endpoint-service.ts)
  ENDPOINT_EXISTS: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The migration endpoint "{name}" already exists.',
    remediation: 'Choose another name, change the existing endpoint with `mailshift endpoint set {name} …`, or remove it first with `mailshift endpoint remove {name}`. Endpoint names are compared without regard to case.',
  },
  ENDPOINT_NOT_FOUND: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'There is no migration endpoint named "{name}".',
    remediation: 'Run `mailshift endpoint list` to see the endpoints in this state database (--state PATH), or create it with `mailshift endpoint add {name} --host HOST`.',
  },
  ENDPOINT_IN_USE: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The migration endpoint "{name}" is used by the migration batch(es) {batches} and cannot be removed.',
    remediation: 'Complete and remove those batches first (`mailshift batch remove NAME`), or change the endpoint\'s settings in place with `mailshift endpoint set {name} …`.',
  },
  ENDPOINT_INVALID: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The migration endpoint settings are not valid: {detail}',
    remediation: 'Correct the value and try again; `mailshift endpoint add --help` lists every setting and its allowed values (docs/endpoints.md).',
  },
  ENDPOINT_INSECURE_REFUSED: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'Security "none" would send the passwords and all mail to {host} unencrypted.',
    remediation: 'Use --security ssl (port 993) or --security starttls (port 143). Only on a network you trust end to end, pass --allow-insecure as well: the endpoint is then flagged as insecure in every report.',
  },
  ENDPOINT_CREDENTIALS_MISSING: {
    scope: 'mailbox', retry: 'never', class: 'usage',
    message: 'No password to sign in to {mailbox} on the endpoint "{name}": the endpoint has no admin credentials and none were given for this mailbox.',
    remediation: 'Put the user\'s password in the CSV (Password column), or give the endpoint admin credentials with `mailshift endpoint set {name} --admin-user USER --admin-password-file FILE --admin-format FORMAT`.',
  },
  SECRET_KEY_INVALID: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The secret key from {source} is not valid: {detail}.',
    remediation: 'The key must be 32 random bytes written as 64 hexadecimal characters or as base64, e.g. the output of `openssl rand -base64 32`. Unset MAILSHIFT_SECRET_KEY to use the key file generated next to the state database instead. If you change the key, stored endpoint passwords must be entered again.',
  },
  SECRET_KEY_FILE_INSECURE: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The secret key file {path} may be read by other users (mode {mode}); it is not used.',
    remediation: 'The file protects every stored endpoint password: run `chmod 600 {path}` (owner read/write only) and check that no copy of it was made while it was readable. If it may have leaked, delete it and re-enter the endpoint passwords (`mailshift endpoint set NAME --admin-password-file FILE`).',
  },
  SECRET_KEY_MISMATCH: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'A stored endpoint password cannot be decrypted with the current secret key ({source}): {detail}. The secret key has changed since the password was saved.',
    remediation: 'Restore the previous key (the MAILSHIFT_SECRET_KEY value, or the secret.key file next to the state database, from a backup), or enter the password again with `mailshift endpoint set NAME --admin-password-file FILE`, which encrypts it with the current key.',
  },
  // ---- batch-finished notification e-mail (issue 3 §4: src/notify/, docs/notifications.md)
  NOTIFY_SMTP_CONFIG: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The notification setting {variable} is not valid: {detail}.',
    remediation: 'See docs/notifications.md: MAILSHIFT_SMTP_URL is smtp://user@host:587 (STARTTLS) or smtps://user@host:465 (TLS); the password goes in MAILSHIFT_SMTP_PASSWORD, never in the URL; MAILSHIFT_SMTP_FROM is the sender address; MAILSHIFT_SMTP_CA is a PEM file of the CA to trust.',
  },
  NOTIFY_SMTP_UNREACHABLE: {
    scope: 'endpoint', retry: 'later', class: 'connection',
    message: 'The notification e-mail could not be sent: the SMTP server {host}:{port} could not be reached ({detail}).',
    remediation: 'Check the host and port in MAILSHIFT_SMTP_URL (587 for smtp:// with STARTTLS, 465 for smtps://) and that the SMTP server accepts connections from this machine. The batch is not affected: `mailshift batch report NAME` gives the same report.',
  },
  NOTIFY_SMTP_TLS: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The notification e-mail could not be sent: TLS with the SMTP server {host}:{port} failed ({detail}).',
    remediation: 'If the server uses a private or self-signed certificate, save its CA as a PEM file and set MAILSHIFT_SMTP_CA to it; with smtp:// the server must offer STARTTLS, otherwise use smtps://. Certificate validation is never turned off.',
  },
  NOTIFY_SMTP_AUTH: {
    scope: 'endpoint', retry: 'never', class: 'auth',
    message: 'The notification e-mail could not be sent: the SMTP server {host} refused the sign-in of {user} ({detail}).',
    remediation: 'Check the user in MAILSHIFT_SMTP_URL and the password in MAILSHIFT_SMTP_PASSWORD; many providers require an app password for SMTP.',
  },
  NOTIFY_SMTP_REJECTED: {
    scope: 'endpoint', retry: 'never', class: 'protocol',
    message: 'The SMTP server {host} refused the notification e-mail: {detail}',
    remediation: 'Check the --notify addresses and MAILSHIFT_SMTP_FROM: the server must let the signed-in user send as that address and relay to those recipients.',
  },
  // ---- migration batches (issue 3 §3–4: `mailshift batch …`, `mailshift serve`, src/app/batch-service.ts)
  BATCH_EXISTS: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The migration batch already exists.',
    remediation: 'A batch named "{batch}" is already in this state database. Choose another name, or remove the existing batch first with `mailshift batch remove {batch}` (it stops the batch if it is running; mailboxes are never touched).',
  },
  BATCH_NOT_FOUND: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'There is no migration batch named "{batch}".',
    remediation: 'Run `mailshift batch list` to see the batches in this state database (--state PATH or MAILSHIFT_STATE), or create it with `mailshift batch create {batch} --csv FILE --source EP --target EP`.',
  },
  BATCH_INVALID_NAME: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The batch name "{batch}" is not valid: {detail}.',
    remediation: 'Use 1 to 64 letters, digits, "-", "_" or "." (no spaces or special characters), e.g. Sales-wave1.',
  },
  BATCH_ILLEGAL_TRANSITION: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The migration batch "{batch}" is {status}: "{command}" is not possible now.',
    remediation: '"{command}" is possible when the batch is {allowedIn}. While it is {status} you can: {possible}. See `mailshift batch show {batch}` and docs/batches.md (statuses and transitions).',
  },
  BATCH_ILLEGAL_USER_TRANSITION: {
    scope: 'mailbox', retry: 'never', class: 'internal',
    message: 'The user {address} cannot go from {from} to {to}.',
    remediation: 'From {from} a user may only go to: {allowed}. This is a bug in mailshift: report it with the output of `mailshift batch users BATCH --json`.',
  },
  BATCH_USER_EXISTS: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'Row {row}: the EmailAddress {address} is already in this batch.',
    remediation: 'Remove the row from the CSV: a mailbox is listed once per batch. To sync it again, use `mailshift batch retry` or `mailshift batch sync-now`.',
  },
  BATCH_NO_TARGET_CREDENTIALS: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'Row {row}: there are no credentials to sign in to {address} on the target endpoint "{endpoint}".',
    remediation: 'Add TargetUserName and TargetPassword columns to the CSV, or give the target endpoint admin credentials that may open every mailbox (`mailshift endpoint set {endpoint} --admin-user USER --admin-password-file FILE`).',
  },
  BATCH_GMAIL_LABELS: {
    scope: 'mailbox', retry: 'never', class: 'content',
    message: 'The source looks like Gmail and the folder "[Gmail]" is not excluded: messages with several labels will be copied once per label, which can double the size of the target mailboxes or more.',
    remediation: 'Remove this batch and create it again with --exclude "[Gmail]" (Gmail\'s virtual folders, including All Mail). Removing the labels from messages in the Gmail mailboxes avoids the duplicates too. Users already migrated must clean up the duplicates in their target mailbox.',
  },
  BATCH_SYNC_INTERRUPTED: {
    scope: 'mailbox', retry: 'later', class: 'internal',
    message: 'The sync of {address} was interrupted: {reason}.',
    remediation: 'Nothing to do: the sync resumes where it stopped (no message is copied twice) when the batch is started again or the service restarts.',
  },
  // ---- REST API (issue 6: `mailshift serve`, src/api/, docs/api.md)
  API_UNAUTHORIZED: {
    scope: 'input', retry: 'never', class: 'auth',
    message: 'The admin token is missing or wrong: {detail}.',
    remediation: 'Send the admin token as `Authorization: Bearer TOKEN` (for /api/events: ?ticket= from POST /api/events/ticket, or ?token=). It is MAILSHIFT_ADMIN_TOKEN, or the token `mailshift serve` printed once at its first start; `mailshift serve --new-token` replaces a lost one.',
  },
  API_NOT_FOUND: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'There is no API route {method} {path}.',
    remediation: 'See the list of routes at /api/docs (or /api/openapi.json) and docs/api.md.',
  },
  API_VALIDATION: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The request is not valid: {detail}.',
    remediation: 'Correct the request to match the route\'s JSON Schema (see /api/openapi.json and docs/api.md) and send it again.',
  },
  API_CSV_INVALID: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The CSV file has {count} problem(s); nothing was created.',
    remediation: 'Fix every row listed in "errors" (row numbers as a spreadsheet shows them, the header being row 1) and upload the file again.',
  },
  API_PAYLOAD_TOO_LARGE: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The request body is larger than {limit}.',
    remediation: 'A users CSV may be at most 10 MB: split larger files into several batches.',
  },
  API_ADMIN_TOKEN_INVALID: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The admin token from {source} is not usable: {detail}.',
    remediation: 'Use at least 16 random characters (e.g. `openssl rand -base64 32`), or unset MAILSHIFT_ADMIN_TOKEN to let `mailshift serve` create one; the token file next to the state database must have mode 0600 (`mailshift serve --new-token` writes a new one).',
  },
  BATCH_USER_NOT_FOUND: {
    scope: 'input', retry: 'never', class: 'usage',
    message: 'The migration batch "{batch}" has no user {address}.',
    remediation: 'List the batch\'s users with GET /api/batches/{batch}/users (or `mailshift batch users {batch}`); users are matched by EmailAddress without regard to case.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export type ErrorParams = Record<string, string | number>;

function fill(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (name === 'SIDE') return String(params.side ?? '').toUpperCase();
    const value = params[name];
    return value === undefined ? whole : String(value);
  });
}

export class MailshiftError extends Error {
  readonly code: ErrorCode;
  readonly params: ErrorParams;
  /** Server-suggested wait before retrying (throttling), in ms. */
  readonly retryAfterMs: number | null;

  constructor(code: ErrorCode, params: ErrorParams = {}, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(fill(ERROR_CATALOG[code].message, params), { cause: options.cause });
    this.name = 'MailshiftError';
    this.code = code;
    this.params = params;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }

  get spec(): ErrorSpec {
    return ERROR_CATALOG[this.code];
  }

  get remediation(): string {
    return fill(this.spec.remediation, this.params);
  }

  get retry(): RetryPolicy {
    return this.spec.retry;
  }

  toJSON(): { code: ErrorCode; message: string; remediation: string; scope: ErrorScope } {
    return { code: this.code, message: this.message, remediation: this.remediation, scope: this.spec.scope };
  }
}

export function isMailshiftError(err: unknown): err is MailshiftError {
  return err instanceof MailshiftError;
}

/**
 * A refusal that means "no more connections for this account" (a per-user limit, Gmail's
 * "Too many simultaneous connections"), not "this connection broke": fewer connections still work.
 */
export function isConnectionLimit(err: unknown): err is MailshiftError {
  return err instanceof MailshiftError && (err.code === 'CONN_TOO_MANY' || err.code === 'CONN_THROTTLED');
}

/** Documented exit codes (docs/cli.md). */
export const EXIT_CODES = {
  success: 0,
  internal: 1,
  usage: 2,
  connection: 3,
  tls: 4,
  auth: 5,
  quota: 6,
  partial: 7,
  verify: 8,
} as const;

export function exitCodeFor(err: unknown): number {
  if (!isMailshiftError(err)) return EXIT_CODES.internal;
  switch (err.spec.class) {
    case 'usage': return EXIT_CODES.usage;
    case 'connection': return EXIT_CODES.connection;
    case 'tls': return EXIT_CODES.tls;
    case 'auth': return EXIT_CODES.auth;
    case 'quota': return EXIT_CODES.quota;
    case 'verify': return EXIT_CODES.verify;
    case 'content': case 'protocol': return EXIT_CODES.partial;
    default: return EXIT_CODES.internal;
  }
}
