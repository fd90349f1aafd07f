/**
 * Where the peer data lives (real FHIR material nobody here wrote: HL7 validator cases, Synthea and
 * US Core Bundles). KAP_PEER_DATA names it; otherwise a `shared/peer-data` folder beside the
 * checkout or above it, or on this workplace's machines /work/shared/peer-data.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function candidates(): string[] {
  const found: string[] = [];
  if (process.env.KAP_PEER_DATA) found.push(process.env.KAP_PEER_DATA);
  for (let dir = ROOT; dirname(dir) !== dir; dir = dirname(dir))
    found.push(join(dirname(dir), 'shared', 'peer-data'));
  found.push('/work/shared/peer-data');
  return found;
}

export function peerDataDir(): string {
  const dir = candidates().find((d) => existsSync(join(d, 'fhir-test-cases', 'manifest.json')));
  if (!dir) {
    throw new Error(
      `The peer data (fhir-test-cases, synthea, us-core-bundles) was not found in ${candidates().join(', ')}. Set KAP_PEER_DATA to its folder.`,
    );
  }
  return dir;
}
