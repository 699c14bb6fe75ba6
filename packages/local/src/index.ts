/**
 * @opta/local: what the opta CLI and the daemon both read from this machine — the Opta home and
 * its paths, config.yaml (schema from @opta/protocol, atomic writes), the trusted directories and
 * the key vault. Both import it, so neither reaches into the other and both always agree on where
 * things are (the same vault backend included).
 */
export { writeFileAtomic } from "./atomic-file.js";
export {
  ConfigError,
  getConfigValue,
  loadConfig,
  parseConfig,
  saveConfig,
  setConfigValue,
  unsetConfigValue,
} from "./config-file.js";
export { type OptaPaths, optaPaths, resolveOptaHome } from "./home.js";
export {
  readTrustedDirectories,
  type TrustedDirectories,
  type TrustedDirectory,
  trustDirectory,
  untrustDirectory,
  writableByOthers,
} from "./trusted.js";
export {
  FileVault,
  isValidProviderName,
  KEYCHAIN_SERVICE,
  type KeychainProbe,
  KeychainVault,
  type Keyring,
  maskSecret,
  type OpenVaultOptions,
  openVault,
  probeKeychain,
  SECRET_DOTS,
  VAULT_FILE_NAME,
  type Vault,
  VaultError,
} from "./vault/index.js";
export * from "./vault-sync/index.js";
