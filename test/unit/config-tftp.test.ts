// The TFTP keys of the configuration: tftp.maxTransfersPerClient (docs/configuration.md).
import t from 'tap';
import { buildConfig, ConfigError } from '../../src/config.js';

const build = (tftp: Record<string, unknown>) => buildConfig({ tftp }, 'cfg.yaml', { isRoot: false }, '/');

t.test('tftp.maxTransfersPerClient: default 8, set, bounded', async (t) => {
  t.equal(build({}).tftp.maxTransfersPerClient, 8);
  t.equal(build({ maxTransfersPerClient: 3 }).tftp.maxTransfersPerClient, 3);
  for (const bad of [0, 513, 2.5, 'many']) {
    t.throws(() => build({ maxTransfersPerClient: bad }), ConfigError, String(bad));
    t.throws(() => build({ maxTransfersPerClient: bad }), /tftp\.maxTransfersPerClient/, 'names the key');
  }
});
