// sigstore-js as an independent verifier: node verify.mjs TRUSTED_ROOT BUNDLE ARTIFACT|- IDENTITY ISSUER
// Exit 0 and "OK" when the bundle verifies; exit 1 and the reason otherwise.
// sigstore-js matches the identity as an unanchored regular expression: anchor and escape it here.
import { readFileSync } from 'node:fs';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';

const [rootPath, bundlePath, artifactPath, identity, issuer] = process.argv.slice(2);
const exact = (text) => `^${text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`;

try {
  const trustMaterial = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(readFileSync(rootPath, 'utf8'))));
  const bundle = bundleFromJSON(JSON.parse(readFileSync(bundlePath, 'utf8')));
  const artifact = artifactPath === '-' ? undefined : readFileSync(artifactPath);
  const verifier = new Verifier(trustMaterial, { tlogThreshold: 1, ctlogThreshold: 1 });
  verifier.verify(toSignedEntity(bundle, artifact), {
    subjectAlternativeName: exact(identity),
    extensions: { issuer }, // compared exactly by sigstore-js
  });
  console.log('OK');
} catch (error) {
  console.log(`FAIL ${error.code ?? ''} ${error.message}`);
  process.exit(1);
}
