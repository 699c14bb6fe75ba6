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
