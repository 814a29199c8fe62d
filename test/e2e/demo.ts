// `npm run demo`: the end-to-end lab for a person. Brings up the lab (a network
// namespace with a bridge and taps), rackjoin serving DHCP, TFTP and HTTP in it,
// boots VMs with real firmware (one per firmware path by default), and runs
// `rackjoin watch` so you see each node go pxe -> booting -> ... -> joined.
// Everything is torn down when the VMs are done, or on Ctrl-C. Needs root.
//
//   npm run demo                          four VMs at once, one per firmware path
//   npm run demo -- --paths bios-ipxe     just one
//   npm run demo -- --keep                leave the lab up afterwards (Ctrl-C ends it)
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { CLI, e2eUnavailable } from './env.js';
import { createLab, type Lab } from './lab.js';
import { PARALLEL, PROFILES } from './cases.js';
import { journey } from './journey.js';
import { ADMIN_TOKEN, stageAssets, startRackjoin, type Rackjoin } from './rackjoin.js';
import { accelerator, BOOT_PATH_IDS, BOOT_PATHS, startVm, type BootPathId, type RunningVm } from './vm.js';

const { values } = parseArgs({
  options: {
    paths: { type: 'string', default: BOOT_PATH_IDS.join(',') },
    keep: { type: 'boolean', default: false },
    'no-ra': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(`usage: npm run demo -- [--paths ${BOOT_PATH_IDS.join(',')}] [--keep] [--no-ra]
  --paths   which firmware paths to boot, one VM each, all at once
  --keep    keep the lab and rackjoin running after the VMs are done (Ctrl-C ends it)
  --no-ra   no IPv6 router advertisements on the lab network (iPXE then waits ~15 s per stage)`);
  process.exit(0);
}

const paths = values.paths!.split(',').map((s) => s.trim()) as BootPathId[];
for (const p of paths) {
  if (!BOOT_PATH_IDS.includes(p)) {
    console.error(`demo: unknown path ${p} (one of ${BOOT_PATH_IDS.join(', ')})`);
    process.exit(2);
  }
}
const why = e2eUnavailable();
if (why) {
  console.error(`demo: ${why}`);
  process.exit(1);
}

let lab: Lab | null = null;
let rj: Rackjoin | null = null;
let watch: ChildProcess | null = null;
const vms: RunningVm[] = [];
let stopping = false;

async function teardown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const vm of vms) vm.kill();
    watch?.kill('SIGTERM');
    await rj?.stop().catch(() => undefined);
    await lab?.close();
    console.log('demo: lab removed (namespace, bridge, taps, VMs, rackjoin)');
  }
  process.exit(code);
}
// Ctrl-C reaches the whole foreground group (VMs, daemon, watch): clean up after them.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void teardown(130));

async function main(): Promise<void> {
  console.log(
    'demo: staging the kernel, the test installer and the boot loaders (the first run downloads a Debian kernel package)',
  );
  await stageAssets();
  lab = await createLab(null, { taps: paths.length, ra: !values['no-ra'] });
  const machines = PARALLEL.filter((m) => paths.includes(m.path));
  rj = await startRackjoin(lab, { profiles: PROFILES, nodes: machines });
  console.log(
    `demo: rackjoin serves DHCP (pool), TFTP and HTTP on ${rj.base} in namespace ${lab.ns}; QEMU accel ${accelerator()}`,
  );
  for (const m of machines) console.log(`  ${m.name.padEnd(18)} ${m.mac}  ${BOOT_PATHS[m.path].title}`);
  console.log(
    `demo: the API from another shell: sudo ip netns exec ${lab.ns} env RACKJOIN_URL=${rj.base} RACKJOIN_TOKEN=${ADMIN_TOKEN} node ${CLI} nodes`,
  );
  await new Promise((r) => setTimeout(r, 3000));

  watch = lab.spawn(['node', CLI, 'watch'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, RACKJOIN_URL: rj.base, RACKJOIN_TOKEN: ADMIN_TOKEN },
  });
  await new Promise((r) => setTimeout(r, 1000));
  const timeoutMs = 300_000 + 60_000 * machines.length;
  for (const [i, m] of machines.entries())
    vms.push(startVm(lab, { name: m.name, mac: m.mac, tap: lab.taps[i]!, path: m.path, timeoutMs }));
  const results = await Promise.all(vms.map((v) => v.result));
  await new Promise((r) => setTimeout(r, 2000)); // let watch show the last transitions
  watch.kill('SIGTERM');
  watch = null;

  console.log('\ndemo: results');
  let allJoined = true;
  for (const [i, m] of machines.entries()) {
    const r = results[i]!;
    const j = await journey(rj, m.name);
    const joined = j.entered.joined;
    allJoined &&= j.state === 'joined';
    const took = joined
      ? `power-on -> joined ${((joined - r.startedAt) / 1000).toFixed(1)} s`
      : `ended ${r.failure ?? (r.timedOut ? 'by timeout' : `with exit ${r.exit}`)}`;
    console.log(`  ${m.name.padEnd(18)} ${j.state.padEnd(10)} ${took}`);
    for (const args of r.kubeadm) console.log(`  ${''.padEnd(18)} kubeadm ${args}`);
    if (j.state !== 'joined') console.log(`  ${''.padEnd(18)} serial console: ${r.serialLog}`);
  }
  if (!allJoined) lab.keep();
  if (values.keep) {
    console.log(`demo: the lab stays up (namespace ${lab.ns}); Ctrl-C removes it`);
    await new Promise(() => undefined);
  }
  await teardown(allJoined ? 0 : 1);
}

main().catch(async (err) => {
  console.error(`demo: ${(err as Error).stack ?? err}`);
  lab?.keep();
  await teardown(1);
});
