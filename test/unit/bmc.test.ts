// Redfish power control against a loopback stand-in for a BMC (the real action's
// paths and JSON), and the errors an operator sees when a BMC cannot be used.
import t from 'tap';
import { createServer } from 'node:http';
import { powerCycle } from '../../src/power/bmc.js';

async function fakeRedfish(t: { teardown(fn: () => unknown): void }, opts: { resetStatus?: number } = {}) {
  const seen: { method: string; url: string; auth: string | undefined; body: string }[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
    res.setHeader('content-type', 'application/json');
    if (req.headers.authorization !== `Basic ${Buffer.from('root:calvin').toString('base64')}`) {
      res.statusCode = 401;
      return res.end(
        JSON.stringify({
          error: {
            message: 'Authentication failed',
            '@Message.ExtendedInfo': [{ Message: 'The authentication credentials are invalid.' }],
          },
        }),
      );
    }
    if (req.method === 'GET' && req.url === '/redfish/v1/Systems') {
      return res.end(
        JSON.stringify({
          Members: [{ '@odata.id': '/redfish/v1/Systems/System.Embedded.1' }],
          'Members@odata.count': 1,
        }),
      );
    }
    if (req.method === 'POST' && req.url === '/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset') {
      res.statusCode = opts.resetStatus ?? 204;
      return res.end(
        res.statusCode === 204 ? '' : JSON.stringify({ error: { message: 'ResetType not supported now' } }),
      );
    }
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => server.close(r)));
  return { address: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

t.test('redfish: finds the system and asks for ForceRestart with basic auth', async (t) => {
  const bmc = await fakeRedfish(t);
  const r = await powerCycle(
    { type: 'redfish', address: bmc.address, username: 'root', passwordEnv: 'BMC_PW' },
    { env: { BMC_PW: 'calvin' } },
  );
  t.same(r, { method: 'redfish', action: '/redfish/v1/Systems/System.Embedded.1 ForceRestart' });
  t.equal(bmc.seen[1]!.method, 'POST');
  t.same(JSON.parse(bmc.seen[1]!.body), { ResetType: 'ForceRestart' });
});

t.test('redfish: refusals and unreachable BMCs say which and why', async (t) => {
  const bmc = await fakeRedfish(t, { resetStatus: 409 });
  const spec = { type: 'redfish' as const, address: bmc.address, username: 'root', passwordEnv: 'BMC_PW' };
  await t.rejects(powerCycle(spec, { env: { BMC_PW: 'wrong' } }), {
    message:
      /Redfish BMC 127\.0\.0\.1:\d+: listing systems failed: HTTP 401: The authentication credentials are invalid\./,
  });
  await t.rejects(powerCycle(spec, { env: { BMC_PW: 'calvin' } }), {
    message: /reset refused: HTTP 409: ResetType not supported now/,
  });
  await t.rejects(powerCycle({ ...spec, address: 'http://127.0.0.1:9' }, { env: { BMC_PW: 'x' } }), {
    message: 'Redfish BMC 127.0.0.1:9 unreachable: ECONNREFUSED',
  });
  await t.rejects(powerCycle(spec, { env: {} }), {
    message: /environment variable BMC_PW \(bmc\.passwordEnv\) is not set/,
  });
  await t.rejects(powerCycle({ type: 'ipmi', address: '198.18.0.99' }, { env: {} }), { message: /no passwordEnv/ });
});
