// sigstore-js as an independent signer: node sign.mjs INSTANCE_URL < REQUEST.json
// REQUEST: {"identityToken": "...", "jobs": [{"kind": "blob"|"dsse", "input": PATH,
// "output": PATH, "payloadType": "..."}]} on stdin (a token never goes on the command line,
// where `ps` shows it). `blob` signs the input's bytes (a message-signature bundle), `dsse`
// signs them as a DSSE payload of payloadType (an attestation bundle); each goes through the
// instance's CA (Fulcio API v2: a public key and a proof of possession) and its Rekor v1 log.
// One line per job, in order: "OK" with the bundle written to its output, or "FAIL reason".
// Exit 0 when every job signed, 1 otherwise. One process for many jobs: node starts slowly.
import { readFileSync, writeFileSync } from 'node:fs';
import { attest, sign } from 'sigstore';

const [url] = process.argv.slice(2);
const { identityToken, jobs } = JSON.parse(readFileSync(0, 'utf8'));
const options = { fulcioURL: url, rekorURL: url, identityToken, retry: 0, timeout: 30000 };
// sigstore-js quotes a token it cannot parse in its message: never echo it.
const redact = (text) => (identityToken ? text.replaceAll(identityToken, '<token>') : text);

let failed = false;
for (const job of jobs) {
  try {
    const payload = readFileSync(job.input);
    const bundle =
      job.kind === 'dsse' ? await attest(payload, job.payloadType, options) : await sign(payload, options);
    writeFileSync(job.output, JSON.stringify(bundle));
    console.log('OK');
  } catch (error) {
    const cause = error.cause ? `: ${error.cause.message}` : '';
    console.log(redact(`FAIL ${error.code ?? ''} ${error.message}${cause}`.replaceAll('\n', ' ')));
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
