import { QueryRunner, TableColumnOptions } from 'typeorm';

/**
 * Column shapes that mean the same on PostgreSQL, MySQL/MariaDB and SQL Server.
 * Migrations describe tables with TypeORM's schema builder and take only the
 * type names from here, so one migration serves every dialect.
 */
export function columnTypes(queryRunner: QueryRunner) {
  const type = queryRunner.connection.options.type;
  const mssql = type === 'mssql';
  const mysql = type === 'mysql' || type === 'mariadb';
  return {
    string: (name: string, length: number, nullable = false): TableColumnOptions => ({
      name,
      type: mssql ? 'nvarchar' : 'varchar',
      length: String(length),
      isNullable: nullable,
    }),
    text: (name: string): TableColumnOptions => ({
      name,
      type: mssql ? 'nvarchar' : mysql ? 'mediumtext' : 'text',
      length: mssql ? 'MAX' : undefined,
      isNullable: false,
    }),
    int: (name: string, defaultValue?: number): TableColumnOptions => ({
      name,
      type: 'int',
      isNullable: false,
      default: defaultValue,
    }),
    bigint: (name: string, defaultValue?: number): TableColumnOptions => ({
      name,
      type: 'bigint',
      isNullable: false,
      default: defaultValue,
    }),
    /** Milliseconds since the epoch, absent until first set. */
    optionalBigint: (name: string): TableColumnOptions => ({
      name,
      type: 'bigint',
      isNullable: true,
    }),
    timestamp: (name: string): TableColumnOptions => ({
      name,
      type: mssql ? 'datetime2' : mysql ? 'datetime' : 'timestamp with time zone',
      precision: mysql ? 6 : undefined,
      isNullable: false,
      default: mysql ? 'CURRENT_TIMESTAMP(6)' : mssql ? 'getdate()' : 'now()',
    }),
    /** Auto-increment primary key; `big` for tables whose ids are consumed fast. */
    id: (name: string, big = false): TableColumnOptions => ({
      name,
      type: big ? 'bigint' : 'int',
      isPrimary: true,
      isGenerated: true,
      generationStrategy: 'increment',
    }),
  };
}
