// npm run migration:create — diffs the entities against the last snapshot and writes a migration.
// Needs a database to diff against: the embedded one (or DATABASE_URL), migrated to the latest.
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { openDatabase } from './database.ts';
import { migrate } from './migrate.ts';
import { initORM } from './orm.ts';

const config = loadConfig();
const logger = createLogger('warn');
const db = await openDatabase(config, logger);
try {
  const orm = await initORM(db.url, { logger });
  try {
    await migrate(orm, db.url);
    const result = await orm.migrator.create(undefined, false, false, process.argv[2]);
    console.log(result.fileName ? `created ${result.fileName}` : 'no changes: entities match the migrations');
  } finally {
    await orm.close();
  }
} finally {
  await db.stop();
}
