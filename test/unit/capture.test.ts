// The packet capture: the pcap writer read back field by field (and by tcpdump,
// which checks both checksums), the bounds of the per-machine rings and of the
// store, and the masking of node tokens in what a capture shows.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maskSecretsKeepLength } from '../../src/boot/urls.js';
import {
  countRecords,
  datagramNow,
  pcapFile,
  recordLength,
  recordTime,
  writeRecord,
  type Datagram,
} from '../../src/capture/pcap.js';
import { CaptureStore, CHUNK_BYTES } from '../../src/capture/store.js';
import { encodeRequest } from '../../src/tftp/packet.js';

interface PcapRecord {
  sec: number;
  usec: number;
  ip: Buffer;
}

function records(pcap: Buffer): PcapRecord[] {
  const out: PcapRecord[] = [];
  for (let at = 24; at < pcap.length;) {
    const incl = pcap.readUInt32LE(at + 8);
    out.push({
      sec: pcap.readUInt32LE(at),
      usec: pcap.readUInt32LE(at + 4),
      ip: pcap.subarray(at + 16, at + 16 + incl),
    });
    at += 16 + incl;
  }
  return out;
}

/** The one's complement sum of `buf` folded to 16 bits: 0xffff over data that includes its own correct checksum. */
function onesSum(buf: Buffer): number {
  let s = 0;
  for (let i = 0; i < buf.length; i += 2) s += (buf[i]! << 8) | (buf[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** `datagrams` as a pcap file, encoded as the store encodes them. */
function file(datagrams: Datagram[]): Buffer {
  return pcapFile(
    datagrams.map((d) => {
      const rec = Buffer.alloc(recordLength(d));
      writeRecord(rec, 0, d);
      return rec;
    }),
  );
}

const dg = (over: Partial<Datagram> = {}): Datagram => ({
  ts: 1_700_000_000_123_456,
  src: '198.18.0.1',
  sport: 67,
  dst: '198.18.0.21',
  dport: 68,
  data: Buffer.from('hello'),
  ...over,
});

t.test('pcap: header, records, IPv4 and UDP headers with correct checksums, payload intact', async (t) => {
  const a = dg();
  const b = dg({ ts: a.ts + 1_500_000, src: '0.0.0.0', sport: 68, dst: '255.255.255.255', dport: 67 });
  const c = dg({ ts: a.ts + 2, data: Buffer.alloc(1400, 0xab) });
  const pcap = file([a, b, c]);
  t.equal(pcap.readUInt32LE(0), 0xa1b2c3d4, 'magic: microsecond timestamps');
  t.same([pcap.readUInt16LE(4), pcap.readUInt16LE(6)], [2, 4], 'version 2.4');
  t.equal(pcap.readUInt32LE(16), 65535, 'snaplen');
  t.equal(pcap.readUInt32LE(20), 101, 'LINKTYPE_RAW');
  const recs = records(pcap);
  t.equal(recs.length, 3);
  t.equal(countRecords(pcap), 3);
  t.same([recs[0]!.sec, recs[0]!.usec], [1_700_000_000, 123_456], 'timestamp split into seconds and microseconds');
  t.same([recs[1]!.sec, recs[1]!.usec], [1_700_000_001, 623_456]);
  for (const [i, d] of [a, b, c].entries()) {
    const ip = recs[i]!.ip;
    t.equal(ip[0], 0x45, 'IPv4, 20-byte header');
    t.equal(ip.readUInt16BE(2), 28 + d.data.length, 'total length');
    t.equal(ip.length, 28 + d.data.length, 'all of it captured');
    t.equal(ip[9], 17, 'UDP');
    t.equal(onesSum(ip.subarray(0, 20)), 0xffff, 'IPv4 header checksum');
    t.equal([...ip.subarray(12, 16)].join('.'), d.src);
    t.equal([...ip.subarray(16, 20)].join('.'), d.dst);
    const udp = ip.subarray(20);
    t.same([udp.readUInt16BE(0), udp.readUInt16BE(2), udp.readUInt16BE(4)], [d.sport, d.dport, 8 + d.data.length]);
    t.not(udp.readUInt16BE(6), 0, 'UDP checksum present');
    const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 17]), ip.subarray(24, 26)]);
    t.equal(onesSum(Buffer.concat([pseudo, udp])), 0xffff, 'UDP checksum over the pseudo header');
    t.same(udp.subarray(8), Buffer.from(d.data), 'payload as given');
  }
});

t.test('pcap: odd-length payloads checksum right; no datagrams is a valid empty file', async (t) => {
  const ip = records(file([dg({ data: Buffer.from('odd') })]))[0]!.ip;
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 17]), ip.subarray(24, 26)]);
  t.equal(onesSum(Buffer.concat([pseudo, ip.subarray(20), Buffer.alloc(1)])), 0xffff);
  const empty = pcapFile([]);
  t.equal(empty.length, 24, 'just the file header');
  t.equal(countRecords(empty), 0);
});

const tcpdump = (() => {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

t.test('tcpdump reads the file, finds no bad checksum, and decodes the payloads', { skip: !tcpdump }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-pcap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'x.pcap');
  const rrq = encodeRequest('rrq', 'pxelinux.0', 'octet', { blksize: '1408' });
  const client = { address: '198.18.0.21', port: 2070 };
  writeFileSync(path, file([datagramNow(false, { address: '198.18.0.1', port: 69 }, client, rrq)]));
  const out = execFileSync('tcpdump', ['-nn', '-vv', '-r', path], { encoding: 'utf8', stdio: 'pipe' });
  t.match(
    out,
    /198\.18\.0\.21\.2070 > 198\.18\.0\.1\.69: \[udp sum ok\] TFTP, length \d+, RRQ "pxelinux\.0" octet blksize 1408/,
  );
  t.notMatch(out, /bad/i);
  const empty = join(dir, 'empty.pcap');
  writeFileSync(empty, pcapFile([]));
  t.equal(execFileSync('tcpdump', ['-nn', '-r', empty], { encoding: 'utf8', stdio: 'pipe' }), '');
});

const payloadOf = (rec: Buffer) => rec.subarray(44);
const PER_CHUNK = Math.floor(CHUNK_BYTES / 144); // records of a 100-byte payload

t.test('a machine keeps its newest packets within its bound, oldest dropped first', async (t) => {
  const store = new CaptureStore({ perMachine: 2 * CHUNK_BYTES, total: 64 * CHUNK_BYTES });
  const mac = '02:00:00:00:00:01';
  for (let i = 0; i < 200; i++) store.add(mac, dg({ ts: i, data: Buffer.alloc(100, i) }));
  const kept = store.records([mac]);
  const first = 200 - kept.length;
  t.same(
    kept.map(recordTime),
    Array.from({ length: kept.length }, (_, i) => first + i),
    'the newest, none missing',
  );
  t.ok(kept.length > PER_CHUNK && kept.length <= 2 * PER_CHUNK, `${kept.length} kept: more than one chunk's worth`);
  for (const rec of kept) t.same(payloadOf(rec), Buffer.alloc(100, recordTime(rec)), 'each with its own payload');
});

t.test('all machines together stay within the total: the least recently heard from is forgotten', async (t) => {
  const store = new CaptureStore({ perMachine: 2 * CHUNK_BYTES, total: 5 * CHUNK_BYTES });
  const [a, b, c, d] = ['02:00:00:00:00:0a', '02:00:00:00:00:0b', '02:00:00:00:00:0c', '02:00:00:00:00:0d'];
  let ts = 0;
  const send = (mac: string, n: number) => {
    for (let i = 0; i < n; i++) store.add(mac, dg({ ts: ts++, data: Buffer.alloc(100) }));
  };
  send(a!, PER_CHUNK + 5); // two chunks
  send(b!, PER_CHUNK + 5); // two chunks
  send(c!, 1); // the fifth and last
  send(a!, 1); // heard from again, in a chunk it has: now the most recent
  t.ok(
    [a, b, c].every((m) => store.has(m!)),
    'five chunks hold three machines',
  );
  send(d!, 1);
  t.notOk(store.has(b!), 'the least recently heard from is forgotten for a new machine');
  t.ok(store.has(a!) && store.has(c!) && store.has(d!), 'the others stay');
  t.same(store.records([b!]), []);
  t.equal(store.records([a!]).length, PER_CHUNK + 6, 'with all they had');

  // A flood of invented MACs cannot grow the store past its total.
  const flood = Array.from({ length: 10_000 }, (_, i) => `02:ff:00:00:${(i >> 8) & 255}:${i & 255}`);
  for (const mac of flood) store.add(mac, dg());
  const kept = flood.filter((m) => store.has(m));
  t.ok(kept.length > 0 && kept.length <= 5, `${kept.length} of the flood kept: one chunk each, within the total`);
  t.same(kept, flood.slice(-kept.length), 'the newest of them');
  t.notOk(store.has(a!), 'and the older machines made room');
});

t.test('a datagram longer than a chunk is kept cut, and says so', async (t) => {
  const store = new CaptureStore();
  store.add('02:00:00:00:00:01', dg({ data: Buffer.alloc(10_000, 7) }));
  const [rec] = store.records(['02:00:00:00:00:01']);
  t.equal(rec!.length, CHUNK_BYTES);
  t.equal(rec!.readUInt32LE(8), CHUNK_BYTES - 16, 'captured length');
  t.equal(rec!.readUInt32LE(12), 10_028, 'original length');
  const [ip] = records(pcapFile([rec!])).map((r) => r.ip);
  t.equal(ip!.readUInt16BE(2), 10_028, 'the IPv4 header has the real length');
  t.equal(onesSum(ip!.subarray(0, 20)), 0xffff, 'and a correct checksum');
  t.equal(ip!.readUInt16BE(26), 0, 'no UDP checksum over a payload that is not all there');
});

t.test("a node's MACs are merged into one capture, oldest first", async (t) => {
  const store = new CaptureStore();
  store.add('02:00:00:00:00:01', dg({ ts: 30 }), dg({ ts: 10 }));
  store.add('02:00:00:00:00:02', dg({ ts: 20 }));
  store.add('02:00:00:00:00:03', dg({ ts: 15 }));
  t.same(store.records(['02:00:00:00:00:01', '02:00:00:00:00:02']).map(recordTime), [10, 20, 30]);
  t.same(store.records(['02:00:00:00:00:09']), []);
});

t.test('node tokens in a file are masked to the same length; the rest is untouched', async (t) => {
  const token = 'Zm9vYmFyYmF6cXV4LWFiY2RlZl8xMjM0NTY3';
  const cfg = Buffer.from(
    `APPEND inst.ks=http://198.18.0.1:8080/n/${token}/kickstart ip=dhcp\n` +
      `  curl -d x http://198.18.0.1:8080/api/v1/callback/${token}\n`,
  );
  const masked = maskSecretsKeepLength(cfg);
  t.equal(masked.length, cfg.length, 'same length: the packet still parses');
  t.notMatch(masked.toString(), token);
  t.match(masked.toString(), `/n/${'*'.repeat(token.length)}/kickstart ip=dhcp`);
  t.match(masked.toString(), `/api/v1/callback/${'*'.repeat(token.length)}\n`);
  const plain = Buffer.from('KERNEL rocky/vmlinuz\n');
  t.equal(maskSecretsKeepLength(plain), plain, 'nothing to mask: the same buffer');
});
