// main.jsx — loads /config.json (instance ports), then renders the app, or
// GraphiQL at /graphiql (its own chunk: the chat screens do not load it).
import { createRoot } from 'react-dom/client';
import { ApolloProvider } from '@apollo/client/react';
import { App } from './App.jsx';
import { apollo, loadConfig, initInstances } from './net.js';
import './styles.css';

const isGraphiQL = /^\/graphiql\/?$/.test(window.location.pathname);

loadConfig().then(async () => {
  initInstances();
  const root = createRoot(document.getElementById('root'));
  if (isGraphiQL) {
    const { default: GraphiQLPage } = await import('./GraphiQLPage.jsx');
    root.render(<GraphiQLPage />);
  } else {
    root.render(
      <ApolloProvider client={apollo}>
        <App />
      </ApolloProvider>,
    );
  }
});
