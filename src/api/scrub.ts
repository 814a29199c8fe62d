// What a node sends back in its callback is untrusted text that may quote secrets:
// curl errors print the callback URL (the node token), kubeadm prints its own
// command line (the join token). Scrubbed here, before anything is stored or logged.
import { CALLBACK_OUTPUT } from '../lifecycle/machine.js';

// kubeadm bootstrap tokens ("abcdef.0123456789abcdef"), wherever they appear.
const BOOTSTRAP_TOKEN = /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g;
// The value of a secret-carrying kubeadm flag, `--token X` or `--token=X`; not --discovery-token-ca-cert-hash.
const SECRET_FLAG = /(--(?:discovery-token|token|certificate-key))(?![\w-])(=|[ \t]+)("[^"]*"|'[^']*'|\S+)/g;
// Terminal control (escape sequences, backspace, bell) would act on the operator's screen.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;

/**
 * `text` with line ends normalised, control characters dropped, and the given secrets
 * (the node's token), join tokens and secret flag values masked.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text.replace(/\r\n?/g, '\n').replace(CONTROL, '');
  for (const s of secrets) if (s) out = out.split(s).join('[node-token]');
  return out.replace(SECRET_FLAG, '$1$2[redacted]').replace(BOOTSTRAP_TOKEN, '[join-token]');
}

/**
 * The end of a failing command's output as stored: scrubbed first (so no half-token
 * survives the cut), then at most the last `keptBytes` bytes, from the first whole line
 * in them (or, for one long line, the first whole character).
 */
export function outputTail(raw: string, secrets: readonly string[]): string {
  const clean = scrubSecrets(raw, secrets);
  const bytes = Buffer.from(clean, 'utf8');
  if (bytes.length <= CALLBACK_OUTPUT.keptBytes) return clean;
  const from = bytes.length - CALLBACK_OUTPUT.keptBytes;
  const nl = bytes.indexOf(0x0a, from - 1);
  if (nl >= 0 && nl < bytes.length - 1) return bytes.subarray(nl + 1).toString('utf8');
  let start = from;
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++; // UTF-8 continuation byte
  return bytes.subarray(start).toString('utf8');
}
