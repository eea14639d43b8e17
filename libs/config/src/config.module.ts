import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfigService } from './app-config.service';
import { loadConfigMaps } from './config-maps';
import { SETTINGS } from './config.tokens';
import { Settings } from './settings';

@Global()
@Module({})
export class ConfigModule {
  /**
   * `settings` are loaded by the entry point before Nest starts (see loadSettings),
   * so a bad variable stops the process with one line rather than a Nest stack trace.
   */
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: SETTINGS, useValue: settings },
        {
          provide: AppConfigService,
          useFactory: () => new AppConfigService(settings, loadConfigMaps(settings.configDir)),
        },
      ],
      exports: [SETTINGS, AppConfigService],
    };
  }
}
