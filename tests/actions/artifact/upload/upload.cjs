// act copies this folder into its action cache, so the modules come from NODE_PATH (the test
// sets it to this package's node_modules).
// Upload the listed files and directories as one artifact, rooted at their common ancestor (as
// actions/upload-artifact does), with the client library of the real action.
const fs = require("node:fs");
const path = require("node:path");
const core = require("@actions/core");
const { DefaultArtifactClient } = require("@actions/artifact");

function walk(entry) {
  if (!fs.statSync(entry).isDirectory()) return [entry];
  return fs.readdirSync(entry).flatMap((name) => walk(path.join(entry, name)));
}

function commonRoot(entries) {
  const parts = entries.map((e) => {
    const dir = fs.statSync(e).isDirectory() ? e : path.dirname(e);
    return dir.split(path.sep);
  });
  const first = parts[0];
  let n = 0;
  while (n < first.length && parts.every((p) => p[n] === first[n])) n += 1;
  return first.slice(0, n).join(path.sep) || path.sep;
}

async function main() {
  try {
    const name = core.getInput("name", { required: true });
    const listed = core.getMultilineInput("path", { required: true }).map((p) => path.resolve(p));
    const present = listed.filter((p) => fs.existsSync(p));
    const files = present.flatMap(walk);
    if (files.length === 0) {
      const message = `no files found at ${listed.join(", ")}`;
      const mode = core.getInput("if-no-files-found");
      if (mode === "error") throw new Error(message);
      if (mode === "warn") core.warning(message);
    } else {
      const root = commonRoot(present);
      const { id, size } = await new DefaultArtifactClient().uploadArtifact(name, files, root);
      core.setOutput("artifact-id", String(id));
      core.info(`uploaded ${files.length} file(s) as artifact ${name} (id ${id}, ${size} bytes)`);
    }
  } catch (error) {
    core.setFailed(error.message);
  }
}

main();
