import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { RegistrationEntity } from '../entities/registration.entity';
import {
  LIFECYCLE_COLUMNS,
  REGISTRATION_STATES,
  RegistrationState,
  RegistrationStatusRecord,
  REMOVAL_REASONS,
  RemovalReason,
} from '../registration-lifecycle';
import { RegistrationKey } from '../registration';
import { batches } from './batches';
import { executeNamed } from './deadlock-retry';

/** A state change of one registration, as the listener saw it. */
export interface StateWrite {
  id: number;
  state: Exclude<RegistrationState, 'removed'>;
  /** When the state was entered; undefined keeps the stored start (the state did not change). */
  since?: number;
  /** A new last error; undefined keeps the one stored. */
  lastError?: string;
  /** The endpoint the stream uses, once known; undefined keeps the one stored. */
  endpointInUse?: string;
}

export interface RelayStamp {
  id: number;
  at: number;
}

/**
 * Rows per batched UPDATE: a row binds up to nine parameters (its id in each
 * CASE and in the IN list, and its values), under SQL Server's 2,100 per statement.
 */
const STATE_BATCH = 200;

export const LAST_ERROR_MAX_LENGTH = 500;

/**
 * Named queries on the lifecycle columns of `stream_listener_registrations`.
 * Many rows are written per statement (one CASE per column) so that ten
 * thousand streams opening at once cost a few dozen statements, not ten
 * thousand. A removed row is never written over by a late state change.
 */
@Injectable()
export class RegistrationStateRepository {
  constructor(
    @InjectRepository(RegistrationEntity) private readonly rows: Repository<RegistrationEntity>,
  ) {}

  /** Writes states, their start, last errors and endpoints; rows already `removed` are left alone. */
  async writeStates(writes: StateWrite[], heldBy: string): Promise<void> {
    for (const batch of batches(writes, STATE_BATCH)) {
      const parameters: Record<string, unknown> = { heldBy, removed: 'removed' };
      const ids: string[] = [];
      const cases = { state: [] as string[], stateSince: [] as string[], lastError: [] as string[], endpointInUse: [] as string[] };
      batch.forEach((write, index) => {
        const id = `i${index}`;
        parameters[id] = write.id;
        ids.push(`:${id}`);
        parameters[`s${index}`] = write.state;
        cases.state.push(`WHEN :${id} THEN :s${index}`);
        if (write.since !== undefined) {
          parameters[`t${index}`] = write.since;
          cases.stateSince.push(`WHEN :${id} THEN :t${index}`);
        }
        if (write.lastError !== undefined) {
          parameters[`e${index}`] = write.lastError.slice(0, LAST_ERROR_MAX_LENGTH);
          cases.lastError.push(`WHEN :${id} THEN :e${index}`);
        }
        if (write.endpointInUse !== undefined) {
          parameters[`p${index}`] = write.endpointInUse;
          cases.endpointInUse.push(`WHEN :${id} THEN :p${index}`);
        }
      });
      const q = this.q;
      const sets = Object.entries(cases)
        .filter(([, whens]) => whens.length > 0)
        .map(([column, whens]) => `${q(column)} = CASE ${q('id')} ${whens.join(' ')} ELSE ${q(column)} END`);
      sets.push(`${q('heldBy')} = :heldBy`);
      await this.execute(
        `UPDATE ${this.table} SET ${sets.join(', ')} WHERE ${q('id')} IN (${ids.join(', ')}) ` +
          `AND (${q('state')} IS NULL OR ${q('state')} <> :removed)`,
        parameters,
      );
    }
  }

  /** Records when each registration last relayed an event. */
  async writeRelayedAt(stamps: RelayStamp[]): Promise<void> {
    const q = this.q;
    for (const batch of batches(stamps, STATE_BATCH)) {
      const parameters: Record<string, unknown> = {};
      const whens: string[] = [];
      const ids: string[] = [];
      batch.forEach((stamp, index) => {
        parameters[`i${index}`] = stamp.id;
        parameters[`a${index}`] = stamp.at;
        whens.push(`WHEN :i${index} THEN :a${index}`);
        ids.push(`:i${index}`);
      });
      await this.execute(
        `UPDATE ${this.table} SET ${q('lastRelayedAt')} = CASE ${q('id')} ${whens.join(' ')} ELSE ${q('lastRelayedAt')} END ` +
          `WHERE ${q('id')} IN (${ids.join(', ')})`,
        parameters,
      );
    }
  }

  /**
   * Marks the row removed unless it was renewed since the listener read it
   * (`lastUpdate` unchanged) or is removed already. Returns whether it was.
   */
  async markRemoved(
    id: number,
    lastUpdate: number,
    reason: RemovalReason,
    since: number,
    lastError: string | undefined,
  ): Promise<boolean> {
    const q = this.q;
    const parameters: Record<string, unknown> = { id, lastUpdate, reason, since, removed: 'removed' };
    let error = '';
    if (lastError !== undefined) {
      parameters.lastError = lastError.slice(0, LAST_ERROR_MAX_LENGTH);
      error = `, ${q('lastError')} = :lastError`;
    }
    const affected = await this.execute(
      `UPDATE ${this.table} SET ${q('state')} = :removed, ${q('stateSince')} = :since, ${q('removalReason')} = :reason${error} ` +
        `WHERE ${q('id')} = :id AND ${q('lastUpdate')} = :lastUpdate AND (${q('state')} IS NULL OR ${q('state')} <> :removed)`,
      parameters,
    );
    return affected > 0;
  }

  /**
   * Marks those of `ids` still not renewed since `before` (ms) removed as
   * expired; returns the ids it marked (a row renewed meanwhile stays as it is).
   */
  async markExpired(ids: number[], before: number, since: number): Promise<number[]> {
    const q = this.q;
    const marked: number[] = [];
    for (const batch of batches(ids)) {
      const parameters: Record<string, unknown> = { before, since, removed: 'removed', reason: 'expired', ids: batch };
      await this.execute(
        `UPDATE ${this.table} SET ${q('state')} = :removed, ${q('stateSince')} = :since, ${q('removalReason')} = :reason ` +
          `WHERE ${q('id')} IN (:...ids) AND ${q('lastUpdate')} < :before AND (${q('state')} IS NULL OR ${q('state')} <> :removed)`,
        parameters,
      );
      const rows = await this.rows.find({
        // Stryker disable next-line ObjectLiteral,BooleanLiteral: reading every column gives the same ids, only more bytes
        select: { id: true },
        where: { id: In(batch), state: 'removed', stateSince: since, removalReason: 'expired' },
      });
      marked.push(...rows.map((row) => row.id));
    }
    return marked.sort((a, b) => a - b);
  }

  /** Deletes removed rows that ended before `before` (ms): their time to be asked about is over. */
  async deleteRemovedBefore(before: number): Promise<number> {
    const q = this.q;
    return this.execute(
      `DELETE FROM ${this.table} WHERE ${q('state')} = :removed AND ${q('stateSince')} < :before`,
      { removed: 'removed', before },
    );
  }

  /** The lifecycle of one registration, for POST /status. */
  async findStatusByKey(key: RegistrationKey): Promise<RegistrationStatusRecord | undefined> {
    const row = await this.rows.findOne({
      // Stryker disable next-line ObjectLiteral: reading every column gives the same status, only more bytes
      select: {
        id: true,
        lastUpdate: true,
        endpoint: true,
        appSecret: true,
        ...LIFECYCLE_COLUMNS,
      },
      where: { instanceUrl: key.instanceUrl, appId: key.appId, tag: key.tag },
    });
    if (!row) return undefined;
    return {
      id: row.id,
      lastUpdate: row.lastUpdate ?? 0,
      endpoint: row.endpoint,
      appSecretHash: row.appSecret,
      // Stryker disable next-line StringLiteral: a missing state reads as null whatever stands in for it, as long as no state has that name
      state: (REGISTRATION_STATES as readonly string[]).includes(row.state ?? '') ? (row.state as RegistrationState) : null,
      stateSince: row.stateSince,
      lastError: row.lastError,
      lastRelayedAt: row.lastRelayedAt,
      heldBy: row.heldBy,
      endpointInUse: row.endpointInUse,
      // Stryker disable next-line StringLiteral: a missing reason reads as null whatever stands in for it, as long as no reason has that name
      removalReason: (REMOVAL_REASONS as readonly string[]).includes(row.removalReason ?? '')
        ? (row.removalReason as RemovalReason)
        : null,
    };
  }

  private get table(): string {
    return this.q(this.rows.metadata.tableName);
  }

  private readonly q = (name: string): string => this.rows.manager.connection.driver.escape(name);

  /** Runs a statement with named parameters; returns the rows it affected. */
  private async execute(sql: string, parameters: Record<string, unknown>): Promise<number> {
    // a renewal's upsert racing this UPDATE of the same row can make it a deadlock victim on MariaDB
    return (await executeNamed(this.rows.manager.connection, sql, parameters)).affected ?? 0;
  }
}
