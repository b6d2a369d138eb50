import { failStartup, loadEnvironment, onShutdown } from '@secbot/service-kit';
import { startResults } from './service.ts';

try {
  const service = await startResults(loadEnvironment());
  onShutdown(service.log, [() => service.close()]);
} catch (err) {
  failStartup('results', err);
}
