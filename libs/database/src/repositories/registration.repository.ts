import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, In, IsNull, LessThan, MoreThan, Not, QueryFailedError, Repository } from 'typeorm';
import { SETTINGS, Settings, STREAM_ENDPOINTS, StreamEndpoint, Transport, TRANSPORTS } from '@app/config';
import { TokenCipher } from '@app/security';
import { RegistrationEntity } from '../entities/registration.entity';
import { Registration, RegistrationKey, RegistrationWrite } from '../registration';
import { batches } from './batches';
import { executeNamed, NamedResult, retryingDeadlocks } from './deadlock-retry';

/** What a Registration is made of: createdAt and updatedAt are left unread (their date parsing was a third of a bulk read). */
const REGISTRATION_COLUMNS = {
  id: true,
  lastUpdate: true,
  instanceUrl: true,
  accessToken: true,
  appId: true,
  appSecret: true,
  callbackUrl: true,
  tag: true,
  endpoint: true,
  transport: true,
  lastNotificationId: true,
  state: true,
} as const;

/** A registration's catch-up cursor to store (null: take a new floor at the next open). */
export interface CursorWrite {
  id: number;
  cursor: string | null;
}

/** Rows per cursor UPDATE: three parameters each, within SQL Server's 2,100 per statement. */
const CURSOR_BATCH = 500;

/** A row's id and renewal stamp: enough to tell whether it changed since it was last read. */
export interface RegistrationStamp {
  id: number;
  lastUpdate: number;
}

interface UpsertStatements {
  update: string;
  insert: string;
  /** One-statement upsert where the dialect has one (PostgreSQL, MySQL/MariaDB). */
  native?: { sql: string; created: (result: NamedResult) => boolean };
}

/** The upsert's statements, with named parameters and identifiers quoted for the dialect. */
function upsertStatements(rows: Repository<RegistrationEntity>): UpsertStatements {
  const connection = rows.manager.connection;
  const q = (name: string) => connection.driver.escape(name);
  const table = q(rows.metadata.tableName);
  const key = ['instanceUrl', 'appId', 'tag'];
  const written = ['lastUpdate', 'accessToken', 'appSecret', 'callbackUrl', 'endpoint', 'transport', 'updatedAt'];
  const inserted = [...key, ...written, 'createdAt'];
  const insert = `INSERT INTO ${table} (${inserted.map(q).join(', ')}) VALUES (${inserted.map((c) => `:${c}`).join(', ')})`;
  // a new endpoint may mean another id space (direct: status ids): the catch-up takes a new floor;
  // so does a removed registration registered again: it comes back as new (the listener opens it
  // afresh). removalReason and state are assigned last: MySQL assigns left to right, and the
  // cursor needs the old state
  const cursor = q('lastNotificationId');
  const endpoint = q('endpoint');
  const notRemoved = (state: string) => `(${state} IS NULL OR ${state} <> 'removed')`;
  const revive = (state: string) =>
    `${q('removalReason')} = NULL, ${q('state')} = CASE WHEN ${state} = 'removed' THEN NULL ELSE ${state} END`;
  const statements: UpsertStatements = {
    update:
      `UPDATE ${table} SET ${cursor} = CASE WHEN (${endpoint} = :endpoint OR (${endpoint} IS NULL AND :endpointIsNull = 1)) AND ${notRemoved(q('state'))} THEN ${cursor} END, ` +
      `${written.map((c) => `${q(c)} = :${c}`).join(', ')}, ${revive(q('state'))} ` +
      `WHERE ${key.map((c) => `${q(c)} = :${c}`).join(' AND ')}`,
    insert,
  };
  const type = connection.options.type;
  // Stryker disable next-line BlockStatement: PostgreSQL then takes the portable UPDATE-then-INSERT, which keeps the same promises (tested), a statement more
  if (type === 'postgres') {
    statements.native = {
      // xmax is 0 only on a freshly inserted row version
      sql:
        `${insert} ON CONFLICT (${key.map(q).join(', ')}) DO UPDATE SET ` +
        `${cursor} = CASE WHEN ${table}.${endpoint} IS NOT DISTINCT FROM EXCLUDED.${endpoint} AND ${notRemoved(`${table}.${q('state')}`)} THEN ${table}.${cursor} END, ` +
        `${written.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}, ${revive(`${table}.${q('state')}`)} RETURNING (xmax = 0) AS ${q('created')}`,
      // Stryker disable next-line OptionalChaining: ON CONFLICT DO UPDATE without a condition returns its row, inserted or updated
      created: (result) => (result.records as { created: boolean }[])[0]?.created === true,
    };
  } else if (type === 'mysql' || type === 'mariadb') {
    statements.native = {
      // MySQL counts 1 affected row for an insert, 2 for an update, and (the driver asking for
      // found rows) 1 for a row left as it was, which alone inserted no id; it assigns left to
      // right, so the cursor is judged before the endpoint and the state are overwritten
      sql:
        `${insert} ON DUPLICATE KEY UPDATE ${cursor} = IF(${endpoint} <=> VALUES(${endpoint}) AND ${notRemoved(q('state'))}, ${cursor}, NULL), ` +
        `${written.map((c) => `${q(c)} = VALUES(${q(c)})`).join(', ')}, ${revive(q('state'))}`,
      created: (result) => result.affected === 1 && (result.insertId ?? 0) > 0,
    };
  }
  return statements;
}

/** Named queries on `stream_listener_registrations`; tokens are sealed and opened here and nowhere else. */
@Injectable()
export class RegistrationRepository {
  private readonly logger = new Logger(RegistrationRepository.name);
  private readonly cipher: TokenCipher;
  private readonly statements: UpsertStatements;

  constructor(
    @InjectRepository(RegistrationEntity) private readonly rows: Repository<RegistrationEntity>,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.cipher = new TokenCipher(settings.tokenEncryptionKey);
    this.statements = upsertStatements(rows);
  }

  /**
   * Inserts the key or updates its row. Two concurrent registrations of one
   * key both succeed. One statement where the dialect has an upsert; elsewhere
   * UPDATE, then INSERT on a miss (the loser of an insert race updates instead).
   * This is the api's hot path, so the SQL is written once and only bound per call.
   */
  async upsert(write: RegistrationWrite): Promise<'created' | 'updated'> {
    const now = new Date();
    const parameters = {
      instanceUrl: write.instanceUrl,
      appId: write.appId,
      tag: write.tag,
      lastUpdate: write.lastUpdate,
      accessToken: this.cipher.seal(write.accessToken),
      appSecret: write.appSecretHash,
      callbackUrl: write.callbackUrl,
      endpoint: write.endpoint,
      transport: write.transport ?? null,
      endpointIsNull: write.endpoint === null ? 1 : 0,
      createdAt: now,
      updatedAt: now,
    };
    const native = this.statements.native;
    if (native) return native.created(await this.execute(native.sql, parameters)) ? 'created' : 'updated';
    if ((await this.execute(this.statements.update, parameters)).affected) return 'updated';
    try {
      await this.execute(this.statements.insert, parameters);
      return 'created';
    } catch (error) {
      if (!(error instanceof QueryFailedError) || !(await this.execute(this.statements.update, parameters)).affected) throw error;
      return 'updated';
    }
  }

  /** Runs a statement with named parameters in the dialect's placeholder style. */
  private execute(sql: string, parameters: Record<string, unknown>): Promise<{ records: unknown; affected?: number }> {
    return executeNamed(this.rows.manager.connection, sql, parameters);
  }

  /**
   * Stores catch-up cursors, one statement per 500 registrations
   * (`SET lastNotificationId = CASE id WHEN … THEN … END WHERE id IN (…)`), so
   * that the listener's periodic flush costs a statement per batch, not one per
   * event or registration. A row deleted meanwhile is simply not updated.
   */
  async updateCursors(writes: CursorWrite[]): Promise<void> {
    const connection = this.rows.manager.connection;
    const q = (name: string) => connection.driver.escape(name);
    for (const batch of batches(writes, CURSOR_BATCH)) {
      const parameters: Record<string, unknown> = {};
      const cases = batch.map((write, index) => {
        parameters[`i${index}`] = write.id;
        parameters[`c${index}`] = write.cursor;
        return `WHEN :i${index} THEN :c${index}`;
      });
      const ids = batch.map((_, index) => `:w${index}`);
      batch.forEach((write, index) => (parameters[`w${index}`] = write.id));
      const sql =
        `UPDATE ${q(this.rows.metadata.tableName)} SET ${q('lastNotificationId')} = ` +
        `CASE ${q('id')} ${cases.join(' ')} ELSE ${q('lastNotificationId')} END ` +
        // Stryker disable next-line StringLiteral: without the WHERE every other row takes the ELSE, its own cursor: the same values, only more rows written
        `WHERE ${q('id')} IN (${ids.join(', ')})`;
      await this.execute(sql, parameters);
    }
  }

  /** The stored catch-up cursors of the rows of `ids` that still exist. */
  async findCursors(ids: number[]): Promise<Map<number, string | null>> {
    const found = new Map<number, string | null>();
    for (const batch of batches(ids)) {
      const rows = await this.rows.find({ select: { id: true, lastNotificationId: true }, where: { id: In(batch) } });
      for (const row of rows) found.set(row.id, row.lastNotificationId ?? null);
    }
    return found;
  }

  /** The stored catch-up cursor of `id` (undefined when the row is gone). */
  async findCursor(id: number): Promise<string | null | undefined> {
    const row = await this.rows.findOne({ select: { id: true, lastNotificationId: true }, where: { id } });
    return row ? row.lastNotificationId : undefined;
  }

  async deleteByKey(key: RegistrationKey): Promise<boolean> {
    return this.deleteWhere({ instanceUrl: key.instanceUrl, appId: key.appId, tag: key.tag });
  }

  async deleteById(id: number): Promise<boolean> {
    return this.deleteWhere({ id });
  }

  /** Whether a row matched; a renewal racing the delete can make it a deadlock victim (then it runs again). */
  private async deleteWhere(where: FindOptionsWhere<RegistrationEntity>): Promise<boolean> {
    const result = await retryingDeadlocks(() => this.rows.delete(where));
    return (result.affected ?? 0) > 0;
  }

  async findByKey(key: RegistrationKey): Promise<Registration | undefined> {
    const row = await this.rows.findOne({
      select: REGISTRATION_COLUMNS,
      where: { instanceUrl: key.instanceUrl, appId: key.appId, tag: key.tag },
    });
    return row ? this.toRegistration(row) : undefined;
  }

  async findById(id: number): Promise<Registration | undefined> {
    const row = await this.rows.findOne({ select: REGISTRATION_COLUMNS, where: { id } });
    return row ? this.toRegistration(row) : undefined;
  }

  /** The rows of `ids` that still exist, in id order. */
  async findByIds(ids: number[]): Promise<Registration[]> {
    const found: Registration[] = [];
    for (const batch of batches([...ids].sort((a, b) => a - b))) {
      const rows = await this.rows.find({ select: REGISTRATION_COLUMNS, where: { id: In(batch) }, order: { id: 'ASC' } });
      found.push(...this.toRegistrations(rows));
    }
    return found;
  }

  /**
   * Id and lastUpdate of the rows registered or renewed at or after
   * `lastUpdate` (ms), in id order. Read raw, without building entities: ten
   * thousand stamps take ~10 ms where as many whole rows took ~100 ms.
   */
  async findStampsSince(lastUpdate: number): Promise<RegistrationStamp[]> {
    const raw = await this.rows
      .createQueryBuilder('r')
      .select('r.id', 'id')
      .addSelect('r.lastUpdate', 'lastUpdate')
      .where('r.lastUpdate >= :lastUpdate', { lastUpdate })
      .orderBy('r.id', 'ASC')
      .getRawMany<{ id: number | string; lastUpdate: number | string }>();
    // drivers return BIGINT (and with some, INT) as strings
    return raw.map((r) => ({ id: Number(r.id), lastUpdate: Number(r.lastUpdate) }));
  }

  async findAll(): Promise<Registration[]> {
    return this.toRegistrations(await this.rows.find({ select: REGISTRATION_COLUMNS, order: { id: 'ASC' } }));
  }

  async findAllIds(): Promise<number[]> {
    // Stryker disable next-line BooleanLiteral: no column chosen reads every column: the same ids, only more bytes
    const rows = await this.rows.find({ select: { id: true }, order: { id: 'ASC' } });
    return rows.map((r) => r.id);
  }

  /** Which of `ids` still have a row. */
  async findExistingIds(ids: number[]): Promise<number[]> {
    const found: number[] = [];
    for (const batch of batches(ids)) {
      // Stryker disable next-line BooleanLiteral: no column chosen reads every column: the same ids, only more bytes
      const rows = await this.rows.find({ select: { id: true }, where: { id: In(batch) } });
      found.push(...rows.map((r) => r.id));
    }
    return found;
  }

  async countAll(): Promise<number> {
    return this.rows.count();
  }

  /** Ids of registrations not renewed since `before` (ms) and not removed already. */
  async findExpiredIds(before: number): Promise<number[]> {
    const rows = await this.rows.find({
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: reading every column gives the same ids, only more bytes
      select: { id: true },
      where: [
        { lastUpdate: LessThan(before), state: IsNull() },
        { lastUpdate: LessThan(before), state: Not('removed') },
      ],
    });
    return rows.map((r) => r.id);
  }

  /**
   * Stored access tokens (as stored: plain or sealed) of the rows after `afterId`,
   * in id order, `limit` at a time: for re-sealing them under another key.
   */
  async findStoredTokensAfter(afterId: number, limit: number): Promise<{ id: number; stored: string }[]> {
    const rows = await this.rows.find({
      // Stryker disable next-line ObjectLiteral: reading every column returns the same ids and tokens, only more bytes
      select: { id: true, accessToken: true },
      where: { id: MoreThan(afterId) },
      order: { id: 'ASC' },
      take: limit,
    });
    return rows.map((r) => ({ id: r.id, stored: r.accessToken ?? '' }));
  }

  /**
   * Replaces a stored token only if it is still `expected`: a row renewed
   * meanwhile (sealed by the api with the current key) is left as it is.
   * `lastUpdate` is not touched, so the listener sees nothing to reconnect.
   */
  async replaceStoredToken(id: number, expected: string, stored: string): Promise<boolean> {
    const result = await this.rows.update({ id, accessToken: expected }, { accessToken: stored });
    return (result.affected ?? 0) > 0;
  }

  /** Rows that cannot be used (a token sealed with another key, a bad endpoint) are logged by id and skipped. */
  private toRegistrations(rows: RegistrationEntity[]): Registration[] {
    const result: Registration[] = [];
    for (const row of rows) {
      const registration = this.toRegistration(row);
      if (registration) result.push(registration);
    }
    return result;
  }

  private toRegistration(row: RegistrationEntity): Registration | undefined {
    // rows written by the original program may lack fields it did not require
    if (!row.instanceUrl || !row.appId || row.tag === null || !row.accessToken || !row.callbackUrl) {
      this.logger.warn(`registration ${row.id}: incomplete row skipped`);
      return undefined;
    }
    let accessToken: string;
    try {
      // Stryker disable next-line StringLiteral: a missing token was skipped above, the default is never read
      accessToken = this.cipher.open(row.accessToken ?? '');
    } catch (error) {
      this.logger.error(`registration ${row.id}: access token unreadable: ${(error as Error).message}`);
      return undefined;
    }
    // Stryker disable next-line StringLiteral: neither default names an endpoint: a missing one reads as none
    const endpoint = (STREAM_ENDPOINTS as readonly string[]).includes(row.endpoint ?? '')
      ? (row.endpoint as StreamEndpoint)
      : null;
    // Stryker disable next-line StringLiteral: neither default names a transport: a missing one reads as none
    const transport = (TRANSPORTS as readonly string[]).includes(row.transport ?? '')
      ? (row.transport as Transport)
      : null;
    return {
      id: row.id,
      lastUpdate: row.lastUpdate ?? 0,
      instanceUrl: row.instanceUrl,
      appId: row.appId,
      tag: row.tag,
      accessToken,
      appSecretHash: row.appSecret,
      callbackUrl: row.callbackUrl,
      endpoint,
      transport,
      lastNotificationId: row.lastNotificationId ?? null,
      ...(row.state === 'removed' ? { removed: true } : {}),
    };
  }
}
