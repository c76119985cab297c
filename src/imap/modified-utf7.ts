/**
 * Modified UTF-7 for mailbox names (RFC 3501 §5.1.3). Needed by the raw append connection, which
 * does not ENABLE UTF8=ACCEPT (RFC 6855) and so must send non-ASCII folder names this way. imapflow
 * does the same internally through iconv-lite, which is not our dependency to import.
 */

function toModifiedBase64(units: number[]): string {
  const bytes = Buffer.alloc(units.length * 2);
  units.forEach((u, i) => bytes.writeUInt16BE(u, i * 2));
  return bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',');
}

export function encodeModifiedUtf7(name: string): string {
  let out = '';
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length > 0) {
      out += `&${toModifiedBase64(pending)}-`;
      pending = [];
    }
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    // Printable US-ASCII (0x20-0x7e) represents itself; everything else, including controls,
    // goes through UTF-16 in modified base64 (§5.1.3: "&" is the only shifted printable).
    if (unit >= 0x20 && unit <= 0x7e) {
      flush();
      out += unit === 0x26 ? '&-' : name[i];
    } else {
      pending.push(unit);
    }
  }
  flush();
  return out;
}

export function decodeModifiedUtf7(name: string): string {
  return name.replace(/&([^-]*)-/g, (_whole, b64: string) => {
    if (b64 === '') return '&';
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    let s = '';
    for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes.readUInt16BE(i));
    return s;
  });
}
