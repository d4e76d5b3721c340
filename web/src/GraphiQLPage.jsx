// GraphiQLPage.jsx — GraphiQL (the npm `graphiql` package, bundled by Vite
// into its own chunk) at /graphiql. Every operation goes through net.js like
// the chat screens: routed by root field to the user / sender / receiver
// instance chosen in the selector (routing.js), with the signed-in session's
// access token (refreshed when needed); subscriptions run over the app's
// graphql-ws client on the receiver in use. Signed out, only the public
// operations work (login, createUser, health, introspection). ?query= and
// ?variables= open it on an operation.
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import { useMemo } from 'react';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import * as net from './net.js';
import { InstanceSelector, ConnectionStatus } from './App.jsx';

const DEFAULT_QUERY = `# chatd GraphiQL: queries and mutations go to the instance of their role,
# subscriptions to the receiver in use over graphql-ws. Ctrl-Enter runs.

query Me {
  me { id username displayName }
  chats { id name }
}
`;

// ?query=…&variables=… open GraphiQL on that operation (shareable links)
const params = new URLSearchParams(window.location.search);
const initial = {
  ...(params.get('query') ? { initialQuery: params.get('query') } : {}),
  ...(params.get('variables') ? { initialVariables: params.get('variables') } : {}),
};

export default function GraphiQLPage() {
  const user = net.session.token ? net.session.user : null;
  const fetcher = useMemo(
    () =>
      createGraphiQLFetcher({
        url: '/graphql', // unused: chatdFetch routes every operation
        fetch: net.chatdFetch,
        enableIncrementalDelivery: false,
        // signed out, a socket would only be refused (4403) over and over
        ...(user ? { wsClient: net.wsClient() } : {}),
      }),
    [user],
  );
  return (
    <div className="graphiql-page">
      <header className="topbar graphiql-bar">
        <h1><a href="/">chatd</a> · GraphiQL</h1>
        {user ? <ConnectionStatus /> : null}
        <span className="me" data-testid="graphiql-session">
          {user ? `signed in as ${user.username}` : 'signed out: public operations only — sign in on the chat page'}
        </span>
        <InstanceSelector />
      </header>
      <div className="graphiql-host">
        <GraphiQL fetcher={fetcher} defaultQuery={DEFAULT_QUERY} {...initial} />
      </div>
    </div>
  );
}
