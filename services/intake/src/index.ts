export { startIntake, readIntakeConfig, type RunningIntake } from './service.ts';
