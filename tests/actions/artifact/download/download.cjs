// act copies this folder into its action cache, so the modules come from NODE_PATH (the test
// sets it to this package's node_modules).
// Download one artifact by name into path, with the client library of the real action.
const path = require("node:path");
const core = require("@actions/core");
const { DefaultArtifactClient } = require("@actions/artifact");

async function main() {
  try {
    const client = new DefaultArtifactClient();
    const { artifact } = await client.getArtifact(core.getInput("name", { required: true }));
    const target = path.resolve(core.getInput("path") || ".");
    await client.downloadArtifact(artifact.id, { path: target });
    core.setOutput("download-path", target);
    core.info(`downloaded artifact ${artifact.name} (id ${artifact.id}) to ${target}`);
  } catch (error) {
    core.setFailed(error.message);
  }
}

main();
