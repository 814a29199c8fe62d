// TFTP wire format: RFC 1350 packets plus the RFC 2347 OACK. Decoding never throws:
// anything that is not a well-formed packet comes back as a reason the caller counts.

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export const ERR = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** An ERROR packet's code and message, exactly as sent (RFC 1350 §5). */
export interface TftpErrorPacket {
  code: number;
  message: string;
}

/** Option names are lower-cased; the object has no prototype, so any name is safe as a key. */
export type Options = Record<string, string>;

export type Packet =
  | { op: 'rrq' | 'wrq'; filename: string; mode: string; options: Options }
  | { op: 'data'; block: number; payload: Buffer }
  | { op: 'ack'; block: number }
  | { op: 'error'; code: number; message: string }
  | { op: 'oack'; options: Options };

/**
 * Why a datagram is not a packet. A read or write request that cannot be served as
 * sent is `malformed` with the RFC 1350 error 4 message to answer it with and the
 * filename, when one could be read; anything else is dropped unanswered.
 */
export type Decoded =
  | { ok: true; packet: Packet }
  | { ok: false; reason: 'runt' | 'bad-opcode' }
  | { ok: false; reason: 'malformed'; op: 'rrq' | 'wrq'; error: string; filename: string | null };
export type DecodeFailure = Extract<Decoded, { ok: false }>['reason'];

// RFC 1350 error messages are meant for humans at a console; keep them one line.
const MAX_ERROR_MESSAGE = 200;

export function decode(buf: Buffer): Decoded {
  if (buf.length < 2) return { ok: false, reason: 'runt' };
  const op = buf.readUInt16BE(0);
  switch (op) {
    case OP.RRQ:
    case OP.WRQ:
      return decodeRequest(op === OP.RRQ ? 'rrq' : 'wrq', buf);
    case OP.DATA:
      if (buf.length < 4) return { ok: false, reason: 'runt' };
      return { ok: true, packet: { op: 'data', block: buf.readUInt16BE(2), payload: buf.subarray(4) } };
    case OP.ACK:
      // Trailing bytes after the block number are tolerated: some ROMs pad.
      if (buf.length < 4) return { ok: false, reason: 'runt' };
      return { ok: true, packet: { op: 'ack', block: buf.readUInt16BE(2) } };
    case OP.ERROR: {
      if (buf.length < 4) return { ok: false, reason: 'runt' };
      const end = buf.indexOf(0, 4);
      const message = buf.toString('utf8', 4, end === -1 ? buf.length : end).slice(0, MAX_ERROR_MESSAGE);
      return { ok: true, packet: { op: 'error', code: buf.readUInt16BE(2), message } };
    }
    case OP.OACK:
      return { ok: true, packet: { op: 'oack', options: optionPairs(cStrings(buf, 2)) } };
    default:
      return { ok: false, reason: 'bad-opcode' };
  }
}

/**
 * A request needs a filename and a mode, each NUL-terminated (RFC 1350 §5). The
 * answers to one that lacks them are tftp-hpa's (error 4, "Missing mode", "Request
 * not null-terminated"), except that an empty filename is named as such: tftp-hpa
 * stops reading at the first empty string and calls that "Missing mode" too.
 * Options follow in pairs (RFC 2347); an unterminated tail after the mode is ignored.
 */
function decodeRequest(op: 'rrq' | 'wrq', buf: Buffer): Decoded {
  const malformed = (error: string, filename: string | null = null): Decoded => ({
    ok: false,
    reason: 'malformed',
    op,
    error,
    filename,
  });
  const nameEnd = buf.indexOf(0, 2);
  if (buf.length === 2 || nameEnd === 2) return malformed('Missing filename');
  if (nameEnd === -1) return malformed('Request not null-terminated', buf.toString('utf8', 2));
  const filename = buf.toString('utf8', 2, nameEnd);
  const modeEnd = buf.indexOf(0, nameEnd + 1);
  if (nameEnd + 1 === buf.length || modeEnd === nameEnd + 1) return malformed('Missing mode', filename);
  if (modeEnd === -1) return malformed('Request not null-terminated', filename);
  const mode = buf.toString('utf8', nameEnd + 1, modeEnd).toLowerCase();
  return { ok: true, packet: { op, filename, mode, options: optionPairs(cStrings(buf, modeEnd + 1)) } };
}

/** NUL-terminated strings from `start`; an unterminated tail is not a string and is ignored. */
function cStrings(buf: Buffer, start: number): string[] {
  const out: string[] = [];
  let at = start;
  // Each iteration consumes at least one byte, so this ends within buf.length steps.
  while (at < buf.length) {
    const end = buf.indexOf(0, at);
    if (end === -1) break;
    out.push(buf.toString('utf8', at, end));
    at = end + 1;
  }
  return out;
}

/** name/value pairs; a name without a value is dropped, the first of duplicate names wins. */
function optionPairs(strings: string[]): Options {
  const options: Options = Object.create(null);
  for (let i = 0; i + 1 < strings.length; i += 2) {
    const name = strings[i]!.toLowerCase();
    if (name !== '' && !(name in options)) options[name] = strings[i + 1]!;
  }
  return options;
}

function withStrings(op: number, strings: string[]): Buffer {
  const parts = strings.map((s) => Buffer.from(s + '\0', 'utf8'));
  const head = Buffer.alloc(2);
  head.writeUInt16BE(op);
  return Buffer.concat([head, ...parts]);
}

export function encodeRequest(op: 'rrq' | 'wrq', filename: string, mode: string, options: Options = {}): Buffer {
  const pairs = Object.entries(options).flat();
  return withStrings(op === 'rrq' ? OP.RRQ : OP.WRQ, [filename, mode, ...pairs]);
}

/** Writes a DATA packet's 4-byte header at `offset`; the block number is sent modulo 65536. */
export function writeDataHeader(buf: Buffer, offset: number, block: number): void {
  buf.writeUInt16BE(OP.DATA, offset);
  buf.writeUInt16BE(block & 0xffff, offset + 2);
}

export function encodeAck(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

/** The message as an ERROR packet carries it. */
export function errorText(message: string): string {
  return message.slice(0, MAX_ERROR_MESSAGE);
}

export function encodeError(code: number, message: string): Buffer {
  const text = Buffer.from(errorText(message) + '\0', 'utf8');
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.ERROR, 0);
  b.writeUInt16BE(code, 2);
  return Buffer.concat([b, text]);
}

export function encodeOack(options: Options): Buffer {
  return withStrings(OP.OACK, Object.entries(options).flat());
}
