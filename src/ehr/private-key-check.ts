/**
 * The EHR boundary's check at start of kap-bridge's private key for SMART Backend Services: the
 * file is read, its key matched to the signing algorithm and its kid to KAP_EHR_KEY_ID, one message
 * per mistake with its fix. Run with the configuration's own checks (loadConfig's `checks`).
 */
import type { EhrConfig, SigningAlg } from './config.js';
import {
  algorithmFor,
  describeKey,
  KeyFileError,
  type PrivateKeyFile,
  readPrivateKey,
} from './signing-key.js';

const NEEDS: Record<SigningAlg, string> = {
  RS384: 'an RSA key of 2048 bits or more',
  ES384: 'an EC P-384 key',
};

const GENERATE: Record<SigningAlg, string> = {
  RS384: 'openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out',
  ES384: 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out',
};

/** Settles the key's algorithm and kid on the EHR's section when the key file says them. */
export const privateKeyCheck = (ehr: EhrConfig): string[] => {
  const path = ehr.privateKeyFile;
  if (ehr.auth !== 'smart-backend' || !path) return [];
  const problems: string[] = [];
  let file: PrivateKeyFile;
  try {
    file = readPrivateKey(path);
  } catch (e) {
    if (!(e instanceof KeyFileError)) throw e;
    problems.push(keyFileProblem(e, path, ehr.signingAlg ?? 'ES384'));
    return problems;
  }
  const fits = algorithmFor(file.key);
  const alg = ehr.signingAlg ?? fits;
  if (!fits) {
    problems.push(
      `KAP_EHR_PRIVATE_KEY_FILE ${path} holds ${describeKey(file.key)}; kap-bridge signs with RS384 (${NEEDS.RS384}) or ES384 (${NEEDS.ES384})`,
    );
  } else if (alg !== fits) {
    problems.push(
      `KAP_EHR_SIGNING_ALG is ${alg}, but KAP_EHR_PRIVATE_KEY_FILE ${path} holds ${describeKey(file.key)}; ${alg} needs ${NEEDS[alg!]} (or set KAP_EHR_SIGNING_ALG=${fits})`,
    );
  } else if (file.alg && file.alg !== alg) {
    problems.push(
      `KAP_EHR_PRIVATE_KEY_FILE ${path} is a JWK for ${file.alg}, but kap-bridge signs with ${alg}; make them agree`,
    );
  }
  if (alg) ehr.signingAlg = alg;
  const kid = ehr.keyId ?? file.kid;
  if (!kid) {
    problems.push(
      "KAP_EHR_KEY_ID must be set when KAP_EHR_AUTH is smart-backend (the kid of kap-bridge's public key in the JWKS registered with the EHR)",
    );
  } else if (file.kid && file.kid !== kid) {
    problems.push(
      `KAP_EHR_KEY_ID is "${kid}", but the JWK in KAP_EHR_PRIVATE_KEY_FILE ${path} has kid "${file.kid}"; make them agree`,
    );
  }
  ehr.keyId = kid;
  return problems;
};

function keyFileProblem(e: KeyFileError, path: string, alg: SigningAlg): string {
  const fix: Record<KeyFileError['problem'], string> = {
    missing: `create the key (${GENERATE[alg]} ${path}) and register its public key with the EHR, or point KAP_EHR_PRIVATE_KEY_FILE at the key already registered`,
    unreadable: 'check the path and that the user kap-bridge runs as may read the file',
    encrypted: `write it out unencrypted (openssl pkey -in ${path} -out <new file>) and protect the file by its permissions instead`,
    public: 'point KAP_EHR_PRIVATE_KEY_FILE at the private key; the EHR is given the public one',
    'not-a-key': 'point KAP_EHR_PRIVATE_KEY_FILE at the private key file',
  };
  return `KAP_EHR_PRIVATE_KEY_FILE: ${e.message}; ${fix[e.problem]}`;
}
