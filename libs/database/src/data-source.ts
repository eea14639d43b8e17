import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { parseSettings, readEnvironment } from '@app/config';
import { dataSourceOptions } from './data-source-options';

/**
 * For the TypeORM CLI against a configured server (DB_HOST set).
 * `npm run migration:run` uses prepareDatabase instead, which also covers the embedded server.
 */
const settings = parseSettings(readEnvironment());
if (settings.database.kind !== 'server') throw new Error('set DB_HOST to use the TypeORM CLI');
export default new DataSource(dataSourceOptions(settings.database));
