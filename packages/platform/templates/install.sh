#!/bin/sh
# Installs Opta (the opta command, its daemon, Opta LMX, the platform server and Code Desktop)
# from the Opta platform at @OPTA_INIT_ORIGIN@, the server that generated this script.
#
#   curl -fsSL @OPTA_INIT_ORIGIN@/install.sh | sh
#
# Steps: check Node.js >= 20.19 and npm; download the release's manifest and each package;
# check every package's sha256 against the manifest (nothing is installed unless all match);
# npm-install them into OPTA_PREFIX (default ~/.opta/npm); link OPTA_PREFIX/bin/opta; run
# `opta doctor`. Third-party dependencies come from the npm registry npm is set up for (npm's own
# settings apply: npm_config_registry, npm_config_prefer_offline=true, npm_config_cache, …).
# POSIX sh: runs under dash, bash, busybox ash and macOS's sh.
set -eu

OPTA_INIT_ORIGIN='@OPTA_INIT_ORIGIN@'
PREFIX="${OPTA_PREFIX:-$HOME/.opta/npm}"
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19

say() { printf '%s\n' "$*"; }
# Every refusal: one line with a code, one saying what to do, exit 1.
die() {
  code="$1"
  shift
  printf 'error: %s [%s]\n' "$1" "$code" >&2
  if [ "$#" -gt 1 ]; then printf '  %s\n' "$2" >&2; fi
  exit 1
}

# --- Node.js and npm -------------------------------------------------------------------------
NODE_HELP='Get Node.js 22 LTS (or 20.19+) from https://nodejs.org/en/download, or with a version manager (nvm install 22; fnm install 22), Homebrew on macOS (brew install node@22) or your distribution (Debian/Ubuntu: NodeSource packages). Then run this installer again.'
command -v node >/dev/null 2>&1 || die INIT_NODE_MISSING "Node.js is not installed (no 'node' on PATH); Opta needs Node.js ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} or newer." "$NODE_HELP"
node_version=$(node -p 'process.versions.node' 2>/dev/null) || die INIT_NODE_MISSING "'node' is on PATH but does not run." "$NODE_HELP"
node_major=${node_version%%.*}
node_rest=${node_version#*.}
node_minor=${node_rest%%.*}
case "$node_major$node_minor" in
  *[!0-9]*|'') die INIT_NODE_UNKNOWN "could not read the Node.js version ('$node_version')." "$NODE_HELP" ;;
esac
if [ "$node_major" -lt "$NODE_MIN_MAJOR" ] || { [ "$node_major" -eq "$NODE_MIN_MAJOR" ] && [ "$node_minor" -lt "$NODE_MIN_MINOR" ]; }; then
  die INIT_NODE_TOO_OLD "Opta needs Node.js ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} or newer; this is Node.js $node_version." "$NODE_HELP"
fi
command -v npm >/dev/null 2>&1 || die INIT_NPM_MISSING "npm is not on PATH (it comes with Node.js)." "$NODE_HELP"

# --- downloads ---------------------------------------------------------------------------------
if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  die INIT_NO_DOWNLOADER "neither curl nor wget is installed." "Install curl (apt install curl, brew install curl) and run this installer again."
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/opta-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

say "Opta installer: from $OPTA_INIT_ORIGIN into $PREFIX (Node.js $node_version)"
fetch "$OPTA_INIT_ORIGIN/packages/manifest.json" "$work/manifest.json" \
  || die INIT_DOWNLOAD_FAILED "could not download $OPTA_INIT_ORIGIN/packages/manifest.json." "Check that the platform is running and serves a release (on its machine: 'npm run release' in the Opta repository), then run this installer again."

# The manifest is JSON: node reads it (it is here anyway), and refuses file names that could
# leave the download folder. One line per package: FILE SHA256 NAME.
node -e '
const manifest = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
if (manifest.schema !== 1 || !Array.isArray(manifest.packages) || manifest.packages.length === 0) process.exit(3);
for (const entry of manifest.packages) {
  if (!/^[a-z0-9][a-z0-9._-]*\.tgz$/.test(entry.file) || !/^[0-9a-f]{64}$/.test(entry.sha256) || !/^@opta\/[a-z0-9-]+$/.test(entry.name)) process.exit(3);
  console.log(entry.file + " " + entry.sha256 + " " + entry.name);
}' "$work/manifest.json" >"$work/list" \
  || die INIT_MANIFEST_INVALID "the platform's manifest.json is not a release manifest this installer understands." "Rebuild the release on the platform's machine ('npm run release') and run this installer again."
release_version=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version' "$work/manifest.json")

# --- download and verify every package before installing any ----------------------------------
mkdir -p "$work/packages"
while read -r file sha name; do
  fetch "$OPTA_INIT_ORIGIN/packages/$file" "$work/packages/$file" \
    || die INIT_DOWNLOAD_FAILED "could not download $OPTA_INIT_ORIGIN/packages/$file ($name)." "Check that the platform is running, then run this installer again."
  actual=$(node -e 'process.stdout.write(require("crypto").createHash("sha256").update(require("fs").readFileSync(process.argv[1])).digest("hex"))' "$work/packages/$file")
  if [ "$actual" != "$sha" ]; then
    die INIT_CHECKSUM_MISMATCH "$file ($name) does not match the manifest: sha256 $actual, expected $sha. Nothing was installed." "The download was altered or the release changed while it ran; run this installer again, and if it repeats, tell the platform's operator."
  fi
  say "  verified $file"
done <"$work/list"

# --- install ------------------------------------------------------------------------------------
mkdir -p "$PREFIX/packages" "$PREFIX/bin"
rm -f "$PREFIX"/packages/*.tgz
cp "$work"/packages/*.tgz "$PREFIX/packages/"
# A package.json naming every tarball: npm installs them together, so each @opta/* dependency is
# met by its sibling tarball and never looked up on the registry.
node -e '
const fs = require("fs");
const dependencies = {};
for (const line of fs.readFileSync(process.argv[1], "utf8").trim().split("\n")) {
  const [file, , name] = line.split(" ");
  dependencies[name] = "file:packages/" + file;
}
const manifest = { name: "opta-install", private: true, description: "Opta, installed by install.sh from " + process.argv[3], dependencies };
fs.writeFileSync(process.argv[2] + "/package.json", JSON.stringify(manifest, null, 2) + "\n");' "$work/list" "$PREFIX" "$OPTA_INIT_ORIGIN"
# An earlier install's lock and its @opta packages would make npm keep the earlier release (same
# names and versions, "up to date"); the third-party packages stay, so a re-install is quick.
rm -rf "$PREFIX/package-lock.json" "$PREFIX/node_modules/@opta"
say "Installing Opta $release_version and its dependencies with npm (a minute or two the first time)…"
(cd "$PREFIX" && npm install --omit=dev --no-audit --no-fund --loglevel=error </dev/null) \
  || die INIT_NPM_FAILED "npm could not install the packages into $PREFIX." "Read npm's message above, then run this installer again; npm needs its registry for third-party packages (or a filled cache with npm_config_prefer_offline=true)."
ln -sf ../node_modules/@opta/cli/bin/opta.js "$PREFIX/bin/opta"
installed=$("$PREFIX/bin/opta" --version) || die INIT_OPTA_BROKEN "the installed opta does not run." "Run '$PREFIX/bin/opta --version' to see why."
say "Installed opta $installed at $PREFIX/bin/opta"

# --- PATH -----------------------------------------------------------------------------------------
case ":$PATH:" in
  *":$PREFIX/bin:"*) ;;
  *)
    say ""
    say "Add opta to your PATH: put this line in ~/.profile (or ~/.bashrc, ~/.zshrc), then open a new terminal:"
    say "  export PATH=\"$PREFIX/bin:\$PATH\""
    ;;
esac

# --- first run ------------------------------------------------------------------------------------
say ""
say "opta doctor:"
# stdin is not the terminal under `curl | sh` (it is this script): doctor gets /dev/null.
if "$PREFIX/bin/opta" doctor </dev/null; then
  say ""
  say "Opta is ready. Next: 'opta' in a project folder, or 'opta app' for Code Desktop."
else
  say ""
  say "opta doctor lists what is still to set up (a failed check does not undo the install)."
  say "The first-run checklist: $OPTA_INIT_ORIGIN/#first-run"
fi
