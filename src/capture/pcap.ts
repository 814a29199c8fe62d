// The classic libpcap file format (what `tcpdump -w` writes), with link type RAW:
// each record is an IPv4 header and a UDP header synthesized around the payload
// rackjoin received or sent, carrying the addresses and ports as it saw them.
// A datagram is encoded into its record when it is captured (store.ts keeps the
// bytes, not objects); the file assigns IP ids and computes both checksums, so
// tcpdump -vv and Wireshark's checksum validation find nothing wrong.

/** One UDP datagram as rackjoin saw it on its socket. */
export interface Datagram {
  /** Microseconds since the Unix epoch. */
  ts: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** The UDP payload, as it was on the wire. */
  data: Uint8Array;
}

/** One end of a UDP exchange. */
export interface UdpEnd {
  address: string;
  port: number;
}

const MAGIC = 0xa1b2c3d4; // microsecond timestamps
const LINKTYPE_RAW = 101; // the record starts with the IP header
const SNAPLEN = 65_535;
const FILE_HEADER = 24;
const RECORD_HEADER = 16;
const IP_HEADER = 20;
const UDP_HEADER = 8;
const HEADERS = RECORD_HEADER + IP_HEADER + UDP_HEADER;
/** The largest payload an IPv4 UDP datagram can carry. */
const MAX_PAYLOAD = SNAPLEN - IP_HEADER - UDP_HEADER;

// Read once: the getter is not free, and the DHCP path stamps every datagram.
const ORIGIN_MS = performance.timeOrigin;

/** `data` as it went between us (`ours`) and `peer` just now, stamped in wall-clock microseconds. */
export function datagramNow(sent: boolean, ours: UdpEnd, peer: UdpEnd, data: Uint8Array): Datagram {
  const ts = Math.round((ORIGIN_MS + performance.now()) * 1000);
  return sent
    ? { ts, src: ours.address, sport: ours.port, dst: peer.address, dport: peer.port, data }
    : { ts, src: peer.address, sport: peer.port, dst: ours.address, dport: ours.port, data };
}

/** The bytes `d` takes as a record. */
export function recordLength(d: Datagram): number {
  return HEADERS + Math.min(d.data.length, MAX_PAYLOAD);
}

/**
 * Writes `d` as a record at `at`: recordLength(d) bytes, or `max` with the payload
 * cut (the record says so, as tcpdump -s does). The checksums are left for pcapFile.
 */
export function writeRecord(out: Buffer, at: number, d: Datagram, max = Infinity): void {
  const payload = Math.min(d.data.length, MAX_PAYLOAD);
  const length = IP_HEADER + UDP_HEADER + payload;
  const kept = Math.min(payload, max - HEADERS);
  // Byte by byte: Buffer's checked writers cost several times more, and every DHCP datagram comes here.
  u32le(out, at, Math.floor(d.ts / 1e6));
  u32le(out, at + 4, d.ts % 1e6);
  u32le(out, at + 8, length - payload + kept);
  u32le(out, at + 12, length);
  const ip = at + RECORD_HEADER;
  out[ip] = 0x45; // IPv4, 5 words of header
  out[ip + 1] = 0;
  u16be(out, ip + 2, length);
  u32be(out, ip + 4, 0); // id and checksum: pcapFile's; no fragment
  out[ip + 8] = 64; // TTL
  out[ip + 9] = 17; // UDP
  u16be(out, ip + 10, 0);
  u32be(out, ip + 12, dottedQuad(d.src));
  u32be(out, ip + 16, dottedQuad(d.dst));
  const udp = ip + IP_HEADER;
  u16be(out, udp, d.sport);
  u16be(out, udp + 2, d.dport);
  u16be(out, udp + 4, UDP_HEADER + payload);
  u16be(out, udp + 6, 0);
  out.set(kept === d.data.length ? d.data : d.data.subarray(0, kept), udp + UDP_HEADER);
}

// A Uint8Array keeps the low 8 bits of what is stored in it.
function u32le(b: Buffer, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}

function u32be(b: Buffer, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

function u16be(b: Buffer, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v;
}

/** The records in `buf` from `from` to `to`, each as a view. */
export function splitRecords(buf: Buffer, from = 0, to = buf.length): Buffer[] {
  const out: Buffer[] = [];
  for (let at = from; at + RECORD_HEADER <= to;) {
    const end = at + RECORD_HEADER + buf.readUInt32LE(at + 8);
    out.push(buf.subarray(at, end));
    at = end;
  }
  return out;
}

/** When a record was captured, in microseconds. */
export function recordTime(rec: Buffer): number {
  return rec.readUInt32LE(0) * 1e6 + rec.readUInt32LE(4);
}

/** A pcap file of `records` in the order given; with none, just the file header. */
export function pcapFile(records: readonly Buffer[]): Buffer {
  const out = Buffer.alloc(FILE_HEADER + records.reduce((n, r) => n + r.length, 0));
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt16LE(2, 4); // version 2.4
  out.writeUInt16LE(4, 6);
  out.writeUInt32LE(SNAPLEN, 16);
  out.writeUInt32LE(LINKTYPE_RAW, 20);
  let at = FILE_HEADER;
  records.forEach((rec, i) => {
    rec.copy(out, at);
    checksum(out, at, i);
    at += rec.length;
  });
  return out;
}

/** The number of records in a pcap file that pcapFile wrote. */
export function countRecords(pcap: Buffer): number {
  return splitRecords(pcap, FILE_HEADER).length;
}

/** Gives the record at `at` its IP id and its IPv4 and (unless its payload was cut) UDP checksums. */
function checksum(out: Buffer, at: number, id: number): void {
  const ip = at + RECORD_HEADER;
  out.writeUInt16BE(id & 0xffff, ip + 4);
  out.writeUInt16BE(fold(sum(out, ip, IP_HEADER)), ip + 10);
  const length = out.readUInt32LE(at + 8);
  if (length !== out.readUInt32LE(at + 12)) return; // 0: no checksum
  const udp = ip + IP_HEADER;
  const udpLength = length - IP_HEADER;
  // RFC 768: over the pseudo header, the UDP header and the payload; 0 means "none", so it is sent as 0xffff.
  const pseudo = sum(out, ip + 12, 8) + 17 + udpLength;
  out.writeUInt16BE(fold(pseudo + sum(out, udp, udpLength)) || 0xffff, udp + 6);
}

/** The 16-bit one's complement sum of `len` bytes from `from` (odd length padded with zero), not yet folded. */
function sum(buf: Buffer, from: number, len: number): number {
  let s = 0;
  for (let i = 0; i + 1 < len; i += 2) s += (buf[from + i]! << 8) | buf[from + i + 1]!;
  if (len % 2) s += buf[from + len - 1]! << 8;
  return s;
}

/** The checksum of a sum: folded to 16 bits and complemented. */
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/**
 * A dotted quad as a number, by hand: these come from node:dgram and from our own
 * intToIp, so they are well formed, and ip.ts's validating parse costs several
 * times what the rest of a capture does on the DHCP path.
 */
function dottedQuad(s: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + c - 48;
  }
  return (n * 256 + part) >>> 0;
}
