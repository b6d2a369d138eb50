import { failStartup, loadEnvironment, onShutdown } from '@secbot/service-kit';
import { startScannerGitleaks } from './service.ts';

try {
  const service = await startScannerGitleaks(loadEnvironment());
  onShutdown(service.log, [() => service.close()]);
} catch (err) {
  failStartup('scanner-gitleaks', err);
}
