export * from './dovecot-server.js';
export * from './corpus.js';
export * from './fill-mailbox.js';
