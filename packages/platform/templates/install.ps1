# Installs Opta (the opta command, its daemon, Opta LMX, the platform server and Code Desktop)
# from the Opta platform at @OPTA_INIT_ORIGIN@, the server that generated this script.
#
#   irm @OPTA_INIT_ORIGIN@/install.ps1 | iex
#
# The same steps as install.sh: check Node.js >= 20.19 and npm; download the release's manifest
# and each package; check every package's sha256 against the manifest (nothing is installed unless
# all match); npm-install them into $env:OPTA_PREFIX (default $HOME\.opta\npm); write
# OPTA_PREFIX\bin\opta.cmd; run `opta doctor`. npm's own settings apply to third-party packages.
$ErrorActionPreference = 'Stop'
$OptaInitOrigin = '@OPTA_INIT_ORIGIN@'
$Prefix = if ($env:OPTA_PREFIX) { $env:OPTA_PREFIX } else { Join-Path $HOME '.opta\npm' }
$NodeHelp = 'Get Node.js 22 LTS (or 20.19+) from https://nodejs.org/en/download, or: winget install OpenJS.NodeJS.LTS (or nvm-windows: nvm install 22). Then run this installer again.'

# Every refusal: one line with a code, one saying what to do. It throws rather than exits: under
# `irm | iex` an exit would close the user's PowerShell window.
function Stop-Install([string]$Code, [string]$Message, [string]$Help) {
  if ($Help) { Write-Host "  $Help" }
  throw "error: $Message [$Code]"
}

# --- Node.js and npm ---
if (-not (Get-Command node -ErrorAction SilentlyContinue)) {
  Stop-Install 'INIT_NODE_MISSING' "Node.js is not installed (no 'node' on PATH); Opta needs Node.js 20.19 or newer." $NodeHelp
}
$NodeVersion = (& node -p 'process.versions.node').Trim()
$Parts = $NodeVersion.Split('.')
$Major = [int]$Parts[0]
$Minor = [int]$Parts[1]
if ($Major -lt 20 -or ($Major -eq 20 -and $Minor -lt 19)) {
  Stop-Install 'INIT_NODE_TOO_OLD' "Opta needs Node.js 20.19 or newer; this is Node.js $NodeVersion." $NodeHelp
}
if (-not (Get-Command npm -ErrorAction SilentlyContinue)) {
  Stop-Install 'INIT_NPM_MISSING' 'npm is not on PATH (it comes with Node.js).' $NodeHelp
}

Write-Host "Opta installer: from $OptaInitOrigin into $Prefix (Node.js $NodeVersion)"
$Work = Join-Path ([System.IO.Path]::GetTempPath()) ("opta-install-" + [guid]::NewGuid())
New-Item -ItemType Directory -Path $Work | Out-Null
try {
  try {
    $Manifest = Invoke-RestMethod -Uri "$OptaInitOrigin/packages/manifest.json" -UseBasicParsing
  } catch {
    Stop-Install 'INIT_DOWNLOAD_FAILED' "could not download $OptaInitOrigin/packages/manifest.json." "Check that the platform is running and serves a release (on its machine: 'npm run release' in the Opta repository)."
  }
  if ($Manifest.schema -ne 1 -or -not $Manifest.packages) {
    Stop-Install 'INIT_MANIFEST_INVALID' "the platform's manifest.json is not a release manifest this installer understands." "Rebuild the release on the platform's machine ('npm run release')."
  }

  # --- download and verify every package before installing any ---
  $Dependencies = [ordered]@{}
  foreach ($Entry in $Manifest.packages) {
    if ($Entry.file -notmatch '^[a-z0-9][a-z0-9._-]*\.tgz$' -or $Entry.sha256 -notmatch '^[0-9a-f]{64}$' -or $Entry.name -notmatch '^@opta/[a-z0-9-]+$') {
      Stop-Install 'INIT_MANIFEST_INVALID' "the manifest names a package this installer refuses ($($Entry.file))." "Rebuild the release on the platform's machine ('npm run release')."
    }
    $Target = Join-Path $Work $Entry.file
    try {
      Invoke-WebRequest -Uri "$OptaInitOrigin/packages/$($Entry.file)" -OutFile $Target -UseBasicParsing
    } catch {
      Stop-Install 'INIT_DOWNLOAD_FAILED' "could not download $OptaInitOrigin/packages/$($Entry.file) ($($Entry.name))." 'Check that the platform is running, then run this installer again.'
    }
    $Actual = (Get-FileHash -Algorithm SHA256 -Path $Target).Hash.ToLowerInvariant()
    if ($Actual -ne $Entry.sha256) {
      Stop-Install 'INIT_CHECKSUM_MISMATCH' "$($Entry.file) ($($Entry.name)) does not match the manifest: sha256 $Actual, expected $($Entry.sha256). Nothing was installed." "The download was altered or the release changed while it ran; run this installer again, and if it repeats, tell the platform's operator."
    }
    Write-Host "  verified $($Entry.file)"
    $Dependencies[$Entry.name] = "file:packages/$($Entry.file)"
  }

  # --- install ---
  New-Item -ItemType Directory -Force -Path (Join-Path $Prefix 'packages'), (Join-Path $Prefix 'bin') | Out-Null
  Remove-Item -Force -ErrorAction SilentlyContinue (Join-Path $Prefix 'packages\*.tgz')
  Copy-Item (Join-Path $Work '*.tgz') (Join-Path $Prefix 'packages')
  # A package.json naming every tarball: npm installs them together, so each @opta/* dependency is
  # met by its sibling tarball and never looked up on the registry.
  $PackageJson = [ordered]@{ name = 'opta-install'; private = $true; description = "Opta, installed by install.ps1 from $OptaInitOrigin"; dependencies = $Dependencies }
  $PackageJson | ConvertTo-Json -Depth 4 | Set-Content -Encoding UTF8 -Path (Join-Path $Prefix 'package.json')
  # An earlier install's lock and its @opta packages would make npm keep the earlier release (same
  # names and versions, "up to date"); the third-party packages stay, so a re-install is quick.
  Remove-Item -Recurse -Force -ErrorAction SilentlyContinue (Join-Path $Prefix 'package-lock.json'), (Join-Path $Prefix 'node_modules\@opta')
  Write-Host "Installing Opta $($Manifest.version) and its dependencies with npm (a minute or two the first time)..."
  Push-Location $Prefix
  try {
    & npm install --omit=dev --no-audit --no-fund --loglevel=error
    if ($LASTEXITCODE -ne 0) {
      Stop-Install 'INIT_NPM_FAILED' "npm could not install the packages into $Prefix." "Read npm's message above; npm needs its registry for third-party packages."
    }
  } finally {
    Pop-Location
  }
  $Opta = Join-Path $Prefix 'bin\opta.cmd'
  Set-Content -Encoding ASCII -Path $Opta -Value "@echo off`r`nnode `"%~dp0..\node_modules\@opta\cli\bin\opta.js`" %*"
  $Installed = (& $Opta --version)
  if ($LASTEXITCODE -ne 0) { Stop-Install 'INIT_OPTA_BROKEN' 'the installed opta does not run.' "Run '$Opta --version' to see why." }
  Write-Host "Installed opta $Installed at $Opta"
} finally {
  Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $Work
}

# --- PATH ---
$Bin = Join-Path $Prefix 'bin'
if (-not (($env:PATH -split ';') -contains $Bin)) {
  Write-Host ''
  Write-Host 'Add opta to your PATH (then open a new terminal):'
  Write-Host "  [Environment]::SetEnvironmentVariable('PATH', '$Bin;' + [Environment]::GetEnvironmentVariable('PATH', 'User'), 'User')"
}

# --- first run ---
Write-Host ''
Write-Host 'opta doctor:'
& $Opta doctor
if ($LASTEXITCODE -eq 0) {
  Write-Host ''
  Write-Host "Opta is ready. Next: 'opta' in a project folder, or 'opta app' for Code Desktop."
} else {
  Write-Host ''
  Write-Host 'opta doctor lists what is still to set up (a failed check does not undo the install).'
  Write-Host "The first-run checklist: $OptaInitOrigin/#first-run"
}
