/**
 * A small, pure RFC 4180 reader. It never throws on bad input: broken records become problems so the
 * caller can report every mistake in a file at once instead of stopping at the first.
 *
 * Deliberate leniencies (files come from Excel, Google Sheets and hand editing):
 * - CRLF, LF and a lone CR all end a record; a UTF-8 BOM is dropped.
 * - Spaces and tabs around a value are dropped unless the value is quoted (also around quotes).
 * - A `"` in the middle of an unquoted value is kept literally: it is unambiguous, and rejecting it
 *   would refuse passwords typed by hand.
 * - Blank lines carry no record and are skipped, but still count towards row numbers so the numbers
 *   match what the admin sees in a spreadsheet or editor.
 */

export interface CsvRow {
  /**
   * 1-based record number as a spreadsheet shows it: the first record (usually the header) is row 1,
   * a value with line breaks inside quotes stays one row, and skipped blank lines still count.
   */
  row: number;
  /** 1-based physical line where the record starts, for text editors. */
  line: number;
  fields: string[];
  /** The same values without trimming unquoted ones: for passwords, where surrounding spaces may count. */
  untrimmed: string[];
}

export interface CsvProblem {
  row: number;
  line: number;
  /** Describes the defect by position only; never quotes field contents (they may be passwords). */
  detail: string;
}

export interface CsvParseResult {
  rows: CsvRow[];
  problems: CsvProblem[];
}

const BOM = '\uFEFF';

function isBlank(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

function isRecordEnd(ch: string | undefined): boolean {
  return ch === undefined || ch === '\n' || ch === '\r';
}

function trimBlanks(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

export function parseCsv(input: string): CsvParseResult {
  const text = input.startsWith(BOM) ? input.slice(BOM.length) : input;
  const n = text.length;
  const rows: CsvRow[] = [];
  const problems: CsvProblem[] = [];

  let i = 0;
  let row = 1;
  let line = 1;

  /** Advances past one record terminator (CRLF, LF or CR) if there is one; returns whether it did. */
  const skipRecordEnd = (): boolean => {
    if (text[i] === '\r') {
      i += text[i + 1] === '\n' ? 2 : 1;
      line++;
      return true;
    }
    if (text[i] === '\n') {
      i++;
      line++;
      return true;
    }
    return false;
  };

  while (i < n) {
    const recordRow = row;
    const recordLine = line;
    const fields: string[] = [];
    const untrimmed: string[] = [];
    let anyQuoted = false;
    let problem: string | null = null;
    /** Set when an unterminated quote forces a restart at a later position. */
    let resumeAt: { index: number; line: number } | null = null;

    for (;;) {
      const column = fields.length + 1;
      const fieldStart = i;
      while (isBlank(text[i])) i++;

      if (text[i] === '"') {
        anyQuoted = true;
        const openIndex = i;
        const openLine = line;
        i++;
        let value = '';
        let closed = false;
        while (i < n) {
          const ch = text[i] as string;
          if (ch === '"') {
            if (text[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          // Line breaks inside quotes are data, but they still move the editor's line counter.
          if (ch === '\n' || (ch === '\r' && text[i + 1] !== '\n')) line++;
          value += ch;
          i++;
        }
        if (!closed) {
          problem = `the quoted value in column ${column} (opened on line ${openLine}) is never closed: a closing double quote is missing.`;
          // Taken literally, the rest of the file would be one value; restarting on the next line keeps
          // the records after it readable, so their own mistakes are reported too.
          const nextBreak = text.slice(openIndex).search(/\r\n|\n|\r/);
          if (nextBreak === -1) {
            resumeAt = { index: n, line: openLine };
          } else {
            const breakAt = openIndex + nextBreak;
            resumeAt = { index: breakAt + (text.startsWith('\r\n', breakAt) ? 2 : 1), line: openLine + 1 };
          }
          break;
        }
        while (isBlank(text[i])) i++;
        if (text[i] !== ',' && !isRecordEnd(text[i])) {
          problem ??= `column ${column} has text after its closing double quote; a double quote inside a quoted value must be doubled ("").`;
          while (text[i] !== ',' && !isRecordEnd(text[i])) i++;
        }
        fields.push(value);
        untrimmed.push(value);
      } else {
        while (text[i] !== ',' && !isRecordEnd(text[i])) i++;
        fields.push(trimBlanks(text.slice(fieldStart, i)));
        untrimmed.push(text.slice(fieldStart, i));
      }

      if (text[i] === ',') {
        i++;
        continue;
      }
      skipRecordEnd();
      break;
    }

    if (resumeAt) {
      i = resumeAt.index;
      line = resumeAt.line;
    }
    row++;

    if (problem !== null) {
      problems.push({ row: recordRow, line: recordLine, detail: problem });
    } else if (!(fields.length === 1 && fields[0] === '' && !anyQuoted)) {
      rows.push({ row: recordRow, line: recordLine, fields, untrimmed });
    }
  }

  return { rows, problems };
}
