import { Logger } from '@nestjs/common';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AppConfigService } from './app-config.service';
import { ConfigMaps, loadConfigMaps } from './config-maps';
import { Settings } from './settings';

describe('AppConfigService', () => {
  let dir: string;
  let service: AppConfigService;

  const write = (name: string, value: object | string) =>
    fs.writeFileSync(
      path.join(dir, name),
      typeof value === 'string' ? value : JSON.stringify(value),
    );

  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msl-appconfig-'));
    write('app_map.hjson', {
      'app.one': { secret: 'one' },
      'app.two': { secret: 'two' },
      'app.three': { secret: 'three' },
    });
    write('instance_map.hjson', {
      'https://open.example': {},
      'https://solo.example': { appIdAllowed: 'app.one' },
      'https://pair.example': { appIdAllowed: ['app.one', 'app.two'] },
      '*': { appIdAllowed: ['app.three'], endpoint: 'user' },
    });
    service = new AppConfigService({ configDir: dir } as Settings, loadConfigMaps(dir));
  });

  afterEach(() => {
    service.onModuleDestroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('findApp', () => {
    it('finds configured apps only, never inherited names', () => {
      expect(service.findApp('app.one')).toEqual({ secret: 'one' });
      expect(service.findApp('app.nope')).toBeUndefined();
      expect(service.findApp('constructor')).toBeUndefined();
      expect(service.findApp('__proto__')).toBeUndefined();
      expect(service.findApp('toString')).toBeUndefined();
    });
  });

  describe('findInstance', () => {
    it('prefers the exact entry, matching case-insensitively', () => {
      expect(service.findInstance('https://solo.example')).toEqual({
        entry: { appIdAllowed: 'app.one' },
        exact: true,
      });
      expect(service.findInstance('HTTPS://Solo.Example')?.exact).toBe(true);
    });

    it('falls back to "*"', () => {
      expect(service.findInstance('https://elsewhere.example')).toEqual({
        entry: { appIdAllowed: ['app.three'], endpoint: 'user' },
        exact: false,
      });
    });

    it('finds nothing without "*"', () => {
      write('instance_map.hjson', { 'https://open.example': {} });
      expect(service.reload()).toBe(true);
      expect(service.findInstance('https://elsewhere.example')).toBeUndefined();
      expect(service.findInstance('constructor')).toBeUndefined();
    });
  });

  describe('instanceAccess', () => {
    it('allows every app on an exact entry without appIdAllowed', () => {
      expect(service.instanceAccess('https://open.example', 'app.two')).toEqual({
        allowed: true,
        entry: {},
        exact: true,
      });
    });

    it('applies appIdAllowed as a string', () => {
      expect(service.instanceAccess('https://solo.example', 'app.one').allowed).toBe(true);
      expect(service.instanceAccess('https://solo.example', 'app.two')).toEqual({
        allowed: false,
        reason: 'app is not allowed on this instance',
      });
    });

    it('applies appIdAllowed as a list', () => {
      expect(service.instanceAccess('https://pair.example', 'app.two').allowed).toBe(true);
      expect(service.instanceAccess('https://pair.example', 'app.three').allowed).toBe(false);
    });

    it('applies "*" with its own appIdAllowed to instances not listed', () => {
      expect(service.instanceAccess('https://elsewhere.example', 'app.three')).toMatchObject({
        allowed: true,
        exact: false,
      });
      expect(service.instanceAccess('https://elsewhere.example', 'app.one').allowed).toBe(false);
    });

    it('does not fall back to "*" when the exact entry refuses the app', () => {
      expect(service.instanceAccess('https://solo.example', 'app.three').allowed).toBe(false);
    });

    it('refuses an instance that is not configured when there is no "*"', () => {
      write('instance_map.hjson', { 'https://open.example': {} });
      service.reload();
      expect(service.instanceAccess('https://elsewhere.example', 'app.one')).toEqual({
        allowed: false,
        reason: 'instance is not configured in instance_map',
      });
    });
  });

  describe('reload', () => {
    it('takes a good edit and tells the listeners', () => {
      const seen: ConfigMaps[] = [];
      service.onReload((maps) => seen.push(maps));
      write('app_map.hjson', { 'app.one': { secret: 'rotated' }, 'app.new': { secret: 'new' } });
      expect(service.reload()).toBe(true);
      expect(service.findApp('app.one')?.secret).toBe('rotated');
      expect(service.findApp('app.new')).toBeDefined();
      expect(service.findApp('app.two')).toBeUndefined();
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBe(service.maps);
    });

    it('keeps the last good config when an edit is broken, and does not call the listeners', () => {
      const listener = jest.fn();
      service.onReload(listener);
      const before = service.maps;
      write('app_map.hjson', '{ app.one: { secret: "one" ');
      expect(service.reload()).toBe(false);
      expect(service.maps).toBe(before);
      expect(service.findApp('app.two')).toEqual({ secret: 'two' });
      write('instance_map.hjson', '{ "*": { endpoint: "public" } }');
      expect(service.reload()).toBe(false);
      expect(service.instanceAccess('https://solo.example', 'app.one').allowed).toBe(true);
      expect(listener).not.toHaveBeenCalled();
    });

    it('keeps going when a listener throws, and stops calling an unsubscribed one', () => {
      const failing = jest.fn(() => {
        throw new Error('listener bug');
      });
      const other = jest.fn();
      service.onReload(failing);
      const unsubscribe = service.onReload(other);
      expect(service.reload()).toBe(true);
      expect(other).toHaveBeenCalledTimes(1);
      unsubscribe();
      service.reload();
      expect(other).toHaveBeenCalledTimes(1);
      expect(failing).toHaveBeenCalledTimes(2);
    });

    it('reloads on SIGHUP while the module is running', () => {
      service.onModuleInit();
      write('app_map.hjson', { 'app.hup': { secret: 'h' } });
      process.emit('SIGHUP', 'SIGHUP');
      expect(service.findApp('app.hup')).toEqual({ secret: 'h' });
      service.onModuleDestroy();
      write('app_map.hjson', { 'app.after': { secret: 'a' } });
      const otherListeners = process.listenerCount('SIGHUP');
      if (otherListeners === 0) process.once('SIGHUP', () => undefined); // the default action would end jest
      process.emit('SIGHUP', 'SIGHUP');
      expect(service.findApp('app.after')).toBeUndefined();
    });
  });
});
