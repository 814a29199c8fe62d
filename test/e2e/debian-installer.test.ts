// End to end with the real Debian installer: SeaBIOS + iPXE boots Debian 12's
// netboot kernel and initrd (package debian-installer-12-netboot-amd64) from
// rackjoin with the built-in debian-preseed template, on a subnet whose leases
// name a name server. The installer must fetch its preseed and its early_command
// must call back `installing`. Nothing past that can work in the lab (there is no
// mirror), so the VM is ended there.
import t from 'tap';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { e2eUnavailable } from './env.js';
import { journey, type TimelineEvent } from './journey.js';
import { createLab } from './lab.js';
import { ASSETS, stageAssets, stageFile, startRackjoin } from './rackjoin.js';
import { accelerator, describeVm, startVm } from './vm.js';

const NETBOOT = '/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64';
const KERNEL = 'debian-12/linux';
const INITRD = 'debian-12/initrd.gz';
const NODE = { name: 'debian-01', mac: '52:54:00:e2:03:01', profile: 'debian-12' };
const PROFILE = {
  name: 'debian-12',
  loader: 'ipxe',
  kernel: KERNEL,
  initrd: [INITRD],
  cmdline: 'auto=true priority=critical url={{urls.preseed}} console=ttyS0',
  installer: 'preseed',
  template: 'debian-preseed',
};
/** Power-on to the `installing` callback: about 95 s under TCG on two cores, so a generous bound. */
const BOOT_MS = 300_000;

function unavailable(): string | null {
  const why = e2eUnavailable();
  if (why) return why;
  if (!existsSync(join(NETBOOT, 'linux')))
    return `${NETBOOT} is missing: apt-get install debian-installer-12-netboot-amd64 (scripts/install-deps --test)`;
  return null;
}

/** The netboot kernel and initrd into assets/ (idempotent; atomic, as stageAssets does it). */
function stageNetboot(): void {
  mkdirSync(join(ASSETS, 'debian-12'), { recursive: true });
  for (const [from, to] of [
    ['linux', KERNEL],
    ['initrd.gz', INITRD],
  ] as const) {
    stageFile(join(NETBOOT, from), join(ASSETS, to));
  }
}

const why = unavailable();
if (why && !process.env.CI) {
  t.plan(0, why);
} else {
  t.setTimeout(BOOT_MS + 120_000);

  t.test('Debian 12 netboot: the installer fetches its preseed and calls back installing', async (t) => {
    await stageAssets();
    stageNetboot();
    const lab = await createLab(t, { taps: 1 });
    const rj = await startRackjoin(lab, {
      profiles: [],
      profileDocs: [PROFILE],
      nodes: [NODE],
      // Without a router the installer stops at "Continue without a default route?", without a name
      // server at "Name server addresses:". Nothing answers DNS in the lab: a name server that
      // refuses at once is all it needs to go on.
      subnet: { router: lab.serverIp, dns: [lab.serverIp] },
    });
    t.teardown(() => rj.stop());
    const vm = startVm(lab, { ...NODE, tap: lab.taps[0]!, path: 'bios-ipxe', timeoutMs: BOOT_MS, memMb: 1024 });
    t.teardown(() => vm.kill());

    const installing = (es: TimelineEvent[]) => es.find((e) => e.type === 'callback' && e.data.stage === 'installing');
    let events: TimelineEvent[] = [];
    let ended = false;
    void vm.result.then(() => (ended = true));
    // Bounded by the VM's own timeout: it ends (or is killed) by then.
    while (!ended && !installing(events)) {
      await new Promise((r) => setTimeout(r, 2000));
      events = (await journey(rj, NODE.name)).events;
    }
    vm.kill();
    const r = await vm.result;
    const seen = {
      kernel: events.find((e) => e.type === 'http.sent' && e.data.role === 'kernel'),
      preseed: events.find((e) => e.type === 'installer.config' && e.data.file === 'preseed'),
      installing: installing(events),
    };
    const offsets = Object.entries(seen).map(
      ([what, e]) => `${what} ${e ? `${((Date.parse(e.ts) - r.startedAt) / 1000).toFixed(1)} s` : 'never'}`,
    );
    t.comment(`accel ${accelerator()}, after power-on: ${offsets.join(', ')}`);
    const diag = { vm: describeVm(r) };
    t.ok(seen.preseed, 'the installer fetched its preseed', diag);
    t.ok(seen.installing, "the preseed's early_command called back installing", diag);
    t.equal((await journey(rj, NODE.name)).state, 'installing', 'the API says installing');
  });
}
