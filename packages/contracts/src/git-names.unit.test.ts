import { describe, expect, it } from 'vitest';
import { isBranchOrTagRef, isGitRefName, isProjectPath } from './git-names.ts';

describe('isGitRefName', () => {
  it.each(['main', 'feature/x-1', 'release-1.2', 'user@work', 'ünïcode'])('accepts %s', (name) => expect(isGitRefName(name)).toBe(true));
  it.each(['', '--upload-pack=touch /tmp/pwned', '-x', 'x:refs/heads/main', 'a..b', 'a b', 'a~1', 'a^', 'a?', 'a*', 'a[', 'a\\b', '/a', 'a/', 'a//b', 'a.', '.a', 'a/.b', 'a.lock', '@', 'a@{1}', 'a\u0000b', 'a\nb'])(
    'refuses %j',
    (name) => expect(isGitRefName(name)).toBe(false),
  );
  it('checks full refs of branches and tags only', () => {
    expect(isBranchOrTagRef('refs/heads/main')).toBe(true);
    expect(isBranchOrTagRef('refs/tags/v1.0')).toBe(true);
    expect(isBranchOrTagRef('refs/heads/x:refs/heads/main')).toBe(false);
    expect(isBranchOrTagRef('refs/heads/--upload-pack=x')).toBe(false);
    expect(isBranchOrTagRef('refs/merge-requests/1/head')).toBe(false);
    expect(isBranchOrTagRef('main')).toBe(false);
  });
});

describe('isProjectPath', () => {
  it.each(['mike/diaspora', 'group/sub/app', 'a_b/c.d-e'])('accepts %s', (p) => expect(isProjectPath(p)).toBe(true));
  it.each(['', '../../etc', '-oProxyCommand=x/y', 'group/-x', 'group/./app', 'group//app', '/group/app', 'group/app.git', 'https://x/y', 'group/app name'])(
    'refuses %j',
    (p) => expect(isProjectPath(p)).toBe(false),
  );
});
