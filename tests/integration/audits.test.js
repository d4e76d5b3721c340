// graphql-http's serverAudits (GraphQL-over-HTTP spec conformance) against a
// real chatd in token mode: every MUST must pass; SHOULD/MAY are counted and
// reported ("graphql-http audits: MUST x/x passed, SHOULD y/z passed").
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { startChatd } from './lib/chatd.js';

let chatd;
before(async () => {
  chatd = await startChatd();
});
after(async () => {
  const r = await chatd.stop();
  assert.equal(r.code, 0, chatd.logs());
});

test('graphql-http server audits', async (t) => {
  const audits = serverAudits({ url: chatd.url });
  const results = [];
  for (const audit of audits) results.push(await audit.fn());
  const count = (prefix) => {
    const all = results.filter((r) => r.name.startsWith(prefix + ' '));
    return [all.filter((r) => r.status === 'ok').length, all.length];
  };
  const [mustOk, must] = count('MUST');
  const [shouldOk, should] = count('SHOULD');
  const [mayOk, may] = count('MAY');
  const lines = results
    .filter((r) => r.status !== 'ok')
    .map((r) => `  ${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}`);
  console.log(
    `graphql-http audits: MUST ${mustOk}/${must} passed, SHOULD ${shouldOk}/${should} passed, MAY ${mayOk}/${may} passed`,
  );
  if (lines.length) console.log(lines.join('\n'));
  t.diagnostic(`MUST ${mustOk}/${must}, SHOULD ${shouldOk}/${should}, MAY ${mayOk}/${may}`);
  const failedMust = results.filter((r) => r.status === 'error');
  assert.deepEqual(failedMust.map((r) => `${r.id} ${r.name}: ${r.reason}`), []);
  assert.ok(must > 0, 'audits ran');
});
