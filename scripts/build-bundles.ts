// Builds each service into a self-contained production folder: dist/<service>/ holds the service's compiled
// JavaScript (src/, and migrations/ for results), its package.json and a flat node_modules with only its
// production dependencies. The workspace packages it uses (@secbot/contracts, @secbot/service-kit) are compiled
// to JavaScript inside node_modules too, because Node refuses to strip types from .ts under node_modules.
//
//   node scripts/build-bundles.ts                 # every service under services/
//   node scripts/build-bundles.ts intake results  # some
//   node scripts/build-bundles.ts --out /tmp/b    # elsewhere (default: dist/)
//
// Run one with `cd dist/<service> && node src/main.js` (settings from the environment, or .env.dev and
// .env.override in the working directory). The Dockerfiles in deploy/docker copy exactly this folder.
//
// How: `pnpm deploy --prod` (hoisted node_modules, from the local store) lays out the package and its
// production dependencies; then every .ts file of the service and of the injected workspace packages is
// transpiled with TypeScript's transpileModule (types erased, relative ".ts" imports rewritten to ".js"),
// test files are dropped, and the package.json "exports" are pointed at the .js files. pnpm hard-links files
// from the workspace, so files are always unlinked and written anew, never changed in place.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let outDir = join(root, 'dist');
const wanted: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--out') outDir = resolve(args[++i] ?? 'dist');
  else if (a === '-h' || a === '--help') {
    console.log('usage: node scripts/build-bundles.ts [--out DIR] [service ...]');
    process.exit(0);
  } else wanted.push(a);
}

const allServices = readdirSync(join(root, 'services')).filter((d) => existsSync(join(root, 'services', d, 'package.json')));
const services = wanted.length > 0 ? wanted : allServices;
for (const s of services) {
  if (!allServices.includes(s)) {
    console.error(`build-bundles: no service "${s}" (have: ${allServices.join(', ')})`);
    process.exit(2);
  }
}

const pnpm = process.env['PNPM'] ?? (existsSync(join(root, '.tools/bin/pnpm')) ? join(root, '.tools/bin/pnpm') : 'pnpm');
const TEST_FILE = /\.(unit|int|e2e)\.test\.ts$|(^|\/)test-support\/|(^|\/)test-builders\.ts$|(^|\/)demo\.ts$/;

const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2024,
  module: ts.ModuleKind.ESNext,
  verbatimModuleSyntax: true,
  rewriteRelativeImportExtensions: true,
  sourceMap: false,
  inlineSourceMap: false,
};

function run(cmd: string, cmdArgs: string[], cwd: string): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, cmdArgs, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${join(root, 'node_modules/.bin')}:${process.env['PATH'] ?? ''}` },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`${cmd} ${cmdArgs.join(' ')} exited ${code}\n${out}`))));
  });
}

function walk(dir: string, into: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) {
      if (name === 'node_modules') continue;
      walk(p, into);
    } else into.push(p);
  }
  return into;
}

/** Replaces a file by new content (unlink first: the file may be a hard link into the workspace). */
function replaceFile(path: string, content: string): void {
  if (existsSync(path)) unlinkSync(path);
  writeFileSync(path, content);
}

const toJs = (v: unknown): unknown =>
  typeof v === 'string' ? v.replace(/\.ts$/, '.js') : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJs(x)])) : v;

/** Compiles one package folder (the service, or a workspace package under node_modules) to JavaScript. */
function compilePackage(pkgDir: string, isService: boolean): number {
  let compiled = 0;
  for (const file of walk(pkgDir)) {
    const rel = relative(pkgDir, file);
    if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue;
    if (TEST_FILE.test(rel)) {
      unlinkSync(file);
      continue;
    }
    const out = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file, reportDiagnostics: true });
    const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length > 0) {
      throw new Error(`${rel}: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
    }
    replaceFile(file.replace(/\.ts$/, '.js'), out.outputText);
    unlinkSync(file);
    compiled++;
  }
  const pkgFile = join(pkgDir, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as Record<string, unknown>;
  for (const key of ['exports', 'main', 'bin', 'types']) if (key in pkg) pkg[key] = toJs(pkg[key]);
  delete pkg['devDependencies'];
  delete pkg['dependenciesMeta'];
  if (isService) {
    pkg['main'] = 'src/main.js';
    pkg['scripts'] = { start: 'node src/main.js' };
    pkg['engines'] = { node: '>=24 <25' };
  }
  replaceFile(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
  return compiled;
}

/**
 * Drops what never runs from the third-party packages: TypeScript sources and declarations, source maps and
 * @types. The bundle then holds no TypeScript at all, and is about a fifth smaller.
 */
function pruneNodeModules(dir: string): number {
  let removed = 0;
  rmSync(join(dir, '@types'), { recursive: true, force: true });
  const visit = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) visit(p);
      else if (st.isFile() && /\.(ts|mts|cts|map)$/.test(name)) {
        unlinkSync(p);
        removed++;
      }
    }
  };
  visit(dir);
  return removed;
}

/** Fails when any TypeScript is left in the bundle (ours, or a third-party package's). */
function assertNoTypeScript(dir: string): void {
  const left: string[] = [];
  const visit = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) visit(p);
      else if (st.isFile() && /\.(ts|mts|cts)$/.test(name)) left.push(relative(dir, p));
    }
  };
  visit(dir);
  if (left.length > 0) throw new Error(`TypeScript left in the bundle: ${left.slice(0, 20).join(', ')}`);
}

async function buildOne(service: string): Promise<void> {
  const started = Date.now();
  const dest = join(outDir, service);
  rmSync(dest, { recursive: true, force: true });
  const pkgName = (JSON.parse(readFileSync(join(root, 'services', service, 'package.json'), 'utf8')) as { name: string }).name;
  await run(
    pnpm,
    [
      '--filter', pkgName, 'deploy', '--prod', '--legacy', '--prefer-offline',
      '--config.node-linker=hoisted', '--config.minimum-release-age=0', '--reporter=silent', dest,
    ],
    root,
  );
  let compiled = compilePackage(dest, true);
  const scoped = join(dest, 'node_modules', '@secbot');
  if (existsSync(scoped)) {
    for (const name of readdirSync(scoped)) compiled += compilePackage(join(scoped, name), false);
  }
  const pruned = pruneNodeModules(join(dest, 'node_modules'));
  rmSync(join(dest, 'pnpm-lock.yaml'), { force: true });
  rmSync(join(dest, 'node_modules', '.pnpm'), { recursive: true, force: true });
  if (!existsSync(scoped)) throw new Error(`${service}: no @secbot packages in node_modules`);
  assertNoTypeScript(dest);
  if (!existsSync(join(dest, 'src', 'main.js'))) throw new Error(`${service}: src/main.js missing`);
  writeFileSync(
    join(dest, 'BUNDLE.json'),
    `${JSON.stringify({ service, package: pkgName, entry: 'src/main.js', node: '24', builtAt: new Date().toISOString() }, null, 2)}\n`,
  );
  console.log(`built ${basename(dest)}: ${compiled} modules compiled, ${pruned} type/map files pruned, in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${relative(process.cwd(), dest) || '.'}`);
}

// Two at a time: pnpm deploy is mostly I/O, and the machines this runs on have two cores.
const queue = [...services];
const failures: string[] = [];
await Promise.all(
  [0, 1].map(async () => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      try {
        await buildOne(s);
      } catch (err) {
        failures.push(s);
        console.error(`build-bundles: ${s} failed: ${(err as Error).message}`);
      }
    }
  }),
);
if (failures.length > 0) process.exit(1);
