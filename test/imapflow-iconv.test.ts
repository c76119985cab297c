import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import codec from '../src/imap/imapflow-iconv.js';

// The real thing, as imapflow loads it.
const require = createRequire(import.meta.url);
const iconv = createRequire(require.resolve('imapflow'))('iconv-lite') as typeof codec;

const NAMES = [
  '', 'INBOX', 'Sent Items', 'A&B', '&', '&&', '-&-', 'Entwürfe', 'Émoji 🎉', 'Überweisung', 'Reçus', '~peter/mail/台北/日本語',
  'tab\there', 'ctl\x01\x7f', 'a🎉b📧c', '🎉', 'x\u00e9&\u00e9y', 'trailing é', 'é leading', '\ud83d lone', 'ﬀ ligature', '\uFEFFbom',
];

test('modified UTF-7: encodes mailbox names exactly as iconv-lite does', () => {
  for (const name of NAMES) {
    assert.deepEqual(codec.encode(name, 'utf-7-imap'), iconv.encode(name, 'utf-7-imap'), JSON.stringify(name));
  }
});

test('modified UTF-7: decodes what servers send exactly as iconv-lite does, malformed names included', () => {
  const wire = [
    ...NAMES.map((name) => iconv.encode(name, 'utf-7-imap').toString('latin1')),
    // Malformed: unterminated, empty-looking, odd byte counts, characters outside modified base64, a BOM.
    '&', '&AMk', 'x&AMk', '&Zm9v-', '&AM-', '&!!-', '&AMk-&AMk-', '&AMkA6Q-', '&/v8-x', '&AOk,-', 'a-b&-c', '&2D3fiQ-', '&2D0-', '\u00e9raw',
  ];
  for (const text of wire) {
    const bytes = Buffer.from(text, 'latin1');
    assert.equal(codec.decode(bytes, 'utf-7-imap'), iconv.decode(bytes, 'utf-7-imap'), JSON.stringify(text));
  }
});

test('other encodings are left to iconv-lite', () => {
  assert.deepEqual(codec.encode('Grüße', 'latin1'), iconv.encode('Grüße', 'latin1'));
  assert.equal(codec.decode(Buffer.from([0x47, 0x72, 0xfc]), 'latin1'), 'Grü');
  assert.equal(codec.decode(Buffer.from('&AOk-', 'latin1'), 'UTF-7-IMAP'), 'é');
});
