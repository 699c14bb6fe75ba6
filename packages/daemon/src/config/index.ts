export {
  ConfigError,
  getConfigValue,
  loadConfig,
  parseConfig,
  saveConfig,
  setConfigValue,
  unsetConfigValue,
} from "./config.js";
export { type OptaPaths, optaPaths, resolveOptaHome } from "./home.js";
export {
  readTrustedDirectories,
  type TrustedDirectories,
  type TrustedDirectory,
  trustDirectory,
  untrustDirectory,
  writableByOthers,
} from "./trusted.js";
