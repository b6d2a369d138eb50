import { fakeDefectDojo, type FakeDefectDojo } from '@secbot/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aGitleaksItem, aGitleaksReport } from '../../test-builders.ts';

// The fake must keep the real server's traps (contracts.md § 2), or the client tests would pass against
// something DefectDojo is not.
describe('the fake DefectDojo', () => {
  let dojo: FakeDefectDojo;
  const auth = () => ({ authorization: `Token ${dojo.token}` });
  const form = (fields: Record<string, string | string[]>, report = aGitleaksReport([aGitleaksItem()]), fileName = 'gitleaks.json') => {
    const f = new FormData();
    f.append('scan_type', 'Gitleaks Scan');
    f.append('file', new Blob([report]), fileName);
    for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) f.append(k, one);
    return f;
  };
  const context = { product_type_name: 'SecBot', product_name: 'group/app', engagement_name: 'branch:main', auto_create_context: 'true' };
  const post = (path: string, body: FormData) => fetch(`${dojo.url}${path}`, { method: 'POST', headers: auth(), body });
  const get = async (path: string) => (await fetch(`${dojo.url}${path}`, { headers: auth() })).json() as Promise<Record<string, unknown>>;

  beforeEach(async () => {
    dojo = await fakeDefectDojo({ pageSize: 25 });
  });
  afterEach(async () => {
    await dojo.close();
  });

  it.each([
    [undefined, 'Authentication credentials were not provided.'],
    ['Token wrong', 'Invalid token.'],
    [`Bearer ${'x'}`, 'Invalid token.'],
  ])('answers 401 to authorization %s', async (authorization, detail) => {
    const res = await fetch(`${dojo.url}/api/v2/findings/`, { headers: authorization ? { authorization } : {} });

    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail });
  });

  it('has no route without the trailing slash, even for POST', async () => {
    expect((await post('/api/v2/import-scan', form(context))).status).toBe(404);
  });

  it('takes imports as multipart only', async () => {
    const res = await fetch(`${dojo.url}/api/v2/import-scan/`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{}' });

    expect(res.status).toBe(415);
  });

  it.each([
    ['a file name without an allowed extension', form(context, undefined, 'gitleaks'), 'file'],
    ['a scan date in the future', form({ ...context, scan_date: '2999-01-01' }), 'scan_date'],
    ['a tag with a space', form({ ...context, tags: 'two words' }), 'tags'],
    ['an unknown product without auto_create_context', form({ ...context, auto_create_context: 'false' }), 'non_field_errors'],
  ])('refuses %s with 400', async (_name, body, field) => {
    const res = await post('/api/v2/import-scan/', body);

    expect(res.status).toBe(400);
    expect(await res.json()).toHaveProperty(field);
  });

  it('pages lists with count, next and previous', async () => {
    await post('/api/v2/import-scan/', form(context, aGitleaksReport(Array.from({ length: 30 }, (_, i) => aGitleaksItem({ StartLine: i + 1 })))));

    const first = await get('/api/v2/findings/');
    const second = await get('/api/v2/findings/?limit=25&offset=25');

    expect(first).toMatchObject({ count: 30, previous: null });
    expect(first['results']).toHaveLength(25);
    expect(String(first['next'])).toContain('offset=25');
    expect(second).toMatchObject({ count: 30, next: null });
    expect(second['results']).toHaveLength(5);
  });

  it('ignores unknown filters, as DRF does', async () => {
    await post('/api/v2/import-scan/', form(context));

    expect(await get('/api/v2/findings/?no_such_filter=1')).toMatchObject({ count: 1 });
  });

  it('reimports into the last test of the engagement, closing what the new report lacks', async () => {
    await post('/api/v2/import-scan/', form({ ...context, test_title: 't1' }, aGitleaksReport([aGitleaksItem({ StartLine: 1 }), aGitleaksItem({ StartLine: 2 })])));

    const res = await post('/api/v2/reimport-scan/', form({ ...context, test_title: 't1' }, aGitleaksReport([aGitleaksItem({ StartLine: 1 })])));

    expect(res.status).toBe(201);
    expect(dojo.tests).toHaveLength(1);
    expect(dojo.findings.map((f) => [f.line, f.active, f.is_mitigated])).toEqual([
      [1, true, false],
      [2, false, true],
    ]);
  });

  it('answers a reimport without a test and without auto_create_context with 404', async () => {
    const res = await post('/api/v2/reimport-scan/', form({ ...context, auto_create_context: 'false' }));

    expect(res.status).toBe(404);
  });

  it('lets a person triage through PATCH, refusing an active false positive', async () => {
    await post('/api/v2/import-scan/', form(context));
    const id = dojo.findings[0]?.id ?? -1;
    const patch = (body: unknown) => fetch(`${dojo.url}/api/v2/findings/${id}/`, { method: 'PATCH', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });

    expect((await patch({ false_p: true, active: true })).status).toBe(400);
    const ok = await patch({ false_p: true });

    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id, false_p: true, active: false });
  });

  it('fails on demand, and is unreachable while down', async () => {
    dojo.failNext(429, { retryAfter: 7 });
    const throttled = await fetch(`${dojo.url}/api/v2/findings/`, { headers: auth() });
    dojo.down();
    const unreachable = await fetch(`${dojo.url}/api/v2/findings/`, { headers: auth() }).catch((err: unknown) => err);
    dojo.up();
    const back = await fetch(`${dojo.url}/api/v2/findings/`, { headers: auth() });

    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('7');
    expect(unreachable).toBeInstanceOf(TypeError);
    expect(back.status).toBe(200);
  });
});
