// @apollo/client 4 against chatd the way a web app uses it: HttpLink for
// queries and mutations, GraphQLWsLink (graphql-ws) for subscriptions,
// joined with split(). Token auth in both links.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ApolloClient, InMemoryCache, HttpLink, split, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import { startChatd, signToken } from './lib/chatd.js';

let chatd;
let client;
let wsClient;
before(async () => {
  chatd = await startChatd();
  const token = signToken({ sub: 'u-apollo', username: 'apollo' });
  const httpLink = new HttpLink({ uri: chatd.url, headers: { authorization: `Bearer ${token}` } });
  wsClient = createClient({
    url: chatd.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authToken: token },
    retryAttempts: 0,
  });
  const link = split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === 'OperationDefinition' && def.operation === 'subscription';
    },
    new GraphQLWsLink(wsClient),
    httpLink,
  );
  client = new ApolloClient({ link, cache: new InMemoryCache() });
});
after(async () => {
  client.stop();
  await wsClient.dispose();
  const r = await chatd.stop();
  assert.equal(r.code, 0, chatd.logs());
});

test('query over HttpLink', async () => {
  const { data } = await client.query({ query: gql`query Health { health { status role version } }` });
  assert.equal(data.health.status, 'ok');
  assert.equal(data.health.role, 'all');
  assert.equal(data.health.__typename, 'Health');
});

test('mutation with variables and fragments over HttpLink', async () => {
  const { data } = await client.mutate({
    mutation: gql`
      mutation Echo($text: String!) {
        echo(text: $text)
      }
    `,
    variables: { text: 'apollo says hi' },
  });
  assert.equal(data.echo, 'apollo says hi');
  const q = await client.query({
    query: gql`
      query WithFragment($t: String!) {
        ...HealthParts
        echo(text: $t)
      }
      fragment HealthParts on Query {
        health {
          role
        }
      }
    `,
    variables: { t: 'frag' },
  });
  assert.equal(q.data.echo, 'frag');
  assert.equal(q.data.health.role, 'all');
});

test('subscription over GraphQLWsLink', async () => {
  const values = await new Promise((resolve, reject) => {
    const got = [];
    client.subscribe({ query: gql`subscription Countdown($from: Int!) { countdown(from: $from) }`, variables: { from: 3 } }).subscribe({
      next: (r) => got.push(r.data.countdown),
      error: reject,
      complete: () => resolve(got),
    });
  });
  assert.deepEqual(values, [3, 2, 1, 0]);
});

test('GraphQL errors surface as errors', async () => {
  await assert.rejects(
    client.query({ query: gql`query Bad { health { nope } }`, fetchPolicy: 'no-cache' }),
    /nope/,
  );
});

test('the seed client shape in trust mode: setContext identity headers + graphql-ws connectionParams', async () => {
  const { setContext } = await import('@apollo/client/link/context');
  const trust = await startChatd({ auth: 'trust' });
  const identity = { 'user-id': 'seed-user-1', username: 'seedy' };
  const ws = createClient({ url: trust.wsUrl, webSocketImpl: WebSocket, connectionParams: () => identity, retryAttempts: 0 });
  const authLink = setContext((_, { headers }) => ({ headers: { ...headers, ...identity } }));
  const seedClient = new ApolloClient({
    link: split(
      ({ query }) => {
        const def = getMainDefinition(query);
        return def.kind === 'OperationDefinition' && def.operation === 'subscription';
      },
      new GraphQLWsLink(ws),
      authLink.concat(new HttpLink({ uri: trust.url, headers: { origin: 'http://localhost:3000' } })),
    ),
    cache: new InMemoryCache(),
  });
  try {
    const q = await seedClient.query({ query: gql`query WhoAmI { whoami }`, fetchPolicy: 'no-cache' });
    assert.equal(q.data.whoami, 'seed-user-1/seedy');
    const values = await new Promise((resolve, reject) => {
      const got = [];
      seedClient.subscribe({ query: gql`subscription { countdown(from: 2) }` }).subscribe({
        next: (r) => got.push(r.data.countdown),
        error: reject,
        complete: () => resolve(got),
      });
    });
    assert.deepEqual(values, [2, 1, 0]);
  } finally {
    seedClient.stop();
    await ws.dispose();
    assert.equal((await trust.stop()).code, 0, trust.logs());
  }
});
