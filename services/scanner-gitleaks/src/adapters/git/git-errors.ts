/** What a failed git fetch means for the scan: retry later, or stop and tell someone. */
export type GitFailureKind = 'auth' | 'not-found' | 'transient' | 'other';

/**
 * Sorts git's stderr. GitLab answers a wrong token with 401, which git reports as "Authentication failed"
 * or, with prompts disabled, "could not read Username"; a missing project or one the token cannot see is 404.
 */
export function classifyGitFailure(stderr: string, timedOut: boolean): GitFailureKind {
  if (timedOut) return 'transient';
  if (/Authentication failed|could not read (Username|Password)|HTTP Basic: Access denied|returned error: 40[13]\b/i.test(stderr)) return 'auth';
  if (/returned error: 404\b|repository '[^']*' not found|does not appear to be a git repository/i.test(stderr)) return 'not-found';
  if (
    /returned error: (5\d\d|429|408)\b|Could not resolve host|Failed to connect|Connection refused|Connection reset|timed out|early EOF|RPC failed|remote end hung up|unexpected disconnect|unable to access|transfer closed/i.test(
      stderr,
    )
  )
    return 'transient';
  return 'other';
}

/** The last meaningful line of git's stderr, without anything that looks like a credential. */
export function gitErrorSummary(stderr: string, secrets: string[]): string {
  let text = stderr;
  for (const s of secrets) if (s) text = text.split(s).join('[REDACTED]');
  text = text.replace(/(authorization:\s*)\S+(\s+\S+)?/gi, '$1[REDACTED]').replace(/\/\/[^/@\s]+@/g, '//[REDACTED]@');
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.filter((l) => /^(fatal|error):/i.test(l)).at(-1) ?? lines.at(-1) ?? 'no output').slice(0, 300);
}
