// main.jsx — loads /config.json (instance ports), asks the receiver which
// optional features it has (attachments), then renders the app, or GraphiQL
// at /graphiql (its own chunk: the chat screens do not load it). The screens
// are imported after the probe: their GraphQL documents (ops.js) depend on it.
import { createRoot } from 'react-dom/client';
import { ApolloProvider } from '@apollo/client/react';
import { apollo, loadConfig, initInstances, probeFeatures } from './net.js';
import './styles.css';

const isGraphiQL = /^\/graphiql\/?$/.test(window.location.pathname);

loadConfig().then(async () => {
  initInstances();
  await probeFeatures();
  const root = createRoot(document.getElementById('root'));
  if (isGraphiQL) {
    const { default: GraphiQLPage } = await import('./GraphiQLPage.jsx');
    root.render(<GraphiQLPage />);
  } else {
    const { App } = await import('./App.jsx');
    root.render(
      <ApolloProvider client={apollo}>
        <App />
      </ApolloProvider>,
    );
  }
});
