import { failStartup, loadEnvironment, onShutdown } from '@secbot/service-kit';
import { startOutputDefectDojo } from './service.ts';

try {
  const service = await startOutputDefectDojo(loadEnvironment());
  onShutdown(service.log, [() => service.close()]);
} catch (err) {
  failStartup('output-defectdojo', err);
}
