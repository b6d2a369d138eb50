export { startResults, databaseConfig, projectionName, type RunningResults } from './service.ts';
export { evolveCheckState, statusOf, type CheckState, type CheckStatus } from './check-status.ts';
export { rebuildProjection, type RebuildResult } from './rebuild.ts';
export { dropSchemas, openDatabase, type Database, type DatabaseConfig } from './adapters/postgres/database.ts';
export { ResultsSettings } from './config.ts';
