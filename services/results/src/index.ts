export { startResults, databaseConfig, projectorDurable } from './service.ts';
export { evolveCheckState, statusOf, type CheckState, type CheckStatus } from './check-status.ts';
