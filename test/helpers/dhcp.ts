// DHCP requests for tests: the option bytes the firmware in the QEMU lab really
// sent (captured with tcpdump on the lab bridge; docs/firmware.md), framed in a BOOTREQUEST.

/** Captured option payloads, code -> hex, in the order each client sent them. */
export const CAPTURED: Record<string, [number, string][]> = {
  // SeaBIOS + QEMU iPXE ROM (virtio), capture bc1: also what undionly.kpxe sends.
  biosIpxeRom: [
    [57, '05c0'],
    [93, '0000'],
    [94, '010201'],
    [60, '505845436c69656e743a417263683a30303030303a554e44493a303032303031'],
    [77, '69505845'],
    [55, '010306070c0f111a2b3c4243778081828384858687afcb'],
    [175, 'b105011af41000eb03010000170101220101130101110101270101190101290101100102210101150101180101120101'],
    [61, '015254000e0001'],
    [97, '0044454c4c0000001080005254000e0001'],
  ],
  // OVMF native EDK2 PXE, capture bc2 (DISCOVER): no user class, no client id.
  edk2: [
    [57, '05c0'],
    [55, '0102030405060c0d0f111216171c28292a2b3233363a3b3c4243618081828384858687'],
    [97, '0044454c4c0000001080005254000e0002'],
    [94, '010300'],
    [93, '0007'],
    [60, '505845436c69656e743a417263683a30303030373a554e44493a303033303030'],
  ],
  // OVMF + iPXE EFI ROM (e1000), capture e1k.
  uefiIpxeRom: [
    [57, '05c0'],
    [93, '0007'],
    [94, '01030a'],
    [60, '505845436c69656e743a417263683a30303030373a554e44493a303033303130'],
    [77, '69505845'],
    [55, '010306070c0f111a2b3c4243778081828384858687afcb'],
    [175, 'b105018086100eeb03010000170101240101130101110101270101290101150101120101'],
    [61, '015254000e0004'],
    [97, '0044454c4c0000001080005254000e0004'],
  ],
  // busybox udhcpc in the installer initrd.
  udhcpc: [
    [57, '0240'],
    [55, '0103060c0f1c2a'],
    [60, '756468637020312e33352e30'],
    [61, '015254000e0001'],
  ],
};

export interface RequestSpec {
  type: number;
  mac?: string;
  xid?: number;
  flags?: number;
  ciaddr?: string;
  giaddr?: string;
  hops?: number;
  /** Extra options after 53, as [code, hex]. */
  options?: [number, string][];
}

function ip(s: string | undefined): number {
  if (!s) return 0;
  return s.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

/** Option bytes: 53 first, then `options`, then END. */
export function optionBytes(type: number, options: [number, string][] = []): Buffer {
  const parts = [Buffer.from([53, 1, type])];
  for (const [code, hex] of options) {
    const v = Buffer.from(hex, 'hex');
    parts.push(Buffer.from([code, v.length]), v);
  }
  parts.push(Buffer.from([255]));
  return Buffer.concat(parts);
}

/** A BOOTREQUEST datagram; `rawOptions` replaces the option area verbatim. */
export function buildRequest(spec: RequestSpec, rawOptions?: Buffer): Buffer {
  const head = Buffer.alloc(240);
  head[0] = 1;
  head[1] = 1;
  head[2] = 6;
  head[3] = spec.hops ?? (spec.giaddr ? 1 : 0);
  head.writeUInt32BE(spec.xid ?? 0x12345678, 4);
  head.writeUInt16BE(spec.flags ?? 0, 10);
  head.writeUInt32BE(ip(spec.ciaddr), 12);
  head.writeUInt32BE(ip(spec.giaddr), 24);
  Buffer.from((spec.mac ?? '52:54:00:0e:00:01').replace(/:/g, ''), 'hex').copy(head, 28);
  head.writeUInt32BE(0x63825363, 236);
  return Buffer.concat([head, rawOptions ?? optionBytes(spec.type, spec.options)]);
}

export function hexOpt(code: number, value: string): [number, string] {
  return [code, Buffer.from(value, 'latin1').toString('hex')];
}

export function ipHex(s: string): string {
  return ip(s).toString(16).padStart(8, '0');
}
