import 'reflect-metadata';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as Hjson from 'hjson';
import { plainToInstance } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Max,
  Min,
  ValidateBy,
  ValidationError,
  validateSync,
} from 'class-validator';
import { parseCallbackPrefix } from '@app/security';
import { ConfigError } from './config.error';

export const STREAM_ENDPOINTS = ['user', 'user:notification', 'direct'] as const;
export type StreamEndpoint = (typeof STREAM_ENDPOINTS)[number];

function IsStringOrStringList(): PropertyDecorator {
  return ValidateBy({
    name: 'isStringOrStringList',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'string' ||
        (Array.isArray(value) && value.every((v) => typeof v === 'string')),
      defaultMessage: () => '$property must be a string or a list of strings',
    },
  });
}

/** Every prefix must be an http(s) base that the segment-wise comparison can use. */
function IsCallbackPrefixList(): PropertyDecorator {
  return ValidateBy({
    name: 'isCallbackPrefixList',
    validator: {
      validate: (value: unknown) => {
        const list = Array.isArray(value) ? (value as unknown[]) : [value];
        return list.every((v) => typeof v === 'string' && parseCallbackPrefix(v).ok);
      },
      defaultMessage: (args) => {
        const list = Array.isArray(args?.value) ? (args.value as unknown[]) : [args?.value];
        for (const v of list) {
          if (typeof v !== 'string') return '$property must be a string or a list of strings';
          const parsed = parseCallbackPrefix(v);
          if (!parsed.ok) return `$property "${v}" ${parsed.reason}`;
        }
        return '$property is invalid';
      },
    },
  });
}

function IsHttpUrl(): PropertyDecorator {
  return ValidateBy({
    name: 'isHttpUrl',
    validator: {
      validate: (value: unknown) => {
        if (typeof value !== 'string') return false;
        try {
          const url = new URL(value);
          return url.protocol === 'http:' || url.protocol === 'https:';
        } catch {
          return false;
        }
      },
      defaultMessage: () => '$property must be an http:// or https:// URL',
    },
  });
}

/** How a registration's events reach this server: a WebSocket per user, or Web Push from the instance. */
export const TRANSPORTS = ['stream', 'webpush'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** Events an app may receive from its users' streams (`events` in app_map). */
export const RELAYABLE_EVENTS = ['notification', 'conversation', 'notifications_merged'] as const;
export type RelayableEvent = (typeof RELAYABLE_EVENTS)[number];
/** What an app without `events` receives: what the original program relayed. */
export const DEFAULT_APP_EVENTS: readonly RelayableEvent[] = ['notification', 'conversation'];

function IsRelayableEventList(): PropertyDecorator {
  return ValidateBy({
    name: 'isRelayableEventList',
    validator: {
      validate: (value: unknown) =>
        Array.isArray(value) &&
        value.every((v) => typeof v === 'string' && (RELAYABLE_EVENTS as readonly string[]).includes(v)),
      defaultMessage: (args) => {
        const value = (args as { value?: unknown } | undefined)?.value;
        if (!Array.isArray(value)) return `$property must be a list of event names (${RELAYABLE_EVENTS.join(', ')})`;
        const unknown: unknown = (value as unknown[]).find((v) => typeof v !== 'string' || !(RELAYABLE_EVENTS as readonly string[]).includes(v));
        return `$property: unknown event ${JSON.stringify(unknown)} (known: ${RELAYABLE_EVENTS.join(', ')})`;
      },
    },
  });
}

/** One app in app_map.hjson. */
export class AppEntry {
  @IsString()
  @IsNotEmpty()
  secret: string;

  /** A callback URL must lie under one of these (scheme, host, port, whole path segments); listing a private address allows it. */
  @IsOptional()
  @IsCallbackPrefixList()
  @IsStringOrStringList()
  callbackUrlPrefix?: string | string[];

  /** Key for Standard Webhooks signatures; defaults to `secret`. */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  webhookSecret?: string;

  /** Which events are relayed to this app's callbacks; absent: DEFAULT_APP_EVENTS. */
  @IsOptional()
  @IsRelayableEventList()
  events?: RelayableEvent[];

  /** Send `registration.removed` to the callback when a registration ends other than by /unregister. */
  @IsOptional()
  @IsBoolean()
  lifecycleEvents?: boolean;
}

/** One instance (or "*") in instance_map.hjson. */
export class InstanceEntry {
  @IsOptional()
  @IsHttpUrl()
  replaceUrl?: string;

  @IsOptional()
  @IsHttpUrl()
  replaceUrlWeb?: string;

  @IsOptional()
  @IsIn(STREAM_ENDPOINTS)
  endpoint?: StreamEndpoint;

  @IsOptional()
  @IsStringOrStringList()
  appIdAllowed?: string | string[];

  @IsOptional()
  @IsInt()
  @Min(0)
  maxConnections?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000)
  maxOpening?: number;

  @IsOptional()
  @IsBoolean()
  allowPrivateAddress?: boolean;

  /** Transport of this instance's registrations that name none (`stream` when absent). */
  @IsOptional()
  @IsIn(TRANSPORTS)
  transport?: Transport;
}

export interface AppMap {
  readonly [appId: string]: AppEntry;
}
export interface InstanceMap {
  readonly [instanceUrl: string]: InstanceEntry;
}

export interface ConfigMaps {
  apps: AppMap;
  instances: InstanceMap;
  /** Files that were read; a `.sample` here means the operator has not written their own yet. */
  files: { apps: string; instances: string };
  warnings: string[];
}

const APP_KEYS = ['secret', 'callbackUrlPrefix', 'webhookSecret', 'events', 'lifecycleEvents'];
const INSTANCE_KEYS = [
  'replaceUrl',
  'replaceUrlWeb',
  'endpoint',
  'appIdAllowed',
  'maxConnections',
  'maxOpening',
  'allowPrivateAddress',
  'transport',
];

function firstConstraint(errors: ValidationError[]): { property: string; message: string } {
  const error = errors[0];
  const message = Object.values(error.constraints ?? {})[0] ?? `${error.property} is invalid`;
  return { property: error.property, message };
}

function parseFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let parsed: unknown;
  try {
    parsed = Hjson.parse(text);
  } catch (error) {
    // hjson reports "... at line L,C >>> excerpt"; the excerpt may hold a secret, so it is cut off
    const reason = (error as Error).message.split('>>>')[0].replace(/\s+/g, ' ').trim();
    throw new ConfigError(`${file}: ${reason}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`${file}: must be an object of entries`);
  }
  return parsed as Record<string, unknown>;
}

function parseEntries<T extends object>(
  file: string,
  cls: new () => T,
  knownKeys: string[],
  keyRule: (key: string) => string | undefined,
  warnings: string[],
): Record<string, T> {
  const raw = parseFile(file);
  const entries: Record<string, T> = Object.create(null) as Record<string, T>;
  for (const [key, value] of Object.entries(raw)) {
    const keyProblem = keyRule(key);
    if (keyProblem) throw new ConfigError(`${file}: entry "${key}" ${keyProblem}`);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError(`${file}: entry "${key}" must be an object`);
    }
    for (const property of Object.keys(value)) {
      if (!knownKeys.includes(property)) warnings.push(`${file}: entry "${key}" has unknown key "${property}" (ignored)`);
    }
    const entry = plainToInstance(cls, value);
    const errors = validateSync(entry, { forbidUnknownValues: false });
    if (errors.length > 0) {
      const { message } = firstConstraint(errors);
      throw new ConfigError(`${file}: entry "${key}": ${message}`);
    }
    entries[key] = Object.freeze(entry);
  }
  return entries;
}

function instanceKeyRule(key: string): string | undefined {
  if (key === '*') return undefined;
  if (key !== key.toLowerCase()) return 'must be lower-case';
  try {
    const url = new URL(key);
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== key) {
      return 'must be an http(s) origin such as "https://mastodon.example" or "*"';
    }
  } catch {
    return 'must be an http(s) origin such as "https://mastodon.example" or "*"';
  }
  return undefined;
}

/** The operator's file, or its `.sample` when the operator has not written one yet. */
function chooseFile(dir: string, name: string): string {
  const own = path.join(dir, name);
  if (fs.existsSync(own)) return own;
  const sample = `${own}.sample`;
  if (fs.existsSync(sample)) return sample;
  throw new ConfigError(`${own}: file not found (copy ${name}.sample and edit it)`);
}

/** Reads and validates app_map.hjson and instance_map.hjson from `dir`. */
export function loadConfigMaps(dir: string): ConfigMaps {
  const warnings: string[] = [];
  const appsFile = chooseFile(dir, 'app_map.hjson');
  const instancesFile = chooseFile(dir, 'instance_map.hjson');
  const apps = parseEntries(appsFile, AppEntry, APP_KEYS, () => undefined, warnings);
  const instances = parseEntries(instancesFile, InstanceEntry, INSTANCE_KEYS, instanceKeyRule, warnings);
  for (const file of [appsFile, instancesFile]) {
    if (file.endsWith('.sample')) {
      warnings.push(
        `${file.slice(0, -'.sample'.length)} is missing: using ${path.basename(file)}; copy it to ${path.basename(file, '.sample')} and set your own secrets before production use`,
      );
    }
  }
  return { apps, instances, files: { apps: appsFile, instances: instancesFile }, warnings };
}
