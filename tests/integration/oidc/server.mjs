// A real OpenID Connect provider for the sign-in tests (oidc-provider, OpenID certified).
//
//   node server.mjs --port PORT --config CONFIG.json
//
// CONFIG.json: { "clients": [...client metadata...],
//                "accounts": { "<login>": { "password": "...", "claims": { "sub": ..., ... } } },
//                "ttl": { "AccessToken": 3600, "IdToken": 3600, "RefreshToken": 86400 } }
//
// The login and consent pages are ours (not oidc-provider's devInteractions, which accept
// any login without a password): a test "browser" (an HTTP client that keeps cookies)
// fills them in, so a wrong password is refused like at a clinic's identity provider.
// Prints "ready <issuer>" on stdout once it listens on 127.0.0.1.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const port = Number(arg('port', '0'));
const config = JSON.parse(readFileSync(arg('config'), 'utf8'));
const issuer = `http://127.0.0.1:${port}`;
const accounts = config.accounts || {};
const bySub = new Map(Object.values(accounts).map((a) => [a.claims.sub, a]));

const provider = new Provider(issuer, {
  clients: config.clients,
  // Clinician claims travel in the ID token (the console reads the profile there), as
  // Entra ID optional claims or Okta custom claims would.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    clinician: ['npi', 'licenses', 'fhirUser'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'clinician'],
  features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
  // Like Entra ID: asking for offline_access is enough to get a refresh token.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  pkce: { required: () => true },
  ttl: { AccessToken: 3600, IdToken: 3600, RefreshToken: 86400, Grant: 86400, Session: 86400, Interaction: 600, ...(config.ttl || {}) },
  cookies: { keys: ['clinician-console-test-cookie-key'] },
  findAccount: async (_ctx, sub) => {
    const account = bySub.get(sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async () => ({ ...account.claims }) };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body>${body}</body></html>`;
}

provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/confirm|\/abort)?$/);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { uid, prompt, params } = details;
  const action = m[2] || '';
  ctx.set('cache-control', 'no-store');
  if (ctx.method === 'GET' && action === '') {
    ctx.type = 'html';
    if (prompt.name === 'login') {
      ctx.body = page('Sign in', `<form id="login" method="post" action="/interaction/${esc(uid)}/login">
<input name="login" id="login-name" value="${esc(params.login_hint || '')}">
<input name="password" id="password" type="password">
<button id="sign-in" type="submit">Sign in</button></form>`);
    } else {
      ctx.body = page('Allow', `<form id="consent" method="post" action="/interaction/${esc(uid)}/confirm">
<p>${esc(params.client_id)} asks for ${esc(params.scope)}</p>
<button id="allow" type="submit">Allow</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button id="deny" type="submit">Deny</button></form>`);
    }
    return undefined;
  }
  if (ctx.method !== 'POST') ctx.throw(405);
  const form = await formBody(ctx.req);
  let result;
  if (action === '/login') {
    const account = accounts[form.get('login') || ''];
    if (!account || account.password !== form.get('password')) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = page('Sign in', '<p id="error">Wrong user name or password.</p>');
      return undefined;
    }
    result = { login: { accountId: account.claims.sub } };
  } else if (action === '/confirm') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scope.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: action !== '/login' });
  return undefined;
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
