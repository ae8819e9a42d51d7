// The header table (frontend/tests/http-headers.json) against the real Rust server: every case's status,
// headers and, for files, the exact bytes of the page as frontend/asset-version.mjs lays it out from the
// committed files (so the binary serves what is in git, under the version the nginx image uses).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { BASE_URL, FRONTEND, SERVED, VERSION } from './lib.js';

const table = JSON.parse(readFileSync(join(FRONTEND, 'tests', 'http-headers.json'), 'utf8'));
const fill = (s) => s.replaceAll('{version}', VERSION);

// node:http rather than fetch: fetch would ask for gzip on its own and hide Content-Encoding.
function get(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(BASE_URL + path, { headers: { 'Accept-Encoding': 'identity', ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, raw: res.rawHeaders, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`timeout on ${path}`)));
    req.end();
  });
}

for (const c of table.cases) {
  const path = fill(c.path);
  test(`${c.name ?? path}: ${path}`, async () => {
    const res = await get(path, c.request_headers);
    assert.equal(res.status, c.status, 'status');
    const header = (name) => {
      const v = res.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    for (const [name, value] of Object.entries(table.every_response)) {
      assert.equal(header(name), value, `${name} (every response)`);
    }
    for (const [name, value] of Object.entries(c.headers ?? {})) {
      assert.equal(header(name), value, name);
    }
    for (const [name, part] of Object.entries(c.contains ?? {})) {
      assert.ok((header(name) ?? '').toLowerCase().includes(part.toLowerCase()), `${name} contains ${part}: ${header(name)}`);
    }
    for (const [name, part] of Object.entries(c.absent_or_not_containing ?? {})) {
      assert.ok(!(header(name) ?? '').toLowerCase().includes(part.toLowerCase()), `${name} must not contain ${part}: ${header(name)}`);
    }
    if (c.same_bytes_as) {
      const body = header('content-encoding') === 'gzip' ? gunzipSync(res.body) : res.body;
      const expected = readFileSync(join(SERVED, fill(c.same_bytes_as)));
      assert.ok(body.equals(expected), `the body is ${fill(c.same_bytes_as)} as laid out from the committed files`);
    }
  });
}

test('only one header of each policy name is sent (no duplicates from two layers)', async () => {
  for (const path of ['/', fill('/static/{version}/js/main.js'), '/api/game/config']) {
    const res = await get(path);
    const names = res.raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const name of [...Object.keys(table.every_response), 'Cache-Control', 'Content-Type'].map((n) => n.toLowerCase())) {
      assert.equal(names.filter((n) => n === name).length, 1, `${path}: ${name} appears once`);
    }
  }
});

test('the server computes the asset version of the nginx image layout, and names nothing else', async () => {
  const html = (await get('/')).body.toString('utf8');
  const versions = new Set([...html.matchAll(/"\/static\/([^/"]+)\//g)].map((m) => m[1]));
  assert.deepEqual([...versions], [VERSION], 'index.html as served names one version: the one asset-version.mjs computes');
  for (const m of html.matchAll(/"(\/static\/[^"]+)"/g)) {
    const res = await get(m[1]);
    assert.equal(res.status, 200, m[1]);
    assert.ok(res.body.equals(readFileSync(join(SERVED, m[1]))), `${m[1]}: the laid-out bytes`);
  }
});
