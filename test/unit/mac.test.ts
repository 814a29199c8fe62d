import t from 'tap';
import { macFromBytes, macHyphen, normalizeMac } from '../../src/mac.js';

t.test('normalizeMac accepts every spelling operators and firmware use', async (t) => {
  for (const s of ['52:54:00:AA:bb:0C', '52-54-00-aa-bb-0c', '525400AABB0C', ' 52:54:00:aa:bb:0c ']) {
    t.equal(normalizeMac(s), '52:54:00:aa:bb:0c', s);
  }
});

t.test('normalizeMac refuses what is not a 48-bit MAC', async (t) => {
  for (const s of [
    '',
    '52:54:00:aa:bb',
    '52:54:00:aa:bb:0c:01',
    '52:54:00-aa:bb:0c',
    'zz:54:00:aa:bb:0c',
    'worker-01',
    '5254.00aa.bb0c',
  ]) {
    t.equal(normalizeMac(s), null, JSON.stringify(s));
  }
});

t.test('hyphen and byte forms', async (t) => {
  t.equal(macHyphen('52:54:00:aa:bb:0c'), '52-54-00-aa-bb-0c');
  t.equal(macFromBytes(Uint8Array.from([0x52, 0x54, 0, 0xaa, 0xbb, 0x0c, 0, 0])), '52:54:00:aa:bb:0c');
  t.equal(macFromBytes(Uint8Array.from([0xff, 0x0f, 0xf0])), 'ff:0f:f0', 'a short chaddr');
  t.equal(macFromBytes(new Uint8Array(0)), '');
  t.equal(macFromBytes(Uint8Array.from([1, 2, 3, 4, 5, 6])), '01:02:03:04:05:06', 'after a short one, a whole one');
});
