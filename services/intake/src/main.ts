import { failStartup, loadEnvironment, onShutdown } from '@secbot/service-kit';
import { startIntake } from './service.ts';

try {
  const service = await startIntake(loadEnvironment());
  onShutdown(service.log, [() => service.close()]);
} catch (err) {
  failStartup('intake', err);
}
