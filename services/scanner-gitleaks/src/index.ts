export { startScannerGitleaks, type RunningScanner } from './service.ts';
export { ScannerSettings } from './config.ts';
export { Enrollment, ProjectRecord, projectKey } from './project-record.ts';
