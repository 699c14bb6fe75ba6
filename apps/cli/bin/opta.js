#!/usr/bin/env node
// Checked-in launcher for the `opta` bin. It exists before the TypeScript build runs, so npm can
// link and chmod it at install time; the command itself is the compiled dist/bin.js.
import("../dist/bin.js").catch((error) => {
  if (error?.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/bin.js")) {
    process.stderr.write("error: opta is not built yet; run `npm run build` in the repository\n");
    process.exit(1);
  }
  throw error;
});
