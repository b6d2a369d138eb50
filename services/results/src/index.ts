export { startResults, databaseConfig, projectionName } from './service.ts';
export { evolveCheckState, statusOf, type CheckState, type CheckStatus } from './check-status.ts';
