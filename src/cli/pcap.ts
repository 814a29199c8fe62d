// `rackjoin node ID --pcap FILE`: the node's recent DHCP and TFTP packets, as the
// daemon kept them, written to a pcap file for tcpdump -r or Wireshark.
import { writeFileSync } from 'node:fs';
import { countRecords } from '../capture/pcap.js';
import { apiClient, ApiClientError } from './client.js';

export async function savePcap(id: string, file: string, print: (s: string) => void): Promise<void> {
  const pcap = await apiClient().bytes(`/api/v1/nodes/${encodeURIComponent(id)}/pcap`);
  try {
    writeFileSync(file, pcap);
  } catch (err) {
    // One line, like the API's errors: a stack trace says nothing more about a path that cannot be written.
    throw new ApiClientError(`cannot write ${file}: ${(err as Error).message}`);
  }
  print(`${file}: ${countRecords(pcap)} packets (read it with: tcpdump -nn -v -r ${file})`);
}
