export { startOutputDefectDojo, readOutputDefectDojoConfig, defectDojoTargets } from './service.ts';
export { handleScanCompleted } from './handle-scan-completed.ts';
