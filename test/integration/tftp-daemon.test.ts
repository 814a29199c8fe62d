// `rackjoin serve`'s TFTP server with real datagrams from the client namespace:
// tftp.maxTransfersPerClient takes effect (a client over it gets no answer and the
// drop is counted in /metrics), and a request that names no file gets error 4.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOKENS } from '../helpers/daemon.js';
import { scratch, startRackjoin } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const ask = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'tftp-ask.js');

type Answer = { packet: { op: string; code?: number; message?: string } } | null;

/** Each datagram from its own client port; the first packet back for each. */
async function send(lab: Lab, ...hexes: string[]): Promise<Answer[]> {
  const r = await lab.exec(lab.client, ['node', ask, lab.serverIp, '69', ...hexes], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`tftp-ask failed: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Answer);
}

const rrq = (name: string) => Buffer.from(`\x00\x01${name}\x00octet\x00`, 'latin1').toString('hex');

async function daemon(t: { teardown(fn: () => unknown): void }, tftp: Record<string, unknown>) {
  const lab = await createLab(t, { clientAddress: true });
  const assets = scratch(t, 'rj-tftp-assets-');
  mkdirSync(join(assets, 'k'));
  writeFileSync(join(assets, 'k/vmlinuz'), Buffer.alloc(200_000, 7));
  await startRackjoin(t, lab, { dhcp: { mode: 'proxy' }, config: { assets, advertise: lab.serverIp, tftp } });
  // TFTP starts just after DHCP: wait (bounded) until it answers.
  for (let i = 0; i < 40; i++) {
    const [a] = await send(lab, rrq('nothing-here'));
    if (a) break;
  }
  return lab;
}

async function metrics(lab: Lab): Promise<string> {
  const r = await lab.exec(lab.client, [
    'curl',
    '-sS',
    '--max-time',
    '10',
    '-H',
    `Authorization: Bearer ${TOKENS.read}`,
    `http://${lab.serverIp}:8080/metrics`,
  ]);
  return r.stdout;
}

t.test('tftp.maxTransfersPerClient: 1 leaves a second transfer unanswered', { skip }, async (t) => {
  const lab = await daemon(t, { maxTransfersPerClient: 1 });
  // The first client port gets DATA 1 and never ACKs: its transfer holds the address's one slot.
  const [first, second] = await send(lab, rrq('k/vmlinuz'), rrq('k/vmlinuz'));
  t.equal(first?.packet.op, 'data', 'the first transfer starts');
  t.equal(second, null, 'the second, from the same address, gets no answer');
  t.match(await metrics(lab), /^rackjoin_tftp_dropped_total\{reason="clientBusy"\} 1$/m, 'counted');
});

t.test('tftp.maxTransfersPerClient: 2 lets the second one run', { skip }, async (t) => {
  const lab = await daemon(t, { maxTransfersPerClient: 2 });
  const [first, second, third] = await send(lab, rrq('k/vmlinuz'), rrq('k/vmlinuz'), rrq('k/vmlinuz'));
  t.equal(first?.packet.op, 'data');
  t.equal(second?.packet.op, 'data', 'two at once are allowed');
  t.equal(third, null, 'the third is over the limit');
});

t.test('the daemon answers a read request that names no file with error 4', { skip }, async (t) => {
  const lab = await daemon(t, {});
  const [empty, noMode] = await send(
    lab,
    '000100' + Buffer.from('octet\0').toString('hex'),
    '0001' + Buffer.from('k/vmlinuz\0').toString('hex'),
  );
  t.match(empty?.packet, { op: 'error', code: 4, message: 'Missing filename' });
  t.match(noMode?.packet, { op: 'error', code: 4, message: 'Missing mode' });
  t.match(await metrics(lab), /^rackjoin_tftp_dropped_total\{reason="malformed"\} 2$/m, 'counted');
});
