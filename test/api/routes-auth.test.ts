// Every route the app registers, asked without a token and with a read token:
// outside the node-facing set (and health, docs) each one answers 401 without a
// token, and 403 to a read token where it writes. A new operator route cannot be
// left open by forgetting its hook: it is in this list the moment it exists.
import t from 'tap';
import { EXAMPLE_PROFILE, TOKENS } from '../helpers/daemon.js';
import { inProcessApp } from '../helpers/inproc.js';

/** Routes that take no bearer token: firmware and installers cannot send one; health and docs are public. */
const PUBLIC = new Set([
  '/boot.ipxe',
  '/ipxe/:mac',
  '/assets/*',
  '/n/:token/:file',
  '/api/v1/callback/:token',
  '/healthz',
  '/docs',
]);

const sample = (url: string) =>
  url
    .replace(':id', 'worker-01')
    .replace(':mac', '52-54-00-00-00-01')
    .replace(':token', 'x')
    .replace(':file', 'user-data')
    .replace('*', 'x');

t.test('every operator route needs a token, and admin where it writes', async (t) => {
  const app = await inProcessApp(t, {
    profiles: [EXAMPLE_PROFILE],
    nodes: [{ name: 'worker-01', macs: ['52:54:00:00:00:01'], profile: 'ubuntu-worker' }],
  });
  const operator = app.routes.filter((r) => !PUBLIC.has(r.url));
  t.ok(operator.length >= 15, `${operator.length} operator routes found`);
  for (const url of PUBLIC)
    t.ok(
      app.routes.some((r) => r.url === url),
      `${url} is registered`,
    );
  for (const { method, url } of operator) {
    const anon = await app.call(method, sample(url));
    t.equal(anon.status, 401, `${method} ${url} without a token`);
    if (method !== 'GET' && method !== 'HEAD') {
      const read = await app.call(method, sample(url), { token: TOKENS.read });
      t.equal(read.status, 403, `${method} ${url} with a read token`);
    }
  }
  for (const { method, url } of app.routes.filter((r) => PUBLIC.has(r.url))) {
    t.not((await app.call(method, sample(url))).status, 401, `${method} ${url} is node-facing`);
  }
});
