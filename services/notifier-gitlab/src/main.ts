import { failStartup, loadEnvironment, onShutdown } from '@secbot/service-kit';
import { startNotifierGitLab } from './service.ts';

try {
  const service = await startNotifierGitLab(loadEnvironment());
  onShutdown(service.log, [() => service.close()]);
} catch (err) {
  failStartup('notifier-gitlab', err);
}
