/**
 * An Akash SDL (version 2.0) for one relay from a validated seed. The lease itself
 * needs a wallet and the network: the hand-off is Akash's own CLI (see handOff).
 */
import { Document } from 'yaml';
import { DATA_DIR, RELAY_PORT, YAML_OUT } from './relay.js';
import type { AkashSeed, Size } from './seed.js';

/** The service, compute profile and pricing key in the SDL. */
export const SERVICE = 'relay';
/** Root filesystem of the container: the image (~250 MB unpacked) and its logs. */
const EPHEMERAL_STORAGE: Size = '1Gi';
/** Akash produces a block about every 6 s; the price is per block. */
const BLOCKS_PER_HOUR = 600;

export interface AkashSdl {
  version: '2.0';
  services: Record<string, {
    image: string;
    env: string[];
    expose: Array<{ port: number; as: number; to: Array<{ global: boolean }> }>;
    params: { storage: Record<string, { mount: string; readOnly: boolean }> };
  }>;
  profiles: {
    compute: Record<string, {
      resources: {
        cpu: { units: number };
        memory: { size: Size };
        storage: Array<{ size: Size } | { name: string; size: Size; attributes: { persistent: true; class: string } }>;
      };
    }>;
    placement: Record<string, { pricing: Record<string, { denom: 'uakt'; amount: number }> }>;
  };
  deployment: Record<string, Record<string, { profile: string; count: number }>>;
}

export function akashSdl(seed: AkashSeed): AkashSdl {
  return {
    version: '2.0',
    services: {
      [SERVICE]: {
        image: seed.image,
        env: [`DATA_DIR=${DATA_DIR}`],
        // The provider's ingress serves port 80 on a hostname it assigns; WebSocket upgrades pass through it.
        expose: [{ port: RELAY_PORT, as: 80, to: [{ global: true }] }],
        params: { storage: { data: { mount: DATA_DIR, readOnly: false } } },
      },
    },
    profiles: {
      compute: {
        [SERVICE]: {
          resources: {
            cpu: { units: seed.cpu },
            memory: { size: seed.memory },
            // beta3 is NVMe, the class SQLite's fsyncs want.
            storage: [{ size: EPHEMERAL_STORAGE }, { name: 'data', size: seed.storage, attributes: { persistent: true, class: 'beta3' } }],
          },
        },
      },
      placement: { akash: { pricing: { [SERVICE]: { denom: 'uakt', amount: seed.price } } } },
    },
    deployment: { [SERVICE]: { akash: { profile: SERVICE, count: 1 } } },
  };
}

/** The escrow that keeps the lease paid for the seed's duration even at the highest price. */
export function depositUakt(seed: AkashSeed): number {
  return seed.price * seed.durationHours * BLOCKS_PER_HOUR;
}

/** The command that creates the deployment on the network (needs a funded wallet). */
export function handOff(sdlFile: string, seed: AkashSeed): string {
  return `provider-services tx deployment create ${sdlFile} --deposit ${depositUakt(seed)}uakt --from <wallet>`;
}

/** The SDL as YAML, with a header saying how it was made and what to run next. */
export function akashSdlYaml(seed: AkashSeed, sdlFile: string): string {
  const doc = new Document(akashSdl(seed), YAML_OUT);
  doc.commentBefore = [
    ' Akash SDL for an agentchat relay, written by `agentchat deploy --provider akash`.',
    ` Deposit for ${seed.durationHours} h at ${seed.price} uakt/block (~${BLOCKS_PER_HOUR} blocks/h): ${depositUakt(seed)} uakt.`,
    ` Create the lease with Akash's CLI: ${handOff(sdlFile, seed)}`,
    ' The persistent volume lasts as long as the lease: closing or moving it loses the data.',
  ].join('\n');
  return doc.toString();
}
