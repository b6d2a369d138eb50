import { describe, expect, it } from 'vitest';
import { parseComponentConfig } from './component-config.ts';

describe('parseComponentConfig', () => {
  it('defaults to the built-in rules, no repository config and no inline ignores', () => {
    const parsed = parseComponentConfig({ format: 'json' });

    expect(parsed).toEqual({
      ok: true,
      config: {
        format: 'json',
        timeout_seconds: 300,
        max_target_megabytes: 10,
        use_repository_config: false,
        allow_inline_ignores: false,
      },
    });
  });

  it('still loads the keys older config.yml files carry (modes, new_branch_max_commits), which no longer narrow a scan', () => {
    const parsed = parseComponentConfig({ new_branch_max_commits: 5, modes: { push: 'range', tag_push: 'tree' } });

    expect(parsed.ok).toBe(true);
  });

  it('lists every problem, including unknown keys, so a typo cannot weaken the gate', () => {
    const parsed = parseComponentConfig({ timeout_seconds: 0, use_repo_config: true, modes: { tag_push: 'everything' } });

    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? [] : parsed.problems.join('\n')).toMatch(/timeout_seconds[\s\S]*modes\.tag_push[\s\S]*use_repo_config/);
  });
});
