// The real daemon as a child process: config errors, the API over HTTP, SIGHUP,
// restarts, and the CLI commands talking to it.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { api, CLI, EXAMPLE_PROFILE, startDaemonProcess, TOKENS, workspace } from '../helpers/daemon.js';

const execFileP = promisify(execFile);

async function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const inventory = {
  profiles: [EXAMPLE_PROFILE],
  nodes: [
    {
      name: 'worker-01',
      macs: ['52:54:00:00:00:01'],
      ip: '198.18.0.21',
      profile: 'ubuntu-worker',
      labels: { rack: 'r1' },
    },
    {
      name: 'worker-02',
      macs: ['52:54:00:00:00:02'],
      ip: '198.18.0.22',
      profile: 'ubuntu-worker',
      labels: { rack: 'r1' },
    },
    { name: 'worker-03', macs: ['52:54:00:00:00:03'], profile: 'ubuntu-worker', labels: { rack: 'r2' } },
  ],
};

t.test('a bad config is refused with the key named and nothing started', async (t) => {
  const ws = workspace(t);
  const file = ws.writeConfig({ dhcp: { mode: 'sometimes' }, http: { port: 0, host: '127.0.0.1', prot: 1 } });
  const res = await cli(['serve', '--config', file], {});
  t.equal(res.code, 2);
  t.match(res.stderr, /dhcp\.mode: must be one of proxy, reservation, pool, off/);
  t.match(res.stderr, /http\.prot: unknown key \(did you mean "port"\?\)/);
  t.notOk(existsSync(join(ws.dataDir, 'rackjoin.db')), 'no database was created');

  const noInv = ws.writeConfig({ inventory: 'missing-dir' });
  const res2 = await cli(['serve', '--config', noInv], {});
  t.equal(res2.code, 2);
  t.match(res2.stderr, /missing-dir: cannot read inventory directory/);
});

t.test('serve: inventory over the API, auth, writes, SIGHUP with a broken file, restart keeps API nodes', async (t) => {
  const ws = workspace(t);
  ws.writeInventory('rack.yaml', inventory);
  const config = ws.writeConfig();
  let d = await startDaemonProcess(t, config);

  const list = await api(d.url, 'GET', '/api/v1/nodes', { token: TOKENS.read });
  t.equal(list.status, 200);
  t.same(
    list.body.nodes.map((n: { name: string }) => n.name),
    ['worker-01', 'worker-02', 'worker-03'],
  );
  t.equal((await api(d.url, 'GET', '/api/v1/nodes')).status, 401);
  t.equal(
    (
      await api(d.url, 'POST', '/api/v1/nodes', {
        token: TOKENS.read,
        body: { name: 'api-01', macs: ['52:54:00:00:0a:01'] },
      })
    ).status,
    403,
  );
  const created = await api(d.url, 'POST', '/api/v1/nodes', {
    token: TOKENS.admin,
    body: { name: 'api-01', macs: ['52:54:00:00:0A:01'], profile: 'ubuntu-worker', labels: { rack: 'r3' } },
  });
  t.equal(created.status, 201);
  const badMac = await api(d.url, 'POST', '/api/v1/nodes', {
    token: TOKENS.admin,
    body: { name: 'api-02', macs: ['52:54:00:00:0a'] },
  });
  t.equal(badMac.status, 400);
  t.match(badMac.body, { error: 'bad_request', message: /macs/ });

  // A half-written file (an editor crashed mid-save) and a SIGHUP: refused, nothing lost.
  ws.writeInventory(
    'rack.yaml',
    'profiles:\n  - name: ubuntu-worker\n    kernel: ubuntu/vmlinuz\nnodes:\n  - name: worker-01\n    macs: ["52:54:00:00:00:01"\n',
  );
  d.proc.kill('SIGHUP');
  const refused = await d.waitForLog((l) => l.msg === 'inventory refused; database unchanged');
  t.match(String(refused.err), /rack\.yaml:\d+: not valid YAML/);
  const after = await api(d.url, 'GET', '/api/v1/nodes', { token: TOKENS.read });
  t.same(
    after.body.nodes.map((n: { name: string }) => n.name),
    ['api-01', 'worker-01', 'worker-02', 'worker-03'],
  );
  const viaApi = await api(d.url, 'POST', '/api/v1/inventory/reload', { token: TOKENS.admin });
  t.equal(viaApi.status, 400);

  // Fix the file (worker-03 removed), restart: API node kept, file follows the file.
  ws.writeInventory('rack.yaml', { ...inventory, nodes: inventory.nodes.slice(0, 2) });
  t.equal(await d.stop('SIGTERM'), 0, 'clean exit on SIGTERM');
  d = await startDaemonProcess(t, config);
  const restarted = await api(d.url, 'GET', '/api/v1/nodes', { token: TOKENS.read });
  t.same(
    restarted.body.nodes.map((n: { name: string }) => n.name),
    ['api-01', 'worker-01', 'worker-02'],
  );
  const apiNode = await api(d.url, 'GET', '/api/v1/nodes/52-54-00-00-0a-01', { token: TOKENS.read });
  t.match(apiNode.body, { name: 'api-01', source: 'api', labels: { rack: 'r3' }, profile: 'ubuntu-worker' });
  t.equal(await d.stop('SIGINT'), 0, 'clean exit on SIGINT');
});

t.test('CLI: nodes, node, import against a running daemon', async (t) => {
  const ws = workspace(t);
  ws.writeInventory('rack.yaml', inventory);
  const d = await startDaemonProcess(t, ws.writeConfig());
  const env = { RACKJOIN_URL: d.url, RACKJOIN_TOKEN: TOKENS.admin };

  const nodes = await cli(['nodes'], env);
  t.equal(nodes.code, 0, nodes.stderr);
  t.match(nodes.stdout, /^NAME\s+STATE\s+AGE\s+PROFILE\s+IP\s+MACS\s+SOURCE/);
  t.match(nodes.stdout, /worker-01\s+registered\s+\S+\s+ubuntu-worker\s+198\.18\.0\.21\s+52:54:00:00:00:01\s+file/);
  const r2 = await cli(['nodes', '--label', 'rack=r2', '--json'], env);
  t.same(
    JSON.parse(r2.stdout).map((n: { name: string }) => n.name),
    ['worker-03'],
  );

  const one = await cli(['node', '52-54-00-00-00-02'], env);
  t.equal(one.code, 0);
  t.match(one.stdout, /Name:\s+worker-02/);
  t.match(one.stdout, /Timeline:/);
  const missing = await cli(['node', 'worker-99'], env);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /404 no node with name or MAC "worker-99"/);

  const dir = join(ws.root, 'to-import');
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'batch.yaml'),
    'nodes:\n  - name: batch-01\n    macs: ["52:54:00:00:0b:01"]\n    profile: ubuntu-worker\n',
  );
  const imp = await cli(['import', dir], env);
  t.equal(imp.code, 0, imp.stderr);
  t.match(imp.stdout, /nodes: added batch-01/);
  t.equal((await api(d.url, 'GET', '/api/v1/nodes/batch-01', { token: TOKENS.read })).body.source, 'api');

  const readOnly = await cli(['import', dir], { ...env, RACKJOIN_TOKEN: TOKENS.read });
  t.equal(readOnly.code, 1);
  t.match(readOnly.stderr, /403/);
  const down = await cli(['nodes'], { RACKJOIN_URL: 'http://127.0.0.1:1', RACKJOIN_TOKEN: TOKENS.read });
  t.equal(down.code, 1);
  t.match(down.stderr, /cannot reach rackjoin at http:\/\/127\.0\.0\.1:1/);
  const usage = await cli(['frobnicate'], env);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /unknown command "frobnicate"/);
});

t.test('no configured tokens: an admin token is generated into dataDir, 0600', async (t) => {
  const ws = workspace(t);
  ws.writeInventory('rack.yaml', inventory);
  const d = await startDaemonProcess(t, ws.writeConfig({ api: { tokens: [] } }));
  const tokenFile = join(ws.dataDir, 'admin.token');
  const { statSync, readFileSync } = await import('node:fs');
  t.equal(statSync(tokenFile).mode & 0o777, 0o600);
  const token = readFileSync(tokenFile, 'utf8').trim();
  t.equal((await api(d.url, 'GET', '/api/v1/nodes', { token })).status, 200);
  t.equal((await api(d.url, 'GET', '/api/v1/nodes')).status, 401);
  const viaFile = await cli(['nodes', '--json'], {
    RACKJOIN_URL: d.url,
    RACKJOIN_TOKEN_FILE: tokenFile,
    RACKJOIN_TOKEN: '',
  });
  t.equal(JSON.parse(viaFile.stdout).length, 3);
  t.notMatch(d.logs.map((l) => JSON.stringify(l)).join('\n'), token, 'the generated token is not logged');
});
