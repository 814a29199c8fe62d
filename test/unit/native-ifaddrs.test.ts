// native/ifaddrs.c: an interface's addresses and link state, straight from getifaddrs.
import t from 'tap';
import { ipToInt } from '../../src/ip.js';
import { native } from '../../src/native.js';
import { localAddresses } from '../../src/host.js';

t.test('loopback: its address, up and running', async (t) => {
  const lo = native.interfaceAddresses('lo');
  t.ok(lo, 'lo exists');
  t.ok(lo!.addresses.includes(ipToInt('127.0.0.1')), '127.0.0.1');
  t.equal(lo!.up, true);
  t.equal(lo!.running, true);
  t.same(localAddresses('lo'), lo!.addresses, 'a named interface is read natively');
});

t.test('no such interface: null, and no addresses', async (t) => {
  t.equal(native.interfaceAddresses('rjnosuch0'), null);
  t.equal(native.interfaceAddresses('a-name-longer-than-ifnamsiz'), null);
  t.same(localAddresses('rjnosuch0'), []);
  t.throws(() => native.interfaceAddresses(42 as unknown as string), /interfaceAddresses\(name\)/);
});
