// GET /api/v1/nodes/:id/pcap: the DHCP and TFTP packets rackjoin exchanged with a
// machine (src/capture/), as a pcap file for tcpdump -r or Wireshark.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pcapFile } from '../capture/pcap.js';
import type { CaptureStore } from '../capture/store.js';
import type { NodeStore } from '../inventory/store.js';
import { macHyphen, normalizeMac } from '../mac.js';
import { ApiError } from './errors.js';
import { errorResponses } from './schemas.js';

/** The media type IANA registered for pcap files. */
const PCAP_TYPE = 'application/vnd.tcpdump.pcap';

export interface PcapRouteDeps {
  nodes: Pick<NodeStore, 'get'>;
  captures: Pick<CaptureStore, 'records' | 'has'>;
}

export function pcapRoutes({ nodes, captures }: PcapRouteDeps): FastifyPluginAsyncTypebox {
  /** A node's name and MACs; a MAC that is no node's but was heard from is a machine of its own. */
  const machineOf = (id: string): { name: string; macs: string[] } => {
    const node = nodes.get(id);
    if (node) return { name: node.name, macs: node.macs };
    const mac = normalizeMac(id);
    if (mac && captures.has(mac)) return { name: macHyphen(mac), macs: [mac] };
    throw new ApiError(404, 'not_found', `no node with name or MAC "${id}"`);
  };
  return async (app) => {
    app.get(
      '/nodes/:id/pcap',
      {
        schema: {
          summary: "The node's recent DHCP and TFTP packets as a pcap file (kept in memory, bounded per machine)",
          tags: ['nodes'],
          params: Type.Object({
            id: Type.String({ minLength: 1, description: 'node name or any of its MACs, or a MAC heard from' }),
          }),
          response: {
            200: {
              description: 'a pcap file (link type RAW: IPv4 and UDP headers around each payload)',
              content: { [PCAP_TYPE]: { schema: { type: 'string', format: 'binary' } } },
            },
            ...errorResponses(404),
          },
        },
      },
      async (req, reply) => {
        const { name, macs } = machineOf(req.params.id);
        return reply
          .type(PCAP_TYPE)
          .header('content-disposition', `attachment; filename="${name}.pcap"`)
          .send(pcapFile(captures.records(macs)));
      },
    );
  };
}
