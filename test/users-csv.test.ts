import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCsv } from '../src/batch/csv-parse.ts';
import { parseUsersCsv, isValidEmailAddress, type UsersCsvResult, type UserRow } from '../src/batch/users-csv.ts';
import type { MailshiftError } from '../src/domain/errors.ts';

const HEADER = 'EmailAddress,UserName,Password';

function users(result: UsersCsvResult): UserRow[] {
  if (!result.ok) assert.fail(`expected ok, got: ${result.errors.map((e) => e.message).join(' | ')}`);
  return result.users;
}

function errors(result: UsersCsvResult): MailshiftError[] {
  if (result.ok) assert.fail('expected errors, got ok');
  return result.errors;
}

function messages(result: UsersCsvResult): string[] {
  return errors(result).map((e) => e.message);
}

/** Everything a user or a log could see of an error. */
function visibleText(errs: MailshiftError[]): string {
  return errs.map((e) => `${e.message}\n${e.remediation}\n${JSON.stringify(e.params)}\n${JSON.stringify(e)}`).join('\n');
}

describe('parseCsv', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks', () => {
    const { rows, problems } = parseCsv('a,"b,c","say ""hi""","two\r\nlines"\nd,e,f,g\n');
    assert.deepEqual(problems, []);
    assert.deepEqual(rows, [
      { row: 1, line: 1, fields: ['a', 'b,c', 'say "hi"', 'two\r\nlines'], untrimmed: ['a', 'b,c', 'say "hi"', 'two\r\nlines'] },
      { row: 2, line: 3, fields: ['d', 'e', 'f', 'g'], untrimmed: ['d', 'e', 'f', 'g'] },
    ]);
  });

  it('drops a BOM, accepts CRLF, LF and CR, and ignores blank lines while counting them', () => {
    const { rows, problems } = parseCsv('\uFEFFh1,h2\r\nx,y\r\n\r\nz,w\rq,r\n\n\n');
    assert.deepEqual(problems, []);
    assert.deepEqual(rows.map((r) => [r.row, r.line, r.fields]), [
      [1, 1, ['h1', 'h2']],
      [2, 2, ['x', 'y']],
      [4, 4, ['z', 'w']],
      [5, 5, ['q', 'r']],
    ]);
  });

  it('trims spaces around unquoted values but keeps them inside quotes', () => {
    const { rows } = parseCsv('  a  ,\tb\t, " c " ,d e');
    assert.deepEqual(rows[0]?.fields, ['a', 'b', ' c ', 'd e']);
  });

  it('keeps the untrimmed value of unquoted fields for passwords', () => {
    const { rows } = parseCsv(' a , p@ss ');
    assert.deepEqual(rows[0]!.fields, ['a', 'p@ss']);
    assert.deepEqual(rows[0]!.untrimmed, [' a ', ' p@ss ']);
    const users = parseUsersCsv('EmailAddress,UserName,Password\r\n alice@example.com , alice , secret \r\n');
    assert.ok(users.ok);
    assert.equal(users.users[0]!.emailAddress, 'alice@example.com');
    assert.equal(users.users[0]!.userName, 'alice');
    assert.equal(users.users[0]!.password, ' secret ');
  });

  it('keeps empty fields, including a trailing one', () => {
    assert.deepEqual(parseCsv('a,,b,\n').rows[0]?.fields, ['a', '', 'b', '']);
    assert.deepEqual(parseCsv('""').rows[0]?.fields, ['']);
  });

  it('keeps a quote in the middle of an unquoted value literally', () => {
    assert.deepEqual(parseCsv('p"ss,x').rows[0]?.fields, ['p"ss', 'x']);
  });

  it('reports an unterminated quote as a problem and keeps reading the next lines', () => {
    const { rows, problems } = parseCsv('h1,h2\nx,"secret\ny,z\n');
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.row, 2);
    assert.equal(problems[0]?.line, 2);
    assert.match(problems[0]?.detail ?? '', /never closed/);
    assert.doesNotMatch(problems[0]?.detail ?? '', /secret/);
    assert.deepEqual(rows.map((r) => [r.row, r.line, r.fields]), [[1, 1, ['h1', 'h2']], [3, 3, ['y', 'z']]]);
  });

  it('reports an unterminated quote on the last line without throwing', () => {
    const { rows, problems } = parseCsv('a,"b');
    assert.deepEqual(rows, []);
    assert.equal(problems.length, 1);
  });

  it('reports text after a closing quote', () => {
    const { rows, problems } = parseCsv('"ab"c,d\ne,f');
    assert.equal(problems[0]?.row, 1);
    assert.match(problems[0]?.detail ?? '', /column 1 has text after its closing double quote/);
    assert.deepEqual(rows.map((r) => r.fields), [['e', 'f']]);
  });

  it('returns nothing for empty or blank input', () => {
    assert.deepEqual(parseCsv(''), { rows: [], problems: [] });
    assert.deepEqual(parseCsv('\uFEFF\r\n\n'), { rows: [], problems: [] });
  });
});

describe('parseUsersCsv: valid files', () => {
  it('reads the three required columns and numbers rows as a spreadsheet does (header = row 1)', () => {
    const result = parseUsersCsv(`${HEADER}\nalice@contoso.com,alice,P@ssw0rd\nbob@contoso.com,bob,hunter2\n`);
    assert.deepEqual(users(result), [
      { row: 2, emailAddress: 'alice@contoso.com', userName: 'alice', password: 'P@ssw0rd' },
      { row: 3, emailAddress: 'bob@contoso.com', userName: 'bob', password: 'hunter2' },
    ]);
  });

  it('matches header names case-insensitively, in any order, with optional columns', () => {
    const csv = [
      'password,TARGETUSERNAME,userroot,emailaddress,TargetPassword,UserName',
      'pw1,alice@target,/users/alice,alice@contoso.com,tpw1,alice',
      'pw2,,,bob@contoso.com,,bob',
    ].join('\r\n');
    assert.deepEqual(users(parseUsersCsv(csv)), [
      { row: 2, emailAddress: 'alice@contoso.com', userName: 'alice', password: 'pw1', userRoot: '/users/alice', targetUserName: 'alice@target', targetPassword: 'tpw1' },
      { row: 3, emailAddress: 'bob@contoso.com', userName: 'bob', password: 'pw2' },
    ]);
  });

  it('preserves admin user name formats byte for byte', () => {
    const names = [
      'Contoso/mailadmin/alice',
      'alice*mailadmin',
      '#alice@contoso.com#mailadmin#',
      'CONTOSO\\alice',
      ' spaced name ',
    ];
    const csv = [HEADER, ...names.map((n, i) => `user${i}@contoso.com,"${n.replace(/"/g, '""')}",pw`)].join('\n');
    assert.deepEqual(users(parseUsersCsv(csv)).map((u) => u.userName), names);
  });

  it('accepts a Buffer with a UTF-8 BOM, CRLF, quoted passwords and trailing blank lines', () => {
    const text = `\uFEFF${HEADER}\r\nanna@contoso.com,anna,"p,""ä""\r\nx"\r\n\r\n\r\n`;
    assert.deepEqual(users(parseUsersCsv(Buffer.from(text, 'utf8'))), [
      { row: 2, emailAddress: 'anna@contoso.com', userName: 'anna', password: 'p,"ä"\r\nx' },
    ]);
  });

  it('accepts UTF-16LE with its BOM (Excel "Unicode" save)', () => {
    const text = `\uFEFF${HEADER}\r\nanna@contoso.com,anna,pässword\r\n`;
    assert.equal(users(parseUsersCsv(Buffer.from(text, 'utf16le')))[0]?.password, 'pässword');
  });

  it('skips rows whose cells are all empty (Excel leftovers)', () => {
    assert.deepEqual(users(parseUsersCsv(`${HEADER}\n,,\nalice@contoso.com,alice,pw\n,,\n`)).map((u) => u.row), [3]);
  });

  it('accepts exactly 50,000 users', () => {
    const lines = [HEADER];
    for (let i = 0; i < 50_000; i++) lines.push(`user${i}@contoso.com,user${i},pw${i}`);
    const result = users(parseUsersCsv(lines.join('\n')));
    assert.equal(result.length, 50_000);
    assert.equal(result[49_999]?.row, 50_001);
  });
});

describe('parseUsersCsv: the validation table', () => {
  it('CSV_EMPTY for an empty file, a blank file, and a header without users', () => {
    for (const input of ['', '\uFEFF', '\r\n\r\n', Buffer.alloc(0), `${HEADER}\r\n`]) {
      const errs = errors(parseUsersCsv(input));
      assert.deepEqual(errs.map((e) => [e.code, e.message]), [['CSV_EMPTY', "Upload file can't be empty."]]);
    }
  });

  it('CSV_TOO_MANY_ROWS above 50,000 users', () => {
    const lines = [HEADER];
    for (let i = 0; i < 50_001; i++) lines.push(`user${i}@contoso.com,user${i},pw${i}`);
    assert.deepEqual(messages(parseUsersCsv(lines.join('\n'))), [
      'The CSV file contains more than 50,000 rows. Please divide the file into two or more files and submit them separately.',
    ]);
  });

  it('honours a custom maxRows', () => {
    const csv = `${HEADER}\na@contoso.com,a,p\nb@contoso.com,b,p\n`;
    assert.equal(errors(parseUsersCsv(csv, { maxRows: 1 }))[0]?.code, 'CSV_TOO_MANY_ROWS');
    assert.equal(users(parseUsersCsv(csv, { maxRows: 2 })).length, 2);
  });

  it('CSV_TOO_LARGE above 10 MB, with a human size', () => {
    const row = `someone@contoso.com,someone,${'x'.repeat(200)}\n`;
    const big = HEADER + '\n' + row.repeat(Math.ceil((10 * 1024 * 1024) / row.length) + 1);
    const errs = errors(parseUsersCsv(Buffer.from(big)));
    assert.equal(errs.length, 1);
    assert.equal(errs[0]?.code, 'CSV_TOO_LARGE');
    assert.equal(errs[0]?.message, 'The CSV file is larger than 10 MB (10.0 MB). Please divide the file into two or more files and submit them separately.');
    assert.doesNotMatch(errs[0]?.message ?? '', /x{10}/);
    assert.equal(errors(parseUsersCsv('a'.repeat(2048), { maxBytes: 1024 }))[0]?.message,
      'The CSV file is larger than 10 MB (2.0 KB). Please divide the file into two or more files and submit them separately.');
  });

  it('CSV_COLUMN_MISSING once per missing required column', () => {
    assert.deepEqual(messages(parseUsersCsv('EmailAddress\nalice@contoso.com\n')), [
      'Column "UserName" is missing from the CSV file. The import process can\'t continue because this column is required. Please edit the CSV file and re-submit it.',
      'Column "Password" is missing from the CSV file. The import process can\'t continue because this column is required. Please edit the CSV file and re-submit it.',
    ]);
  });

  it('a first row of data instead of names reports the three missing columns, not every value', () => {
    const errs = errors(parseUsersCsv('alice@contoso.com,alice,Secr3t!\nbob@contoso.com,bob,pw\n'));
    assert.deepEqual(errs.map((e) => [e.code, e.params.column]), [
      ['CSV_COLUMN_MISSING', 'EmailAddress'], ['CSV_COLUMN_MISSING', 'UserName'], ['CSV_COLUMN_MISSING', 'Password'],
    ]);
    assert.doesNotMatch(visibleText(errs), /Secr3t!/);
  });

  it('TargetUserName without TargetPassword (as columns) is a missing column', () => {
    assert.deepEqual(messages(parseUsersCsv(`${HEADER},TargetUserName\na@contoso.com,a,p,t\n`)), [
      'Column "TargetPassword" is missing from the CSV file. The import process can\'t continue because this column is required. Please edit the CSV file and re-submit it.',
    ]);
  });

  it('unknown, unnamed and repeated columns are errors', () => {
    assert.deepEqual(messages(parseUsersCsv(`${HEADER},Quota,,password\na@contoso.com,a,p,1,,p\n`)), [
      'Row 1: the column "Password" appears more than once.',
      'Row 1: the column "Quota" is not known. The accepted columns are EmailAddress, UserName, Password, UserRoot, TargetUserName, TargetPassword.',
      'Row 1: column 5 has no name. The accepted columns are EmailAddress, UserName, Password, UserRoot, TargetUserName, TargetPassword.',
    ]);
  });

  it('CSV_WRONG_COLUMN_COUNT with the spreadsheet row number', () => {
    assert.deepEqual(messages(parseUsersCsv(`${HEADER}\nalice@contoso.com,alice,pw\nbob@contoso.com,bob\n`)), [
      'Row 3 has the wrong number of columns. Expected number: 3. Actual number: 2. Please edit this row and re-submit the file.',
    ]);
  });

  it('CSV_DUPLICATE_ADDRESS, case-insensitive', () => {
    assert.deepEqual(messages(parseUsersCsv(`${HEADER}\nalice@contoso.com,a,p\nbob@contoso.com,b,p\nAlice@Contoso.COM,a2,p\n`)), [
      'Row 4: the EmailAddress Alice@Contoso.COM already appears in row 2.',
    ]);
  });

  it('CSV_INVALID_ADDRESS', () => {
    const bad = ['alice@', '@contoso.com', 'alice@contoso', 'alice@@contoso.com', 'al ice@contoso.com', 'alice@contoso..com', 'alice.@contoso.com', 'alice@-contoso.com', 'alice@contoso.123'];
    const csv = [HEADER, ...bad.map((b, i) => `${b},u${i},p`)].join('\n');
    assert.deepEqual(messages(parseUsersCsv(csv)), bad.map((b, i) => `Row ${i + 2}: "${b}" is not a valid EmailAddress.`));
  });

  it('accepts ordinary and internationalised addresses', () => {
    for (const ok of ['alice@contoso.com', 'a.b+tag@sub.contoso.co.uk', "o'brien@contoso.com", 'josé@bücher.de', 'x@xn--bcher-kva.de']) {
      assert.ok(isValidEmailAddress(ok), ok);
    }
  });

  it('CSV_EMPTY_VALUE for an empty EmailAddress, UserName or Password', () => {
    assert.deepEqual(messages(parseUsersCsv(`${HEADER}\n,alice,pw\nbob@contoso.com,,pw\ncarol@contoso.com,carol,\n`)), [
      'Row 2: the column "EmailAddress" is empty.',
      'Row 3: the column "UserName" is empty.',
      'Row 4: the column "Password" is empty.',
    ]);
  });

  it('TargetUserName and TargetPassword must be both present or both absent in a row', () => {
    const csv = `${HEADER},TargetUserName,TargetPassword\na@contoso.com,a,p,ta,\nb@contoso.com,b,p,,tpw\nc@contoso.com,c,p,,\n`;
    assert.deepEqual(messages(parseUsersCsv(csv)), [
      'Row 2: the column "TargetPassword" is empty.',
      'Row 3: the column "TargetUserName" is empty.',
    ]);
  });

  it('CSV_MALFORMED for an unterminated quote, with the row number', () => {
    const errs = errors(parseUsersCsv(`${HEADER}\nalice@contoso.com,alice,"Secr3t\nbob@contoso.com,bob,pw\n`));
    assert.deepEqual(errs.map((e) => e.code), ['CSV_MALFORMED']);
    assert.match(errs[0]?.message ?? '', /^Row 2: the quoted value in column 3 \(opened on line 2\) is never closed/);
    assert.doesNotMatch(visibleText(errs), /Secr3t/);
  });

  it('CSV_MALFORMED when the header row itself is broken', () => {
    assert.deepEqual(errors(parseUsersCsv('"EmailAddress,UserName,Password\na@contoso.com,a,p\n')).map((e) => [e.code, e.params.row]), [['CSV_MALFORMED', 1]]);
  });

  it('CSV_MALFORMED for text that is not UTF-8 (Excel "CSV" in a Windows code page)', () => {
    const cp1252 = Buffer.concat([Buffer.from(`${HEADER}\r\nalice@contoso.com,alice,p`), Buffer.from([0xe4]), Buffer.from('ss\r\n')]);
    assert.deepEqual(messages(parseUsersCsv(cp1252)), [
      'Row 2: line 2 is not valid UTF-8 text. Save the file as "CSV UTF-8 (Comma delimited)".',
    ]);
  });
});

describe('parseUsersCsv: reporting', () => {
  it('reports every problem at once, in row order', () => {
    const csv = [
      HEADER,
      'alice@contoso.com,alice,pw1', // 2 ok
      'bob@contoso.com,bob', // 3 wrong count
      'not-an-address@,carol,pw3', // 4 invalid
      'ALICE@contoso.com,alice2,pw4', // 5 duplicate
      'dave@contoso.com,,', // 6 two empties
      'erin@contoso.com,erin,"pw6', // 7 unterminated
      'frank@contoso.com,frank,pw7', // 8 ok
    ].join('\n');
    const errs = errors(parseUsersCsv(csv));
    assert.deepEqual(errs.map((e) => [e.code, e.params.row]), [
      ['CSV_WRONG_COLUMN_COUNT', 3],
      ['CSV_INVALID_ADDRESS', 4],
      ['CSV_DUPLICATE_ADDRESS', 5],
      ['CSV_EMPTY_VALUE', 6],
      ['CSV_EMPTY_VALUE', 6],
      ['CSV_MALFORMED', 7],
    ]);
  });

  it('counts rows as records: a quoted line break does not shift later row numbers', () => {
    const csv = `${HEADER}\nalice@contoso.com,alice,"multi\nline"\nbob@contoso.com,bob\n`;
    assert.deepEqual(errors(parseUsersCsv(csv)).map((e) => e.params.row), [3]);
  });

  it('never shows a password in any error, even with columns in the wrong place', () => {
    const secrets = ['Secr3t-one', 'Secr3t-two', 'Secr3t-three', 'Secr3t-four', 'Secr3t-five'];
    const csv = [
      `${HEADER},TargetUserName,TargetPassword`,
      `${secrets[0]},alice,alice@contoso.com,,`, // password typed into the address column
      `bob@contoso.com,bob,${secrets[1]},x`, // wrong count
      `carol@contoso.com,,${secrets[2]},,`, // empty user name
      `dave@contoso.com,dave,${secrets[3]},,"${secrets[4]}`, // unterminated quote + target pair
      `x@contoso,frank,x@contoso,,`, // an invalid address that is also the row's password
    ].join('\n');
    const errs = errors(parseUsersCsv(csv));
    assert.ok(errs.length >= 5);
    const text = visibleText(errs);
    for (const s of [...secrets, 'x@contoso"']) assert.ok(!text.includes(s), `leaked ${s}`);
  });
});
