// Why a node is stuck, in one sentence an operator can act on: the last thing the
// node was seen doing, then what went wrong after it when the timeline knows (a
// template that failed to render, a missing file, a DHCP request dropped), else
// what usually breaks right after it. Reads the node's own timeline, so it works
// the same after a daemon restart.
import type { NodeEvent } from '../events.js';
import type { NodeState } from '../inventory/states.js';
import { FAILURES } from './machine.js';

const clock = (ms: number) => `${new Date(ms).toISOString().slice(11, 19)}Z`;
const base = (file: string) => file.replace(/^.*[/\\]/, '') || file;

interface Seen {
  what: string;
  at: number;
  event: NodeEvent;
}

/** The observation an event records, in words; null for events that are not observations. */
function seen(e: NodeEvent): Seen | null {
  const d = e.data;
  if (e.type.startsWith('dhcp.')) {
    const sent = d.sent as { file?: string } | undefined;
    if (!sent) return null; // a request we did not answer is not progress
    return { what: `sent a DHCP boot offer${sent.file ? ` (${base(String(sent.file))})` : ''}`, at: e.ts, event: e };
  }
  if (e.type === 'tftp.sent' || e.type === 'http.sent')
    return { what: `got ${base(String(d.file))}`, at: e.ts, event: e };
  if (e.type === 'installer.config') return { what: `installer fetched ${base(String(d.file))}`, at: e.ts, event: e };
  if (e.type === 'callback') return { what: `called back "${String(d.stage)}"`, at: e.ts, event: e };
  if (e.type === 'kube.ready') return { what: 'Node Ready in Kubernetes', at: e.ts, event: e };
  return null;
}

/** A failure the node met, in words; null for events that are not failures. */
function failure(e: NodeEvent): string | null {
  const d = e.data;
  const file = String(d.file ?? '');
  switch (e.type) {
    case FAILURES.render:
      return `${file} failed to render: ${String(d.detail)}`;
    case FAILURES.missing:
      return `it asked for ${file}, ${String(d.detail)}: put the file under assets/ or fix the profile's path`;
    case FAILURES.tftp:
      return `TFTP ended ${file} with an error: ${String(d.detail)}`;
    case FAILURES.token:
      return `${file} was ${String(d.detail)}`;
  }
  if (e.type.startsWith('dhcp.') && (d.dropped || d.withheld)) {
    const why = d.dropped
      ? String(d.dropped)
      : `reply withheld (${String((d.withheld as { reason?: string }).reason)})`;
    return `its DHCP ${String(d.received)} was not answered: ${why}${d.reason ? ` (${String(d.reason)})` : ''}`;
  }
  return null;
}

/** What most often fails right after the last thing seen in this state. */
function likelyCause(state: NodeState, last: Seen | null, lastFile: Seen | null): string {
  switch (state) {
    case 'pxe':
      return (
        'never fetched its boot file: check that TFTP/HTTP on the advertised address is reachable ' +
        '(firewall, next-server) and that no other DHCP server answered instead'
      );
    case 'booting': {
      const role = lastFile?.event.data.role;
      if (role === 'loader')
        return (
          'never fetched its script or boot config: check Secure Boot (unsigned loader refused) and the ' +
          'loader build; try loaderFile: snponly.efi for NIC hangs'
        );
      if (role === 'boot-config')
        return "never fetched the kernel: check the profile's kernel path and that the file exists under assets/";
      if (role === 'kernel')
        return 'never fetched the initrd: check the initrd path, and the loader running out of memory on large initrds';
      return (
        'the installer never fetched its config: check the kernel command line (ip=dhcp, seed URL), ' +
        'and the console for a kernel panic or a missing NIC driver'
      );
    }
    case 'installing':
      return (
        'never reported installed: check the installer console (disk layout, package mirror, ' +
        'and the late-command that calls back)'
      );
    case 'installed':
      return (
        'the installed OS never called back: check that it boots from its disk (UEFI BootOrder, ' +
        'local boot method) and can reach the daemon'
      );
    case 'joining':
      return (
        'kubeadm join never reported success: check the join token (tokenTtlMinutes), ' +
        'apiServerEndpoint reachability and caCertHashes'
      );
    default:
      return last ? 'no further progress' : 'nothing seen';
  }
}

/**
 * "booting for 600 s: got ipxe.efi at 10:02:11Z, never fetched its script ...".
 * `events` are the node's recent events, oldest first.
 */
export function explainStall(state: NodeState, seconds: number, events: NodeEvent[]): string {
  const observed = events.map(seen).filter((s): s is Seen => s !== null);
  const last = observed.at(-1) ?? null;
  // While booting, iPXE's own DHCP comes after the loader: the last file says more.
  const lastFile =
    [...observed].reverse().find((s) => s.event.type === 'tftp.sent' || s.event.type === 'http.sent') ?? null;
  const anchor = state === 'booting' && lastFile ? lastFile : last;
  const head = `${state} for over ${seconds} s`;
  // What the timeline says went wrong after the last progress beats what usually does.
  const met = [...events].reverse().find((e) => (!last || e.ts >= last.at) && failure(e) !== null);
  if (met) {
    const then = `${failure(met)} (${clock(met.ts)})`;
    return last ? `${head}: ${last.what} at ${clock(last.at)}, then ${then}` : `${head}: ${then}`;
  }
  const cause = likelyCause(state, last, lastFile);
  return anchor ? `${head}: ${anchor.what} at ${clock(anchor.at)}, ${cause}` : `${head}: ${cause}`;
}
