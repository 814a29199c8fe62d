// Every failure a node meets is on its timeline, and the stage-timeout diagnosis
// reads them first. Real clients in a namespace: udhcpc as BIOS firmware, curl
// over TFTP and HTTP. The initrd is missing from assets/ (a warning at start,
// shown on the node); the kickstart template is broken while the daemon runs (an
// operator's live edit). The node must show both, and its timeout must blame the
// template, not "check the kernel command line".
import t from 'tap';
import Database from 'better-sqlite3';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOKENS } from '../helpers/daemon.js';
import { scratch, startRackjoin, udhcpc } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const MAC = '02:00:00:00:0c:01';
const BIOS = ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-O', '66', '-O', '67'];

async function run(lab: Lab, argv: string[]) {
  const r = await lab.exec(lab.client, argv, { timeoutMs: 30_000 });
  return r.stdout;
}

t.test('a missing initrd and a broken template are on the timeline and in the diagnosis', { skip }, async (t) => {
  const lab = await createLab(t);
  const assets = scratch(t, 'rj-assets-');
  const templates = scratch(t, 'rj-templates-');
  mkdirSync(join(assets, 'rocky'));
  writeFileSync(join(assets, 'pxelinux.0'), Buffer.alloc(4_000, 1));
  writeFileSync(join(assets, 'rocky/vmlinuz'), Buffer.alloc(100_000, 2));
  writeFileSync(join(templates, 'site-ks.kickstart.hbs'), 'text\n%post\n{{callback "installed"}}\n%end\n');
  const d = await startRackjoin(t, lab, {
    dhcp: { mode: 'reservation', subnets: [{ cidr: `${lab.prefix}.0/24`, router: lab.serverIp }] },
    profiles: [
      {
        name: 'rocky',
        loader: 'pxelinux',
        kernel: 'rocky/vmlinuz',
        initrd: ['rocky/initrd.img'],
        cmdline: 'inst.ks={{urls.kickstart}}',
        installer: 'kickstart',
        template: 'site-ks',
      },
    ],
    nodes: [{ name: 'worker-01', macs: [MAC], ip: `${lab.prefix}.21`, profile: 'rocky' }],
    config: { assets, templates, advertise: lab.serverIp, tftp: { enabled: true, port: 69 }, timeouts: { pxe: 4 } },
  });
  const db = new Database(join(d.dataDir, 'rackjoin.db'), { readonly: true });
  t.teardown(() => db.close());
  const events = (type: string) =>
    (
      db
        .prepare(
          `SELECT data FROM events WHERE type = ? AND node_id = (SELECT id FROM nodes WHERE name = ?) ORDER BY id`,
        )
        .pluck()
        .all(type, 'worker-01') as string[]
    ).map((s) => JSON.parse(s) as Record<string, unknown>);
  const api = (path: string) =>
    run(lab, ['curl', '-s', '-H', `Authorization: Bearer ${TOKENS.read}`, `http://${lab.serverIp}:8080${path}`]);

  t.match(d.output(), /profile rocky: initrd rocky\/initrd\.img is not in assets\//, 'warned at start');
  const lease = await udhcpc(t, lab, MAC, BIOS);
  t.equal(lease.ip, `${lab.prefix}.21`);
  await lab.exec(lab.client, ['ip', 'addr', 'add', `${lease.ip}/24`, 'dev', lab.clientIf]);
  const view = JSON.parse(await api('/api/v1/nodes/worker-01'));
  t.match(view.warnings, [/initrd rocky\/initrd\.img is not in assets\//], 'and on the node it concerns');
  const explained = JSON.parse(await api('/api/v1/nodes/worker-01/explain'));
  t.match(explained.warnings, [/initrd rocky\/initrd\.img/], 'and by explain');

  const cfg = await run(lab, ['curl', '-s', `tftp://${lab.serverIp}/pxelinux.cfg/01-02-00-00-00-0c-01`]);
  const ks = /inst\.ks=(\S+)/.exec(cfg)?.[1];
  t.ok(ks, 'the boot config names the kickstart');
  await run(lab, ['curl', '-s', '-o', '/dev/null', `http://${lab.serverIp}:8080/assets/rocky/initrd.img`]);
  t.match(
    events('file.missing'),
    [{ file: 'rocky/initrd.img', detail: /not-found.*404/, client: lease.ip }],
    'the 404 is on the node timeline',
  );
  await run(lab, ['curl', '-s', '-o', '/dev/null', `tftp://${lab.serverIp}/rocky/initrd.img`]);
  t.match(
    events('tftp.error'),
    [{ file: 'rocky/initrd.img', detail: 'refused: error 1 "file not found"', client: lease.ip }],
    'so is the TFTP error sent',
  );

  // The operator breaks the template while the daemon runs; the installer fetches it.
  writeFileSync(join(templates, 'site-ks.kickstart.hbs'), 'text\n{{#if node.name}}\n%post\n{{/iff}}\n');
  const body = await run(lab, ['curl', '-s', '-w', '\n%{http_code}', ks!]);
  t.match(body, /failed to render\n+500$/, 'the installer gets a 500, never half a config');
  t.match(
    events('render.failed'),
    [{ file: 'kickstart', template: 'site-ks.kickstart', line: 2, detail: /doesn't match iff/ }],
    'the render error is on the node timeline, with template and line',
  );
  t.notMatch(JSON.stringify(events('render.failed')), /[0-9a-f]{32}/, 'no node token in the event');

  // pxe+booting budget: 4 s; the sweeper runs every second.
  let state = '';
  for (let i = 0; i < 40 && state !== 'failed'; i++) {
    await new Promise((r) => setTimeout(r, 250));
    state = db.prepare(`SELECT state FROM nodes WHERE name = 'worker-01'`).pluck().get() as string;
  }
  t.equal(state, 'failed', 'the stage timed out');
  const [timedOut] = events('state').filter((e) => e.to === 'failed');
  t.match(
    timedOut?.reason,
    /^timed out: booting for over 4 s: .*then kickstart failed to render: template site-ks\.kickstart line 2: /,
    'the diagnosis names the template, line and error',
  );
  t.notMatch(timedOut?.reason, /kernel command line/, 'and does not blame the command line');
});
