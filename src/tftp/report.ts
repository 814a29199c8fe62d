// What the TFTP server tells its owner about each read or write request it
// answers, or refuses without an answer: one TransferRecord, through onTransfer.
// Every failure record names the ERROR packet that went to the client (code and
// message, as sent), so a node's timeline can say what its firmware was told.
// Paths and client messages are untrusted: bounded and escaped before they leave.
import { shown } from '../untrusted.js';
import { DEFAULT_BLKSIZE } from './options.js';
import type { TftpErrorPacket } from './packet.js';
import type { DropReason } from './stats.js';
import type { PacketEvent, Peer } from './transfer.js';

/**
 * Why a request was not served; the names match the server's drop counters.
 * Refused before any data: malformed (not a well-formed request), badMode,
 * writeRefused, accessViolation, notFound, tooLarge (netascii), resolveError,
 * busy and clientBusy (over a transfer limit: no ERROR is sent, see admission.ts).
 * Ended during the transfer: timeout, io (the file could not be read or changed),
 * shutdown, internal (the transfer could not start or its worker died: no ERROR
 * could be sent), aborted (the client sent an ERROR).
 */
export type TftpFailureKind =
  // A refused request is counted under the same name (stats.ts).
  | Exclude<DropReason, Exclude<PacketEvent, 'malformed'> | 'duplicateRequest'>
  | 'timeout'
  | 'io'
  | 'shutdown'
  | 'internal'
  | 'aborted';

export interface TftpFailure {
  kind: TftpFailureKind;
  /** The ERROR packet sent to the client; null when none was (over a limit, the client aborted, internal). */
  sent: TftpErrorPacket | null;
  /** One line for people, escaped: the request's problem, or the client's own ERROR when it aborted. */
  detail: string;
}

interface TransferFacts<T> {
  /** The normalised path when the name was valid, else the name as sent; escaped and bounded (shown()). */
  path: string;
  peer: Peer;
  /** The tag the resolve hook gave this file, if any. */
  tag?: T;
  /** Bytes the client acknowledged. */
  bytes: number;
  durationMs: number;
  blksize: number;
  windowsize: number;
}

export type TransferRecord<T> = TransferFacts<T> &
  ({ status: 'ok' } | { status: 'refused' | 'failed' | 'aborted'; failure: TftpFailure });

export type FailureRecord<T> = Extract<TransferRecord<T>, { failure: TftpFailure }>;

/** A request refused before any transfer: nothing was sent but (maybe) the ERROR. */
export function refusal<T>(peer: Peer, path: string, failure: TftpFailure, durationMs = 0): FailureRecord<T> {
  return {
    path: shown(path),
    peer,
    status: 'refused',
    failure,
    bytes: 0,
    durationMs,
    blksize: DEFAULT_BLKSIZE,
    windowsize: 1,
  };
}
