// globalSetup runs outside Jest's module mapper: relative imports only
import { EmbeddedPostgres } from '../../libs/database/src/embedded/embedded-postgres';
import { configuredServer, TEST_EMBEDDED_DIR, TEST_EMBEDDED_PORT } from './database-server';

declare global {
  var embeddedTestPostgres: EmbeddedPostgres | undefined;
}

export default async function globalSetup(): Promise<void> {
  const configured = configuredServer();
  if (configured) {
    process.env.MSL_TEST_DB = JSON.stringify(configured);
    return;
  }
  const embedded = await EmbeddedPostgres.start({ dataDir: TEST_EMBEDDED_DIR, port: TEST_EMBEDDED_PORT });
  globalThis.embeddedTestPostgres = embedded;
  process.env.MSL_TEST_DB = JSON.stringify({
    kind: 'server',
    dialect: 'postgres',
    ...embedded.connection,
    name: 'postgres',
    poolSize: 5,
    migrate: true,
  });
}
