// main.jsx — loads /config.json (instance ports), then renders the app.
import { createRoot } from 'react-dom/client';
import { App } from './App.jsx';
import { loadConfig, initInstances } from './net.js';
import './styles.css';

loadConfig().then(() => {
  initInstances();
  createRoot(document.getElementById('root')).render(<App />);
});
