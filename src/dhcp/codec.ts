// DHCPv4 wire format (RFC 2131 §2, RFC 2132, RFC 3396). parse() never throws:
// a datagram is either a packet or a named error the server counts and drops.
// Options stay raw bytes (views into the datagram) keyed by code; typed reads
// live in small accessors that refuse a wrong length instead of guessing.
import { OPT, type OptionPair } from './options.js';

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
const MAGIC_COOKIE = 0x63825363;
/** Fixed BOOTP header (236) plus the cookie. */
const HEADER = 240;
/** RFC 1542: some relays and old clients drop BOOTP messages shorter than 300 octets. */
const MIN_REPLY = 300;

export const DHCP = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** All 16 chaddr bytes (a view into the datagram). */
  chaddr: Buffer;
  sname: string;
  file: string;
  /** Raw option bytes by code; repeated codes are concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

export type ParseError = 'short' | 'bad-cookie' | 'truncated-option' | 'bad-overload';
export type ParseResult = { ok: true; packet: DhcpPacket } | { ok: false; error: ParseError };

/** Walk one options area; stops at END (255). Returns an error name or null. */
function readOptions(buf: Buffer, start: number, end: number, into: Map<number, Buffer>): ParseError | null {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === 0) {
      i++; // PAD is a single byte with no length
      continue;
    }
    if (code === 255) return null;
    if (i + 1 >= end) return 'truncated-option';
    const len = buf[i + 1]!;
    const from = i + 2;
    if (from + len > end) return 'truncated-option';
    const value = buf.subarray(from, from + len);
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, value]) : value);
    i = from + len;
  }
  return null; // a missing END is tolerated: many clients pad to the end instead
}

function cString(buf: Buffer, start: number, len: number): string {
  const nul = buf.indexOf(0, start);
  const end = nul === -1 || nul > start + len ? start + len : nul;
  return buf.toString('latin1', start, end);
}

export function parse(buf: Buffer): ParseResult {
  if (buf.length < HEADER) return { ok: false, error: 'short' };
  if (buf.readUInt32BE(236) !== MAGIC_COOKIE) return { ok: false, error: 'bad-cookie' };
  const options = new Map<number, Buffer>();
  const err = readOptions(buf, HEADER, buf.length, options);
  if (err) return { ok: false, error: err };
  let sname = cString(buf, 44, 64);
  let file = cString(buf, 108, 128);
  const overload = options.get(OPT.overload);
  if (overload) {
    const v = overload.length === 1 ? overload[0]! : 0;
    if (v < 1 || v > 3) return { ok: false, error: 'bad-overload' };
    options.delete(OPT.overload);
    // RFC 3396 order: options field, then file, then sname.
    if (v & 1) {
      const e = readOptions(buf, 108, 236, options);
      if (e) return { ok: false, error: e };
      file = '';
    }
    if (v & 2) {
      const e = readOptions(buf, 44, 108, options);
      if (e) return { ok: false, error: e };
      sname = '';
    }
  }
  return {
    ok: true,
    packet: {
      op: buf[0]!,
      htype: buf[1]!,
      hlen: buf[2]!,
      hops: buf[3]!,
      xid: buf.readUInt32BE(4),
      secs: buf.readUInt16BE(8),
      flags: buf.readUInt16BE(10),
      ciaddr: buf.readUInt32BE(12),
      yiaddr: buf.readUInt32BE(16),
      siaddr: buf.readUInt32BE(20),
      giaddr: buf.readUInt32BE(24),
      chaddr: buf.subarray(28, 44),
      sname,
      file,
      options,
    },
  };
}

// ---- typed reads: null when absent or of the wrong length -------------------

export function optU8(p: DhcpPacket, code: number): number | null {
  const v = p.options.get(code);
  return v && v.length === 1 ? v[0]! : null;
}

export function optIp(p: DhcpPacket, code: number): number | null {
  const v = p.options.get(code);
  return v && v.length === 4 ? v.readUInt32BE(0) : null;
}

export function optString(p: DhcpPacket, code: number): string | null {
  const v = p.options.get(code);
  return v && v.length > 0 ? v.toString('latin1') : null;
}

export function messageType(p: DhcpPacket): number | null {
  return optU8(p, OPT.messageType);
}

// ---- encoding ---------------------------------------------------------------

export interface DhcpReply {
  xid: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  hops?: number;
  /** The request's 16 chaddr bytes, copied as they came. */
  chaddr: Buffer;
  sname?: string;
  file?: string;
  /** In wire order; values over 255 bytes are split into several instances (RFC 3396). */
  options: OptionPair[];
}

/** Bytes the BOOTREPLY will take on the wire as DHCP payload (before the 300-byte BOOTP minimum). */
export function replyLength(r: Pick<DhcpReply, 'options'>): number {
  return HEADER + optionsLength(r.options);
}

/** A two-byte option as a number (option 57), null when absent or of the wrong length. */
export function optU16(p: DhcpPacket, code: number): number | null {
  const v = p.options.get(code);
  return v && v.length === 2 ? v.readUInt16BE(0) : null;
}

function optionsLength(options: OptionPair[]): number {
  let n = 1; // END
  for (const [, v] of options) n += v.length + 2 * Math.max(1, Math.ceil(v.length / 255));
  return n;
}

/**
 * A BOOTREPLY datagram. sname (64) and file (128) must fit with their NUL;
 * callers keep longer values (HTTP URLs) in options 66/67 only.
 */
export function encode(r: DhcpReply): Buffer {
  const len = Math.max(MIN_REPLY, replyLength(r));
  // From Node's shared pool, zeroed here: Buffer.alloc gives each reply an
  // ArrayBuffer of its own, which every minor GC then has to sweep.
  const buf = Buffer.allocUnsafe(len).fill(0);
  buf[0] = BOOTREPLY;
  buf[1] = 1;
  buf[2] = 6;
  buf[3] = r.hops ?? 0;
  buf.writeUInt32BE(r.xid >>> 0, 4);
  buf.writeUInt16BE(r.flags & 0xffff, 10);
  buf.writeUInt32BE(r.ciaddr >>> 0, 12);
  buf.writeUInt32BE(r.yiaddr >>> 0, 16);
  buf.writeUInt32BE(r.siaddr >>> 0, 20);
  buf.writeUInt32BE(r.giaddr >>> 0, 24);
  r.chaddr.copy(buf, 28, 0, 16);
  if (r.sname) buf.write(r.sname, 44, 63, 'latin1');
  if (r.file) buf.write(r.file, 108, 127, 'latin1');
  buf.writeUInt32BE(MAGIC_COOKIE, 236);
  let i = HEADER;
  for (const [code, v] of r.options) {
    let off = 0;
    do {
      const n = Math.min(255, v.length - off);
      buf[i++] = code;
      buf[i++] = n;
      v.copy(buf, i, off, off + n);
      i += n;
      off += n;
    } while (off < v.length);
  }
  buf[i] = 255;
  return buf;
}
