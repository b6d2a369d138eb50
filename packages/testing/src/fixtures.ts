import { readFileSync } from 'node:fs';

const root = new URL('../../../test/fixtures/', import.meta.url);

/** A GitLab hook body from test/fixtures/gitlab (see test/fixtures/SOURCES.md), as a fresh object. */
export function gitlabFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`gitlab/${name}.json`, root), 'utf8')) as Record<string, unknown>;
}

export function fixturePath(relative: string): string {
  return new URL(relative, root).pathname;
}

/** A pino destination that keeps every log line, so tests can assert what was (not) logged. */
export function captureLogs(): { lines: string[]; write(s: string): void; text(): string } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s), text: () => lines.join('') };
}
