// End to end: real firmware boots from rackjoin, through the test installer (the
// real built-in ubuntu-autoinstall template, its callbacks and first-boot join with a
// stub kubeadm), to `joined` in the API.
//   1. the matrix, one VM at a time: SeaBIOS + iPXE ROM (HTTP), SeaBIOS + pxelinux
//      (TFTP), OVMF + iPXE EFI ROM (HTTP), OVMF native PXE (TFTP ipxe.efi, then HTTP)
//   2. four VMs at once, one per path, each with its own MAC and config
//   3. local boot: the joined nodes power on again, all at once, now with a local disk
//      (scripts/build-test-disk) as the boot device after the NIC: rackjoin sends each
//      to its disk after one script fetch, or through the retry when its script is a 404
//   4. reimage: a joined node is armed again and goes through the installer again
// Needs root, QEMU, OVMF, iPXE, pxelinux, GRUB (scripts/install-deps --test); the first
// run downloads a Debian kernel package with apt-get (scripts/build-test-initrd).
// QEMU runs under TCG unless KVM actually works (test/e2e/vm.ts), so the timeouts
// are generous, and bounded.
import t, { type Test as TapTest } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeScriptUrl } from '../../src/boot/urls.js';
import { e2eUnavailable } from './env.js';
import { createLab, type Lab } from './lab.js';
import { ALL_MACHINES, MATRIX, PARALLEL, PROFILES, type Machine } from './cases.js';
import { journey, lastEventId, PATH_STATES, stageOffsets } from './journey.js';
import { stageAssets, startRackjoin, type Rackjoin } from './rackjoin.js';
import { accelerator, BOOT_PATHS, describeVm, localDisk, serialLines, startVm, type VmResult } from './vm.js';

// RACKJOIN_E2E_PATHS=bios-ipxe,uefi-pxe limits the run to some paths (while debugging one).
const only = process.env.RACKJOIN_E2E_PATHS?.split(',').map((s) => s.trim());
const pick = (m: Machine) => !only || only.includes(m.path);
const SINGLE_VM_MS = 180_000;
const PARALLEL_VM_MS = 360_000;
const LOCAL_BOOT_MS = 150_000;

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
  let disk: string;

  t.before(async () => {
    await stageAssets();
    disk = await localDisk();
    lab = await createLab(t, { taps: 5, ra: process.env.RACKJOIN_E2E_RA !== '0' });
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

  /**
   * How a joined node's next boot ends, by how its firmware netboots (docs/boot-decision.md,
   * "Local boot through the entry script"). With dhcp.installedBoot ipxe-script (the default):
   *   exit   iPXE gets /boot.ipxe, fetches the node's script once, and its `exit 1` hands the
   *          boot straight back to the firmware, which boots the disk.
   *   retry  the same with `localBoot: http-404`: the script is a 404, so the entry script
   *          says so, waits 10 s, fetches once more, and then exits to the firmware.
   *   pxe    firmware's own PXE (uefi-pxe) gets no boot file. OVMF gives up on its PXEv4 entry
   *          after its DHCP retries (~60 s) and spends as long on PXEv6, HTTPv4 and HTTPv6
   *          before the disk, so that VM is stopped once it has given up on PXEv4.
   */
  type LocalBootCase = { m: Machine; expect: 'exit' | 'retry' | 'pxe' };

  function localBootCase(m: Machine): LocalBootCase {
    if (m.localBoot === 'http-404') return { m, expect: 'retry' };
    return { m, expect: BOOT_PATHS[m.path].rom === 'none' ? 'pxe' : 'exit' };
  }

  /** The HTTP status of every request for the node's script while the VM ran (the daemon's request log). */
  function scriptRequests(m: Machine, r: VmResult): number[] {
    const path = nodeScriptUrl('', m.mac);
    const ids = rj.logs
      .filter((l) => l.msg === 'incoming request' && Number(l.time) >= r.startedAt && Number(l.time) <= r.endedAt)
      .filter((l) => String((l.req as { url?: string } | undefined)?.url).split('?')[0] === path)
      .map((l) => l.reqId);
    return ids.map((id) => {
      const done = rj.logs.find((l) => l.msg === 'request completed' && l.reqId === id);
      return Number((done?.res as { statusCode?: number } | undefined)?.statusCode ?? 0);
    });
  }

  async function assertLocalBoot(t: Test, { m, expect }: LocalBootCase, r: VmResult, afterId: number): Promise<void> {
    const lines = serialLines(r.serial);
    const j = await journey(rj, m.name, afterId);
    t.equal(j.state, 'joined', `${m.name}: still joined`);
    t.same(j.transitions, [], `${m.name}: the boot changed no state`);
    const file = nodeScriptUrl('', m.mac).slice(1); // as the timeline names it: no leading slash
    const sent = j.events.filter((e) => e.type === 'http.sent' && e.data.file === file);
    const requests = scriptRequests(m, r);
    // The line's start: SeaBIOS's console wraps iPXE's lines at 80 columns.
    const retries = lines.filter((l) => l.includes('rackjoin: no boot script for'));
    const at = (text: string) => lines.findIndex((l) => l.includes(text));
    const diskAt = lines.findIndex((l) => l.startsWith('E2E-DISK: '));
    if (expect === 'pxe') {
      t.ok(r.stoppedOn, `${m.name}: the firmware gave up on its PXE entry`, r.stoppedOn ? {} : { vm: describeVm(r) });
      t.same(requests, [], `${m.name}: firmware PXE asked for no iPXE script`);
      const offers = j.events.filter((e) => e.type.startsWith('dhcp.') && e.data.sent);
      t.ok(offers.length > 0 && offers.every((e) => !e.data.sent.file), `${m.name}: DHCP answered with no boot file`, {
        offers,
      });
    } else {
      t.ok(r.disk && !r.timedOut, `${m.name}: the firmware booted the local disk`, r.disk ? {} : { vm: describeVm(r) });
    }
    if (expect === 'exit') {
      t.same(requests, [200], `${m.name}: the node's iPXE script was fetched once`);
      t.equal(sent.length, 1, `${m.name}: the timeline has that one fetch`, { sent });
      t.same(retries, [], `${m.name}: no retry on the console`);
      const said = at(`rackjoin: ${m.name} boots from its local disk`);
      t.ok(said >= 0, `${m.name}: iPXE said it boots the local disk`);
      t.ok(said >= 0 && diskAt > said, `${m.name}: then the disk booted`);
    }
    if (expect === 'retry') {
      t.same(requests, [404, 404], `${m.name}: the script was a 404, fetched again once after the retry`);
      t.equal(sent.length, 0, `${m.name}: no script on the timeline`);
      t.equal(retries.length, 1, `${m.name}: the entry script said it would try again, once`, { retries });
      t.ok(retries[0]?.includes(m.mac), `${m.name}: for its own MAC`, { retries });
      const said = at('rackjoin: no boot script for');
      t.ok(said >= 0 && diskAt > said, `${m.name}: then the disk booted`);
    }
    const end = r.disk ? 'disk' : r.stoppedOn ? 'PXEv4 given up' : 'neither disk nor PXE given up';
    const secs = ((r.endedAt - r.startedAt) / 1000).toFixed(1);
    const line = `local ${m.path} (${expect}): power-on -> ${end} ${secs} s, script requests [${requests.join(', ')}]`;
    timings.push(line);
    t.comment(line);
    if (!r.disk && !r.stoppedOn) lab.keep();
  }

  t.test('local boot: joined nodes boot their disk at once, every path at the same time', async (t) => {
    const cases = [...MATRIX, ...PARALLEL.filter((m) => m.localBoot)].filter(pick).map(localBootCase);
    for (const [i, { m }] of cases.entries()) {
      if ((await journey(rj, m.name)).state === 'joined') continue;
      // An earlier test did not leave it joined (or was skipped): install it once here.
      const before = await lastEventId(rj, m.name);
      const spec = { name: `${m.name}-first`, mac: m.mac, tap: lab.taps[i]!, path: m.path, timeoutMs: SINGLE_VM_MS };
      await assertJoined(t, m, await startVm(lab, spec).result, before, 'first');
    }
    const befores = await Promise.all(cases.map(({ m }) => lastEventId(rj, m.name)));
    const vms = cases.map(({ m, expect }, i) =>
      startVm(lab, {
        name: `${m.name}-local`,
        mac: m.mac,
        tap: lab.taps[i]!,
        path: m.path,
        timeoutMs: LOCAL_BOOT_MS,
        disk,
        ...(expect === 'pxe' ? { stopWhen: /failed to load Boot\w+ "UEFI PXEv4/ } : {}),
        // iPXE's entry is then OVMF's only network boot entry: after iPXE exits comes the disk.
        ...(expect !== 'pxe' && BOOT_PATHS[m.path].uefi ? { ovmfNetwork: false as const } : {}),
      }),
    );
    const results = await Promise.all(vms.map((v) => v.result));
    for (const [i, c] of cases.entries()) await assertLocalBoot(t, c, results[i]!, befores[i]!);
  });

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
