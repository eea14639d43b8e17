import { parseSettings } from '@app/config';
import {
  Registration,
  RegistrationEntity,
  RegistrationRepository,
  RegistrationWrite,
} from '@app/database';
import { hashSecret } from '@app/security';
import { createTestDatabase, TestDatabase } from '../support/test-database';

export const INSTANCE_URL = 'https://reads.example';

/** The repository under test on a database of its own, and a shorthand to register a tag. */
export interface RegistrationsOnDatabase {
  db: TestDatabase;
  registrations: RegistrationRepository;
  /** Registers (or renews) `tag` at `lastUpdate`, with `change` over the defaults; returns its row id. */
  register(tag: string, lastUpdate: number, change?: Partial<RegistrationWrite>): Promise<number>;
  /** A repository on the same database with another token key (or none). */
  withKey(key: Buffer | undefined): RegistrationRepository;
  find(tag: string): Promise<Registration | undefined>;
}

export async function registrationsOnDatabase(key?: Buffer): Promise<RegistrationsOnDatabase> {
  const db = await createTestDatabase();
  const withKey = (k: Buffer | undefined) =>
    new RegistrationRepository(db.dataSource.getRepository(RegistrationEntity), {
      ...parseSettings(db.env),
      tokenEncryptionKey: k,
    });
  const registrations = withKey(key);
  const keyOf = (tag: string) => ({ instanceUrl: INSTANCE_URL, appId: 'app', tag });
  return {
    db,
    registrations,
    withKey,
    find: (tag) => registrations.findByKey(keyOf(tag)),
    register: async (tag, lastUpdate, change = {}) => {
      await registrations.upsert({
        ...keyOf(tag),
        accessToken: `token-${tag}`,
        appSecretHash: hashSecret('secret'),
        callbackUrl: `https://cb.example/${tag}`,
        endpoint: null,
        lastUpdate,
        ...change,
      });
      return (await registrations.findByKey(keyOf(tag)))!.id;
    },
  };
}
