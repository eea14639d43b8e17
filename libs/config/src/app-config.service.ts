import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AppEntry, ConfigMaps, InstanceEntry, loadConfigMaps } from './config-maps';
import { Settings } from './settings';

/**
 * Start-up warnings about the config files already printed by this process:
 * the api and the listener of `npm start` read the same files, and an
 * operator needs each warning once. A reload prints its warnings again.
 */
const announcedAtStart = new Set<string>();

export type InstanceAccess =
  | { allowed: true; entry: InstanceEntry; exact: boolean }
  | { allowed: false; reason: string };

/**
 * Typed access to the validated settings (fixed for the process) and to the
 * app and instance maps (replaced as a whole on SIGHUP when the new files are good).
 */
@Injectable()
export class AppConfigService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(AppConfigService.name);
  private current: ConfigMaps;
  private readonly reloadListeners = new Set<(maps: ConfigMaps) => void>();
  private readonly onSighup = () => this.reload();

  constructor(
    readonly settings: Settings,
    maps: ConfigMaps,
  ) {
    this.current = maps;
  }

  onModuleInit(): void {
    for (const warning of this.current.warnings) {
      if (announcedAtStart.has(warning)) continue;
      announcedAtStart.add(warning);
      this.logger.warn(warning);
    }
    process.on('SIGHUP', this.onSighup);
  }

  onModuleDestroy(): void {
    process.off('SIGHUP', this.onSighup);
  }

  get maps(): ConfigMaps {
    return this.current;
  }

  findApp(appId: string): AppEntry | undefined {
    return Object.prototype.hasOwnProperty.call(this.current.apps, appId)
      ? this.current.apps[appId]
      : undefined;
  }

  /** The exact lower-cased entry, else "*". */
  findInstance(instanceUrl: string): { entry: InstanceEntry; exact: boolean } | undefined {
    const key = instanceUrl.toLowerCase();
    const instances = this.current.instances;
    if (Object.prototype.hasOwnProperty.call(instances, key)) return { entry: instances[key], exact: true };
    if (Object.prototype.hasOwnProperty.call(instances, '*')) return { entry: instances['*'], exact: false };
    return undefined;
  }

  /** Whether `appId` may use `instanceUrl` under the current instance_map. */
  instanceAccess(instanceUrl: string, appId: string): InstanceAccess {
    const found = this.findInstance(instanceUrl);
    if (!found) return { allowed: false, reason: 'instance is not configured in instance_map' };
    const allowed = found.entry.appIdAllowed;
    if (allowed !== undefined) {
      const list = Array.isArray(allowed) ? allowed : [allowed];
      if (!list.includes(appId)) return { allowed: false, reason: 'app is not allowed on this instance' };
    }
    return { allowed: true, ...found };
  }

  /** Called with the new maps after every successful reload; returns an unsubscribe function. */
  onReload(listener: (maps: ConfigMaps) => void): () => void {
    this.reloadListeners.add(listener);
    return () => this.reloadListeners.delete(listener);
  }

  /** Re-reads both files; a broken file keeps the last good maps. Returns whether it took effect. */
  reload(): boolean {
    let next: ConfigMaps;
    try {
      next = loadConfigMaps(this.settings.configDir);
    } catch (error) {
      this.logger.error(`config reload failed, keeping the previous config: ${(error as Error).message}`);
      return false;
    }
    this.current = next;
    for (const warning of next.warnings) this.logger.warn(warning);
    this.logger.log(
      `config reloaded: ${Object.keys(next.apps).length} apps, ${Object.keys(next.instances).length} instances`,
    );
    for (const listener of this.reloadListeners) {
      try {
        listener(next);
      } catch (error) {
        this.logger.error(`config reload listener failed: ${(error as Error).message}`);
      }
    }
    return true;
  }
}
