import t from 'tap';
import { intToIp, ipToInt } from '../../src/ip.js';

t.test('ipToInt reads dotted quads and nothing else', async (t) => {
  t.equal(ipToInt('0.0.0.0'), 0);
  t.equal(ipToInt('198.18.0.1'), 0xc6120001);
  t.equal(ipToInt('255.255.255.255'), 0xffffffff);
  t.equal(ipToInt('010.001.0.1'), 0x0a010001, 'leading zeros, as before: three digits at most');
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '1..2.3', '.1.2.3', '1.2.3.', '256.1.1.1', '1.2.3.256', '1234.1.1.1']) {
    t.throws(() => ipToInt(bad), /not an IPv4 address/, JSON.stringify(bad));
  }
  for (const bad of ['1.2.3.4 ', ' 1.2.3.4', 'a.b.c.d', '-1.2.3.4', '1.2.3.4/24', '1.2.3.0x1']) {
    t.throws(() => ipToInt(bad), /not an IPv4 address/, JSON.stringify(bad));
  }
  for (const ip of ['1.2.3.4', '198.19.254.254', '10.0.0.255']) t.equal(intToIp(ipToInt(ip)), ip, 'round trip');
});
