import { ConfigError } from './config.error';
import { loadConfigMaps } from './config-maps';
import { parseSettings, readEnvironment } from './environment';
import { Settings } from './settings';

/**
 * Reads and validates the environment and both hjson files once, before Nest
 * starts. On a problem it prints one line naming the variable or file and exits 1.
 */
export function loadSettingsOrExit(): Settings {
  try {
    const settings = parseSettings(readEnvironment());
    loadConfigMaps(settings.configDir); // fail fast on a broken file, before any connection is opened
    return settings;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
