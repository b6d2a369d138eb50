export { startScannerGitleaks, type RunningScanner } from './service.ts';
export { ScannerSettings } from './config.ts';
