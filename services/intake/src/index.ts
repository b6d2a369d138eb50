export { startIntake, readIntakeConfig } from './service.ts';
