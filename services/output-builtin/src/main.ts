import { failStartup, loadEnvironment, onShutdown } from '@secbot/service-kit';
import { startOutputBuiltin } from './service.ts';

try {
  const service = await startOutputBuiltin(loadEnvironment());
  onShutdown(service.log, [() => service.close()]);
} catch (err) {
  failStartup('output-builtin', err);
}
