import { parseSettings } from '@app/config';
import {
  Registration,
  REGISTRATIONS_TABLE,
  RegistrationEntity,
  RegistrationRepository,
  RegistrationWrite,
} from '@app/database';
import { hashSecret } from '@app/security';
import { DataSource, EntityManager, Repository } from 'typeorm';
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
  /**
   * The repository as on a dialect without a one-statement upsert (SQL Server):
   * UPDATE, then INSERT on a miss, run on this database.
   */
  portable(): RegistrationRepository;
  find(tag: string): Promise<Registration | undefined>;
  /** The access token of row `id` as stored (sealed or plain). */
  storedToken(id: number): Promise<string>;
}

export async function registrationsOnDatabase(key?: Buffer): Promise<RegistrationsOnDatabase> {
  const db = await createTestDatabase();
  const settings = (k: Buffer | undefined) => ({ ...parseSettings(db.env), tokenEncryptionKey: k });
  const withKey = (k: Buffer | undefined) =>
    new RegistrationRepository(db.dataSource.getRepository(RegistrationEntity), settings(k));
  const portable = () => {
    const options = { ...db.dataSource.options, type: 'mssql' };
    const connection = Object.create(db.dataSource, { options: { value: options } }) as DataSource;
    const rows = new Repository(RegistrationEntity, new EntityManager(connection));
    return new RegistrationRepository(rows, settings(key));
  };
  const registrations = withKey(key);
  const keyOf = (tag: string) => ({ instanceUrl: INSTANCE_URL, appId: 'app', tag });
  return {
    db,
    registrations,
    withKey,
    portable,
    find: (tag) => registrations.findByKey(keyOf(tag)),
    storedToken: async (id) => {
      const [row] = await db.query<{ accessToken: string }>(
        `SELECT "accessToken" FROM ${REGISTRATIONS_TABLE} WHERE id = ?`,
        [id],
      );
      return row.accessToken;
    },
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
