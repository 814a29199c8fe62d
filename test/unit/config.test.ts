import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, ConfigError, loadConfig } from '../../src/config.js';

t.test('embedded defaults fill every key', async (t) => {
  const c = buildConfig({}, 'test', { isRoot: false }, '/srv/rj');
  t.equal(c.dataDir, '/srv/rj/data');
  t.equal(c.inventory, '/srv/rj/inventory');
  t.equal(c.dhcp.mode, 'off', 'not root: DHCP off');
  t.equal(c.http.port, 8080);
  t.equal(c.tftp.port, 69);
  t.same(c.timeouts, { pxe: 600, install: 3600, join: 900 });
  t.equal(buildConfig({}, 'test', { isRoot: true }, '/').dhcp.mode, 'proxy', 'root: proxy');
});

t.test('errors name the key and what is wrong', async (t) => {
  const bad = (raw: Record<string, unknown>) => {
    try {
      buildConfig(raw, 'cfg.yaml', { isRoot: true }, '/');
    } catch (err) {
      t.type(err, ConfigError);
      return (err as Error).message;
    }
    throw new Error('expected a ConfigError');
  };
  t.match(bad({ dhcp: { mode: 'proxi' } }), /cfg\.yaml: dhcp\.mode: must be one of proxy, reservation, pool, off/);
  t.match(bad({ dhcp: { mdoe: 'pool' } }), /dhcp\.mdoe: unknown key \(did you mean "mode"\?\)/);
  t.match(bad({ htpp: {} }), /htpp: unknown key \(did you mean "http"\?\)/);
  t.match(
    bad({ dhcp: { subnets: [{ cidr: '198.18.0.0/24', leaseSecond: 60 }] } }),
    /dhcp\.subnets\[0\]\.leaseSecond: unknown key \(did you mean "leaseSeconds"\?\)/,
  );
  t.match(bad({ dhcp: { colour: 'red' } }), /dhcp\.colour: unknown key(;|$)/, 'no guess when nothing is close');
  t.match(bad({ http: { port: 'eighty' } }), /http\.port: must be integer/);
  t.match(bad({ advertise: '10.0.0.300' }), /advertise: must match format "ipv4"/);
  t.match(bad({ api: { tokens: [{ name: 'x', token: 'short', scope: 'admin' }] } }), /api\.tokens\[0\]\.token/);
  t.match(bad({ kubernetes: { joinToken: 'not-a-token' } }), /kubernetes\.joinToken/);
});

t.test('loadConfig reads YAML and resolves paths against the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-config-'));
  t.teardown(() => import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));
  const file = join(dir, 'rackjoin.yaml');
  writeFileSync(file, 'dataDir: state\nhttp: { port: 9090 }\ndhcp: { mode: reservation }\n');
  const { config } = loadConfig(file);
  t.equal(config.dataDir, join(dir, 'state'));
  t.equal(config.http.port, 9090);
  t.equal(config.dhcp.mode, 'reservation');

  writeFileSync(file, 'http: { port: 9090\n');
  t.throws(() => loadConfig(file), /not valid YAML/);
  t.throws(() => loadConfig(join(dir, 'missing.yaml')), /cannot read/);
  writeFileSync(file, '- a list\n');
  t.throws(() => loadConfig(file), /top level must be a mapping/);
});
