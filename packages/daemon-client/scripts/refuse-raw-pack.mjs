// `prepack` of the workspace package: a plain `npm pack` or `npm publish` here would ship a tarball
// that depends on the unpublished workspace package @opta/protocol and cannot be installed.
// scripts/pack.mjs stages a self-contained copy (and runs no lifecycle scripts of this file).
console.error(
  "SDK_PACK_NEEDS_STAGING: a plain `npm pack` of @opta/daemon-client cannot be installed outside this repo " +
    "(it depends on the unpublished @opta/protocol). Run `npm run package -w @opta/daemon-client` instead: " +
    "it writes a self-contained opta-daemon-client-<version>.tgz.",
);
process.exit(1);
