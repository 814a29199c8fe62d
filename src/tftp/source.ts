// Where a transfer's bytes come from: a buffer (a rendered config) or an open file.
// A transfer only ever asks for its current window, which starts at or after the
// previous one, so a file is read in large sequential chunks and the current
// chunk stays in memory: re-sending a window never touches the disk, and a 64 MiB
// kernel costs one chunk per client, not 64 MiB.
import type { FileHandle } from 'node:fs/promises';

export interface ByteSource {
  readonly size: number;
  /**
   * Bytes [offset, offset + length) clipped to the end of the content; a Buffer
   * when already in memory (the common case: no promise per window).
   */
  slice(offset: number, length: number): Buffer | Promise<Buffer>;
  close(): Promise<void>;
}

export function memorySource(data: Buffer): ByteSource {
  return {
    size: data.length,
    slice: (offset, length) => data.subarray(offset, offset + length),
    close: async () => undefined,
  };
}

const CHUNK_BYTES = 256 * 1024;

export function fileSource(handle: FileHandle, size: number): ByteSource {
  let chunk = Buffer.alloc(0);
  let chunkStart = 0;
  return {
    size,
    slice(offset, length) {
      const end = Math.min(offset + length, size);
      if (offset >= chunkStart && end <= chunkStart + chunk.length) {
        return chunk.subarray(offset - chunkStart, end - chunkStart);
      }
      return readChunk(offset, length, end);
    },
    close: () => handle.close(),
  };

  async function readChunk(offset: number, length: number, end: number): Promise<Buffer> {
    const want = Math.min(Math.max(length, CHUNK_BYTES), size - offset);
    // A fresh buffer per chunk: datagrams still queued in the socket may point into the old one.
    const buf = Buffer.allocUnsafe(Math.max(want, 0));
    let filled = 0;
    // A short read means the file shrank under us; stop rather than spin.
    while (filled < want) {
      const { bytesRead } = await handle.read(buf, filled, want - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    chunk = buf.subarray(0, filled);
    chunkStart = offset;
    return chunk.subarray(0, Math.min(end - offset, filled));
  }
}

/** RFC 764 netascii as RFC 1350 asks: LF becomes CR LF, a bare CR becomes CR NUL. */
export function toNetascii(data: Buffer): Buffer {
  let extra = 0;
  for (const byte of data) if (byte === 0x0a || byte === 0x0d) extra++;
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (const byte of data) {
    if (byte === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (byte === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else out[o++] = byte;
  }
  return out;
}
