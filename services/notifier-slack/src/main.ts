import { failStartup, loadEnvironment, onShutdown } from '@secbot/service-kit';
import { startNotifierSlack } from './service.ts';

try {
  const service = await startNotifierSlack(loadEnvironment());
  onShutdown(service.log, [() => service.close()]);
} catch (err) {
  failStartup('notifier-slack', err);
}
