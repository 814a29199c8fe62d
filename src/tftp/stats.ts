// The TFTP server's counters (exported as rackjoin_tftp_* metrics).
import type { PacketEvent } from './transfer.js';

export type DropReason =
  | PacketEvent
  | 'writeRefused'
  | 'badMode'
  | 'accessViolation'
  | 'notFound'
  | 'tooLarge'
  | 'resolveError'
  | 'busy'
  | 'clientBusy'
  | 'duplicateRequest';

const DROP_REASONS: DropReason[] = [
  'stranger',
  'runt',
  'malformed',
  'badOpcode',
  'duplicateAck',
  'writeRefused',
  'badMode',
  'accessViolation',
  'notFound',
  'tooLarge',
  'resolveError',
  'busy',
  'clientBusy',
  'duplicateRequest',
];

export interface TftpStats {
  /** RRQs and WRQs that reached the listening port. */
  requests: number;
  active: number;
  transfersOk: number;
  transfersFailed: number;
  transfersAborted: number;
  bytesSent: number;
  packetsSent: number;
  packetsResent: number;
  /** Packets and requests not served, by reason. Per-transfer counts land when the transfer ends. */
  dropped: Record<DropReason, number>;
}

export function emptyStats(): TftpStats {
  return {
    requests: 0,
    active: 0,
    transfersOk: 0,
    transfersFailed: 0,
    transfersAborted: 0,
    bytesSent: 0,
    packetsSent: 0,
    packetsResent: 0,
    dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
  };
}
