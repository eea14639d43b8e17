import * as path from 'node:path';
import { ConfigError } from './config.error';
import { ConfigMaps, loadConfigMaps } from './config-maps';
import { environmentFile, parseSettings, readEnvironment } from './environment';
import { Settings } from './settings';

export interface LoadOptions {
  /**
   * The command that runs one app alone (`npm run start:api`): it needs a
   * database server. Two such processes each starting an embedded PostgreSQL
   * on one folder would silently share it, so DB_HOST is required instead.
   */
  aloneAs?: string;
}

/** The samples' secrets all begin so ("change-this-secret", "change-this-password"). */
const PLACEHOLDER = /^change-this/i;

/** Production must not run on what the samples ship: their files, their placeholder secrets. */
function refuseSampleConfig(maps: ConfigMaps, env: Record<string, string | undefined>): void {
  for (const file of [maps.files.apps, maps.files.instances]) {
    if (file.endsWith('.sample')) {
      const own = file.slice(0, -'.sample'.length);
      throw new ConfigError(
        `${file}: NODE_ENV=production does not start on a sample file; copy it to ${path.basename(own)}, set your own secrets and restart`,
      );
    }
  }
  for (const [appId, app] of Object.entries(maps.apps)) {
    for (const key of ['secret', 'webhookSecret'] as const) {
      if (PLACEHOLDER.test(app[key] ?? ''))
        throw new ConfigError(`${maps.files.apps}: entry "${appId}": ${key} is the sample's placeholder; set one of your own`);
    }
  }
  const source = environmentFile(env) ?? 'the environment';
  for (const name of ['DB_PASS', 'POSTGRES_PASSWORD']) {
    if (PLACEHOLDER.test(env[name]?.trim() ?? ''))
      throw new ConfigError(`${source}: ${name} is the sample's placeholder; set a password of your own`);
  }
}

/**
 * Reads and validates the environment and both hjson files once, before Nest
 * starts. On a problem it prints one line naming the variable or file and exits 1.
 */
export function loadSettingsOrExit(options: LoadOptions = {}): Settings {
  try {
    const env = readEnvironment();
    const settings = parseSettings(env);
    if (options.aloneAs && settings.database.kind === 'embedded') {
      throw new ConfigError(
        `DB_HOST is not set: ${options.aloneAs} needs a database server; set DB_DIALECT, DB_HOST, DB_PORT, DB_NAME, DB_USER and DB_PASS (or use npm start, which runs both apps on an embedded PostgreSQL)`,
      );
    }
    const maps = loadConfigMaps(settings.configDir); // fail fast on a broken file, before any connection is opened
    if (env.NODE_ENV?.trim() === 'production') refuseSampleConfig(maps, env);
    return settings;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
