import { describe, expect, it } from 'vitest';
import { classifyGitFailure, gitErrorSummary } from './git-errors.ts';

describe('classifyGitFailure', () => {
  it.each([
    ["fatal: could not read Username for 'http://127.0.0.1:1': terminal prompts disabled", 'auth'],
    ["fatal: Authentication failed for 'https://gitlab.example.com/g/p.git/'", 'auth'],
    ["fatal: unable to access 'https://h/g/p.git/': The requested URL returned error: 403", 'auth'],
    ["fatal: repository 'https://h/g/p.git/' not found", 'not-found'],
    ["fatal: unable to access 'https://h/g/p.git/': The requested URL returned error: 503", 'transient'],
    ["fatal: unable to access 'https://h/': Failed to connect to h port 443: Connection refused", 'transient'],
    ['error: RPC failed; curl 18 transfer closed with outstanding read data remaining', 'transient'],
    ['fatal: something else', 'other'],
  ])('sorts %j as %s', (stderr, kind) => {
    expect(classifyGitFailure(stderr, false)).toBe(kind);
  });
});

describe('gitErrorSummary', () => {
  it('keeps the last fatal line and removes credentials', () => {
    const stderr = "warning: x\nfatal: unable to access 'https://oauth2:tok123@h/g.git/': Authorization: Basic b2F1dGgyOnRvazEyMw== rejected\nhint: y\n";

    const summary = gitErrorSummary(stderr, ['tok123']);

    expect(summary).toMatch(/^fatal: unable to access/);
    expect(summary).not.toContain('tok123');
    expect(summary).not.toContain('b2F1dGgyOnRvazEyMw');
  });
});
