// End to end: real firmware boots from rackjoin, through the test installer (the
// real built-in ubuntu-autoinstall template, its callbacks and first-boot join with a
// stub kubeadm), to `joined` in the API.
//   1. the matrix, one VM at a time: SeaBIOS + iPXE ROM (HTTP), SeaBIOS + pxelinux
//      (TFTP), OVMF + iPXE EFI ROM (HTTP), OVMF native PXE (TFTP ipxe.efi, then HTTP)
//   2. four VMs at once, one per path, each with its own MAC and config
//   3. reimage: a joined node is armed again and goes through the installer again
// Needs root, QEMU, OVMF, iPXE, pxelinux (scripts/install-deps --test); the first
// run downloads a Debian kernel package with apt-get (scripts/build-test-initrd).
// QEMU runs under TCG unless KVM actually works (test/e2e/vm.ts), so the timeouts
// are generous, and bounded.
import t, { type Test as TapTest } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eUnavailable } from './env.js';
import { createLab, type Lab } from './lab.js';
import { ALL_MACHINES, MATRIX, PARALLEL, PROFILES, type Machine } from './cases.js';
import { journey, lastEventId, PATH_STATES, stageOffsets } from './journey.js';
import { stageAssets, startRackjoin, type Rackjoin } from './rackjoin.js';
import { accelerator, BOOT_PATHS, describeVm, startVm, type VmResult } from './vm.js';

// RACKJOIN_E2E_PATHS=bios-ipxe,uefi-pxe limits the run to some paths (while debugging one).
const only = process.env.RACKJOIN_E2E_PATHS?.split(',').map((s) => s.trim());
const pick = (m: Machine) => !only || only.includes(m.path);
const SINGLE_VM_MS = 180_000;
const PARALLEL_VM_MS = 360_000;

type Test = TapTest;

const why = e2eUnavailable();
if (why && !process.env.CI) {
  t.plan(0, why);
} else {
  // The whole file, bounded: tap's default per-file timeout is far too short for VMs.
  t.setTimeout(25 * 60_000);
  const timings: string[] = [];
  let lab: Lab;
  let rj: Rackjoin;

  t.before(async () => {
    await stageAssets();
    lab = await createLab(t, { taps: 4, ra: process.env.RACKJOIN_E2E_RA !== '0' });
    rj = await startRackjoin(lab, { profiles: PROFILES, nodes: ALL_MACHINES });
    t.teardown(() => rj.stop());
    t.comment(
      `lab ${lab.ns} on ${lab.prefix}.0/24, accel ${accelerator()}, RA ${lab.ra ? 'on' : 'off'}, run dir ${lab.runDir}`,
    );
  });

  /**
   * Everything one boot must show: the installer ran, the API says joined, the timeline has each stage,
   * kubeadm got the config's arguments.
   */
  async function assertJoined(t: Test, m: Machine, r: VmResult, afterEventId: number, label: string): Promise<void> {
    const ok = r.done && !r.failure && !r.timedOut;
    t.ok(ok, `${m.name}: the installer ran to the end`, ok ? {} : { vm: describeVm(r) });
    const j = await journey(rj, m.name, afterEventId);
    t.equal(j.state, 'joined', `${m.name}: API state joined`);
    // Every stage, in order, each entered once (evidence only moves a node forward).
    const path = j.transitions.filter((s) => (PATH_STATES as readonly string[]).includes(s));
    t.same(path, [...PATH_STATES], `${m.name}: timeline has every stage in order`, { transitions: j.transitions });
    const callbacks = j.events.filter((e) => e.type === 'callback').map((e) => e.data.stage);
    t.same(
      ['installing', 'installed', 'joining', 'joined'].filter((s) => callbacks.includes(s)),
      ['installing', 'installed', 'joining', 'joined'],
      `${m.name}: the installer and first boot called back for each stage`,
    );
    // How the kernel got there: over TFTP for pxelinux, over HTTP for iPXE.
    const via = BOOT_PATHS[m.path].loader === 'pxelinux' ? 'tftp' : 'http';
    const kernel = j.events.find((e) => e.type === `${via}.sent` && e.data.role === 'kernel');
    t.ok(kernel, `${m.name}: kernel served over ${via}`);
    if (m.path === 'uefi-pxe') {
      t.ok(
        j.events.find((e) => e.type === 'tftp.sent' && String(e.data.file).endsWith('ipxe.efi')),
        `${m.name}: firmware PXE fetched ipxe.efi over TFTP`,
      );
      // EDK2 asks for RFC 7440 windowsize 4; the daemon's transfer log says what was agreed.
      const transfers = rj.logs.filter(
        (l) =>
          l.msg === 'tftp transfer complete' && String(l.path).endsWith('ipxe.efi') && Number(l.time) >= r.startedAt,
      );
      t.ok(
        transfers.some((l) => Number(l.windowsize) > 1),
        `${m.name}: ipxe.efi went with a TFTP window`,
        { windowsizes: transfers.map((l) => l.windowsize) },
      );
    }
    t.same(r.kubeadm, [rj.expectedJoinArgs(m.name, m.role)], `${m.name}: kubeadm join got the config's arguments`);
    const joinedAt = j.entered.joined;
    const line = joinedAt
      ? `${label} ${m.path}: power-on -> joined ${((joinedAt - r.startedAt) / 1000).toFixed(1)} s (${stageOffsets(j, r.startedAt)})`
      : `${label} ${m.path}: not joined`;
    timings.push(line);
    t.comment(line);
    if (!ok || j.state !== 'joined') lab.keep();
  }

  t.test('matrix: each firmware path, one VM at a time', async (t) => {
    for (const m of MATRIX.filter(pick)) {
      await t.test(`${m.path}: ${BOOT_PATHS[m.path].title}`, async (t) => {
        const before = await lastEventId(rj, m.name);
        const r = await startVm(lab, {
          name: m.name,
          mac: m.mac,
          tap: lab.taps[0]!,
          path: m.path,
          timeoutMs: SINGLE_VM_MS,
        }).result;
        await assertJoined(t, m, r, before, 'single');
      });
    }
  });

  t.test(
    'four VMs at once, one per firmware path, each with its own config',
    { skip: only ? 'RACKJOIN_E2E_PATHS is set' : false },
    async (t) => {
      const befores = await Promise.all(PARALLEL.map((m) => lastEventId(rj, m.name)));
      const started = Date.now();
      const vms = PARALLEL.map((m, i) =>
        startVm(lab, { name: m.name, mac: m.mac, tap: lab.taps[i]!, path: m.path, timeoutMs: PARALLEL_VM_MS }),
      );
      const results = await Promise.all(vms.map((v) => v.result));
      timings.push(
        `parallel: all four joined or ended ${((Math.max(...results.map((r) => r.endedAt)) - started) / 1000).toFixed(1)} s after power-on`,
      );
      for (const [i, m] of PARALLEL.entries()) await assertJoined(t, m, results[i]!, befores[i]!, 'parallel');
      // Each got its own lease: four distinct addresses from the pool (from each node's DHCP events).
      const addresses: Record<string, string | undefined> = {};
      for (const [i, m] of PARALLEL.entries()) {
        const j = await journey(rj, m.name, befores[i]!);
        const acks = j.events.filter(
          (e) => e.type.startsWith('dhcp.') && e.data.sent?.yiaddr && e.data.sent.yiaddr !== '0.0.0.0',
        );
        addresses[m.name] = acks.at(-1)?.data.sent.yiaddr;
      }
      const leased = Object.values(addresses).filter(Boolean);
      t.equal(new Set(leased).size, PARALLEL.length, 'four distinct leases', { addresses });
    },
  );

  t.test(
    'reimage: a joined node boots through the installer again',
    { skip: !pick(MATRIX[0]!) && 'bios-ipxe is not in RACKJOIN_E2E_PATHS' },
    async (t) => {
      const m = MATRIX.find((x) => x.path === 'bios-ipxe')!;
      const vmSpec = {
        name: `${m.name}-reimage`,
        mac: m.mac,
        tap: lab.taps[0]!,
        path: m.path,
        timeoutMs: SINGLE_VM_MS,
      };
      let first: VmResult | null = null;
      if ((await journey(rj, m.name)).state !== 'joined') {
        // The matrix did not leave it joined: install it once here.
        const before = await lastEventId(rj, m.name);
        first = await startVm(lab, { ...vmSpec, name: `${m.name}-first` }).result;
        await assertJoined(t, m, first, before, 'first');
      }
      const oldSeed = seedOf(first?.serial ?? '') ?? (await seedFromLog(lab, m.name));

      const before = await lastEventId(rj, m.name);
      const re = await rj.api('POST', `/api/v1/nodes/${m.name}/reimage`, {});
      t.equal(re.status, 200, 'reimage accepted', { body: re.body });
      t.equal(re.body?.node?.state, 'registered', 'the node is registered again');
      t.equal(re.body?.node?.netboot, true, 'netboot is armed');

      const r = await startVm(lab, vmSpec).result;
      await assertJoined(t, m, r, before, 'reimage');
      const j = await journey(rj, m.name, before);
      t.equal(j.transitions[0], 'registered', 'the timeline shows the reimage before the new install');
      const newSeed = seedOf(r.serial);
      t.ok(newSeed, 'the installer got a seed URL');
      if (oldSeed && newSeed) {
        t.not(newSeed, oldSeed, 'the reimage gave the node a new token');
        const old = await lab.exec([
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--max-time',
          '10',
          `${oldSeed}user-data`,
        ]);
        t.equal(old.stdout, '404', "the old token's user-data is gone");
      }
    },
  );

  t.teardown(() => {
    if (timings.length)
      console.log(
        `# e2e timings (accel ${accelerator()}, RA ${lab?.ra ? 'on' : 'off'}):\n${timings.map((l) => `#   ${l}`).join('\n')}`,
      );
  });
}

function seedOf(serial: string): string | null {
  const m = /E2E-SEED: (\S+)/.exec(serial.replace(/\r/g, ''));
  return m ? m[1]! : null;
}

async function seedFromLog(lab: Lab, name: string): Promise<string | null> {
  try {
    return seedOf(readFileSync(join(lab.runDir, `vm-${name}.serial.log`), 'latin1'));
  } catch {
    return null;
  }
}
