import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Reads a dotenv file: `KEY=value`, `#` comments, single- or double-quoted values (which may span lines,
 * like a pretty-printed GITLAB_CONFIGS), and unquoted JSON that spans lines until its brackets balance.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1] ?? '';
    let value = m[2] ?? '';
    const quote = value[0];
    if (quote === '"' || quote === "'") {
      let body = value.slice(1);
      while (!hasClosingQuote(body, quote) && i + 1 < lines.length) body += '\n' + (lines[++i] ?? '');
      const end = closingQuoteIndex(body, quote);
      value = end >= 0 ? body.slice(0, end) : body;
      if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else if (value.startsWith('[') || value.startsWith('{')) {
      while (!bracketsBalance(value) && i + 1 < lines.length) value += '\n' + (lines[++i] ?? '');
    } else {
      value = value.replace(/\s+#.*$/, '').trim();
    }
    out[key] = value;
  }
  return out;
}

function closingQuoteIndex(s: string, quote: string): number {
  for (let j = 0; j < s.length; j++) {
    if (s[j] === '\\' && quote === '"') j++;
    else if (s[j] === quote) return j;
  }
  return -1;
}
const hasClosingQuote = (s: string, quote: string): boolean => closingQuoteIndex(s, quote) >= 0;

function bracketsBalance(s: string): boolean {
  let depth = 0;
  let inString = false;
  for (let j = 0; j < s.length; j++) {
    const c = s[j];
    if (inString) {
      if (c === '\\') j++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
  }
  return depth <= 0;
}

/**
 * The service environment: `.env.dev` (committed defaults), then `.env.override` (git-ignored, personal),
 * then the process environment, which wins over both. `dir` is where the files are looked for.
 * SECBOT_ENV is never taken from `.env.dev`: a committed file cannot declare a machine a development one.
 */
export function loadEnvironment(
  dir: string = process.env['SECBOT_ENV_DIR'] ?? process.cwd(),
  processEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const name of ['.env.dev', '.env.override']) {
    const file = resolve(dir, name);
    if (!existsSync(file)) continue;
    const values = parseEnvFile(readFileSync(file, 'utf8'));
    if (name === '.env.dev') delete values['SECBOT_ENV'];
    Object.assign(merged, values);
  }
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) merged[k] = v;
  return merged;
}
