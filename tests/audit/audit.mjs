// Runs graphql-http's server audit against a URL and prints one JSON summary line.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
const failed = results.filter((r) => r.status !== 'ok');
console.log(JSON.stringify({
  total: results.length,
  ok: results.length - failed.length,
  notices: failed.filter((r) => r.status === 'notice').map((r) => `${r.id} ${r.name}: ${r.reason}`),
  warnings: failed.filter((r) => r.status === 'warn').map((r) => `${r.id} ${r.name}: ${r.reason}`),
  errors: failed.filter((r) => r.status === 'error').map((r) => `${r.id} ${r.name}: ${r.reason}`),
}));
