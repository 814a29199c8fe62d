import t from 'tap';
import { negotiate } from '../../src/tftp/options.js';

const limits = { blksizeMax: 1468, windowsizeMax: 64 };
const opts = (o: Record<string, string>) => Object.assign(Object.create(null), o) as Record<string, string>;

t.test('no options: RFC 1350 defaults and no OACK', async (t) => {
  t.same(negotiate(opts({}), 1000, limits), { blksize: 512, windowsize: 1, timeoutSeconds: null, oack: null });
});

t.test('iPXE, pxelinux and EDK2 requests from the lab', async (t) => {
  t.same(negotiate(opts({ blksize: '1432', tsize: '0' }), 4242, limits).oack, { blksize: '1432', tsize: '4242' });
  t.same(negotiate(opts({ tsize: '0', blksize: '1408' }), 12, limits).oack, { tsize: '12', blksize: '1408' });
  const edk2 = negotiate(opts({ tsize: '0', blksize: '1468', windowsize: '4' }), 1 << 20, limits);
  t.equal(edk2.windowsize, 4);
  t.same(edk2.oack, { blksize: '1468', tsize: String(1 << 20), windowsize: '4' });
});

t.test('blksize is clamped to the configured maximum, never refused', async (t) => {
  t.equal(negotiate(opts({ blksize: '65464' }), 0, limits).blksize, 1468);
  t.equal(negotiate(opts({ blksize: '9000' }), 0, { ...limits, blksizeMax: 8972 }).blksize, 8972);
  t.equal(negotiate(opts({ blksize: '100000' }), 0, { blksizeMax: 70000, windowsizeMax: 1 }).blksize, 65464);
  // Under the path MTU: 1280 - 20 (IPv4) - 8 (UDP) - 4 (TFTP).
  const small = negotiate(opts({ blksize: '1468' }), 0, { ...limits, pathMtu: 1280 });
  t.equal(small.blksize, 1248);
  t.same(small.oack, { blksize: '1248' });
  t.equal(
    negotiate(opts({ blksize: '1024' }), 0, { ...limits, pathMtu: 1280 }).blksize,
    1024,
    'a smaller request stands',
  );
  t.equal(
    negotiate(opts({ blksize: '9000' }), 0, { blksizeMax: 65464, windowsizeMax: 1, pathMtu: 9000 }).blksize,
    8968,
  );
  t.equal(
    negotiate(opts({ blksize: '1468' }), 0, { ...limits, pathMtu: null }).blksize,
    1468,
    'unknown MTU: the ceiling alone',
  );
});

t.test('invalid values are left out of the OACK', async (t) => {
  for (const bad of ['7', '0', '-1', 'abc', '', '1e3', '0x200']) {
    const n = negotiate(opts({ blksize: bad }), 0, limits);
    t.equal(n.blksize, 512, `blksize ${JSON.stringify(bad)}`);
    t.equal(n.oack, null);
  }
  t.equal(negotiate(opts({ timeout: '0' }), 0, limits).oack, null, 'timeout 0');
  t.equal(negotiate(opts({ timeout: '256' }), 0, limits).oack, null, 'timeout 256');
  t.equal(negotiate(opts({ windowsize: '0' }), 0, limits).oack, null, 'windowsize 0');
  t.equal(negotiate(opts({ windowsize: '65536' }), 0, limits).oack, null, 'windowsize 65536');
  t.equal(negotiate(opts({ rollover: '0', multicast: '' }), 0, limits).oack, null, 'unknown options ignored');
});

t.test('timeout is echoed and used', async (t) => {
  const n = negotiate(opts({ timeout: '3' }), 0, limits);
  t.equal(n.timeoutSeconds, 3);
  t.same(n.oack, { timeout: '3' });
});

t.test('windowsize is clamped to the configured and the hard maximum', async (t) => {
  t.equal(negotiate(opts({ windowsize: '16' }), 0, limits).windowsize, 16);
  t.equal(negotiate(opts({ windowsize: '65535' }), 0, limits).windowsize, 64);
  t.equal(negotiate(opts({ windowsize: '65535' }), 0, { ...limits, windowsizeMax: 65535 }).windowsize, 256);
});

t.test('tsize reports the size of what is sent', async (t) => {
  t.same(negotiate(opts({ tsize: '0' }), 34_000_000, limits).oack, { tsize: '34000000' });
});
