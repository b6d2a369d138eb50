/**
 * Names that come from GitLab hook bodies and CI announcements and end up near git: branch and tag names,
 * project paths. Anyone holding a webhook secret can write them, so they are checked where they enter
 * (intake) and again where git is run (the scanner): a name git could read as an option (`--upload-pack=…`,
 * `-oProxyCommand=…`), a refspec (`x:refs/heads/main`), a revision expression or a path outside the
 * instance (`../../etc`) is refused.
 */

/**
 * A branch or tag name (without `refs/heads/` or `refs/tags/`) as `git check-ref-format --branch` accepts
 * it, and not starting with `-`.
 */
export function isGitRefName(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  if (name.startsWith('-') || name.startsWith('/') || name.endsWith('/') || name.endsWith('.') || name === '@') return false;
  // Control characters, space and DEL, and the characters git reserves for revision and refspec syntax.
  for (const c of name) if (c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f) return false;
  if (/[~^:?*[\\]/.test(name)) return false;
  if (name.includes('..') || name.includes('//') || name.includes('@{')) return false;
  return name.split('/').every((part) => !part.startsWith('.') && !part.endsWith('.lock'));
}

/** `refs/heads/<branch>` or `refs/tags/<tag>` with a valid name. */
export function isBranchOrTagRef(ref: string): boolean {
  const m = /^refs\/(?:heads|tags)\/(.+)$/.exec(ref);
  return m !== null && isGitRefName(m[1] ?? '');
}

const PATH_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * A GitLab project path (`group/sub/project`): segments of letters, digits, `_ . -` that start with a letter,
 * digit or `_` (so never `-o…` nor `.`/`..`), and that do not end in `.git` or `.atom` (GitLab reserves them).
 */
export function isProjectPath(path: string): boolean {
  if (path.length === 0 || path.length > 500) return false;
  const segments = path.split('/');
  return segments.every((s) => PATH_SEGMENT.test(s) && !s.endsWith('.git') && !s.endsWith('.atom'));
}
